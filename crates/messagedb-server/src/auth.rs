//! Authentication (SPEC §4.3–4.4, §4.7) as an axum extractor: handlers that take a [`Caller`]
//! receive an authenticated namespace and never look at credentials themselves.
//!
//! The token comes from a non-empty `?token=` (first occurrence) or else the `Authorization:
//! Bearer` header. It is parsed, its namespace looked up, and the SHA-256 of the presented token
//! compared in constant time with the stored hash. Test mode turns every would-be 401 into the
//! `default` namespace and creates unknown namespaces on first use, but still answers 403 to a wrong
//! token for a namespace that exists.
//!
//! Stored hashes are cached for [`CACHE_TTL`], well inside the SPEC's 1 s bound for deletions and
//! rotations made on other instances; deletions made here evict the entry at once. The cache only
//! ever accepts: a token that does not match the cached hash is checked against the store, so a
//! namespace re-created or rotated on another instance works immediately.
//!
//! A token text that was verified is remembered next to its namespace's entry, so a request with
//! a known token is authenticated by one map lookup: no token parsing, no SHA-256, no allocation.
//! That shortcut is only taken while the namespace's own entry is fresh and holds the hash the
//! token was verified against, so it accepts exactly what the full check would accept from the
//! cache.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use http::header::AUTHORIZATION;
use http::request::Parts;
use http::HeaderValue;
use messagedb_core::{NamespaceId, StoreError, Token, TokenHash};

use crate::error::{ApiError, Details, ErrorCode, Op};
use crate::AppState;

/// How long a namespace's stored token hash may be served from memory.
pub const CACHE_TTL: Duration = Duration::from_millis(500);

/// The description of namespaces that test mode creates on first use.
pub const AUTO_CREATED_DESCRIPTION: &str = "Auto-created in test mode";

/// Verified token texts kept at most; beyond this the memo is cleared (only valid tokens get in,
/// so this bounds what rotations leave behind, not what callers can add).
const MAX_VERIFIED_TOKENS: usize = 4096;

/// The namespace a request is bound to. Cheap to clone (the cache hands out clones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    namespace: Arc<NamespaceId>,
}

impl Caller {
    pub fn new(namespace: NamespaceId) -> Caller {
        Caller {
            namespace: Arc::new(namespace),
        }
    }

    pub fn namespace(&self) -> &NamespaceId {
        &self.namespace
    }

    /// Requests bound to `default` are admin (§4.5).
    pub fn is_admin(&self) -> bool {
        self.namespace.is_default()
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::admin_required())
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let presented = credentials(parts.uri.query(), parts.headers.get(AUTHORIZATION));
        authenticate(state, presented).await
    }
}

/// Binds presented credentials (or their absence, as an error) to a namespace.
pub async fn authenticate(
    state: &AppState,
    presented: Result<Cow<'_, str>, ApiError>,
) -> Result<Caller, ApiError> {
    let test_mode = state.config().test_mode;
    let anonymous = || Caller::new(NamespaceId::default_namespace());
    let text = match presented {
        Ok(text) => text,
        Err(_) if test_mode => return Ok(anonymous()),
        Err(e) => return Err(e),
    };
    if let Some(caller) = state.auth_cache().verified(&text) {
        return Ok(caller);
    }
    let token = match Token::parse(&text) {
        Ok(token) => token,
        Err(_) if test_mode => return Ok(anonymous()),
        Err(e) => {
            return Err(
                ApiError::new(ErrorCode::AuthInvalidToken, "Invalid token format")
                    .with_details(Details::Error(e.to_string())),
            )
        }
    };
    let Ok(id) = NamespaceId::parse(token.namespace()) else {
        // Such a namespace cannot exist; test mode treats the token as no token at all.
        return if test_mode {
            Ok(anonymous())
        } else {
            Err(unauthorized(token.namespace()))
        };
    };
    let presented_hash = token.hash();
    if state.auth_cache().get(&id) == Some(presented_hash) {
        return Ok(state.auth_cache().remember(&text, id, presented_hash));
    }
    // Not cached, or cached with another hash: a namespace re-created or rotated elsewhere must
    // work at once, so a mismatch is only final once the store has been asked.
    let stored = match stored_hash(state, &id).await? {
        Some(stored) => stored,
        None if test_mode => auto_create(state, &id, &presented_hash).await?,
        None => return Err(unauthorized(id.as_str())),
    };
    if stored == presented_hash {
        Ok(state.auth_cache().remember(&text, id, presented_hash))
    } else {
        Err(unauthorized(id.as_str()))
    }
}

/// Extracts the token text (§4.3); the error is the normal-mode 401.
pub fn credentials<'a>(
    query: Option<&'a str>,
    header: Option<&'a HeaderValue>,
) -> Result<Cow<'a, str>, ApiError> {
    if let Some(query) = query {
        let first = form_urlencoded::parse(query.as_bytes()).find(|(key, _)| key == "token");
        if let Some((_, value)) = first.filter(|(_, value)| !value.is_empty()) {
            return Ok(value);
        }
    }
    let header = header.map(HeaderValue::as_bytes).unwrap_or_default();
    if header.is_empty() {
        return Err(required("Authorization header required"));
    }
    // HTTP parsers drop trailing whitespace from header values, so `Bearer ` arrives as `Bearer`.
    if header == b"Bearer" {
        return Err(required("Token required"));
    }
    let Some(token) = header.strip_prefix(b"Bearer ") else {
        return Err(required("Authorization header must use Bearer scheme"));
    };
    if token.is_empty() {
        return Err(required("Token required"));
    }
    Ok(String::from_utf8_lossy(token))
}

fn required(message: &'static str) -> ApiError {
    ApiError::new(ErrorCode::AuthRequired, message)
}

fn unauthorized(namespace: &str) -> ApiError {
    ApiError::new(
        ErrorCode::AuthUnauthorized,
        "Token not authorized for namespace",
    )
    .with_details(Details::Namespace(namespace.to_owned()))
}

/// The stored hash, read from the store (and remembered in the cache).
async fn stored_hash(state: &AppState, id: &NamespaceId) -> Result<Option<TokenHash>, ApiError> {
    let record = state
        .store()
        .namespace(id)
        .await
        .map_err(|e| ApiError::from_store(Op::Authenticate, e))?;
    match record {
        Some(r) => {
            state.auth_cache().put(id.clone(), r.token_hash);
            Ok(Some(r.token_hash))
        }
        None => {
            state.auth_cache().forget(id);
            Ok(None)
        }
    }
}

/// Test mode: creates the namespace with the presented token's hash. When a concurrent first use
/// wins the race, its stored hash is what the presented token must match.
async fn auto_create(
    state: &AppState,
    id: &NamespaceId,
    hash: &TokenHash,
) -> Result<TokenHash, ApiError> {
    match state
        .store()
        .create_namespace(id, AUTO_CREATED_DESCRIPTION, hash)
        .await
    {
        Ok(_) => {
            tracing::info!(namespace = %id, "namespace auto-created in test mode");
            Ok(*hash)
        }
        Err(StoreError::NamespaceExists(_)) => match stored_hash(state, id).await? {
            Some(stored) => Ok(stored),
            // Created and deleted again in between: treat as the race it is.
            None => Err(unauthorized(id.as_str())),
        },
        Err(e) => Err(ApiError::from_store(Op::Authenticate, e)),
    }
}

/// Recently verified token hashes, by namespace, and the token texts verified against them.
#[derive(Debug, Default)]
pub struct AuthCache {
    inner: RwLock<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    /// The stored hash of each namespace and when it was read from the store.
    hashes: HashMap<NamespaceId, (TokenHash, Instant)>,
    /// Token texts that matched a namespace's hash; valid only while `hashes` still holds that
    /// hash, fresh.
    tokens: HashMap<Box<str>, (Caller, TokenHash)>,
}

impl Entries {
    fn fresh_hash(&self, id: &NamespaceId) -> Option<TokenHash> {
        self.hashes
            .get(id)
            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
            .map(|(hash, _)| *hash)
    }
}

impl AuthCache {
    pub fn get(&self, id: &NamespaceId) -> Option<TokenHash> {
        self.read().fresh_hash(id)
    }

    /// The caller of a token text verified before, if its namespace's entry still vouches for it.
    pub fn verified(&self, text: &str) -> Option<Caller> {
        let entries = self.read();
        let (caller, hash) = entries.tokens.get(text)?;
        (entries.fresh_hash(caller.namespace()) == Some(*hash)).then(|| caller.clone())
    }

    /// Notes that `text` matched `hash`, the hash of namespace `id`; returns its caller.
    pub fn remember(&self, text: &str, id: NamespaceId, hash: TokenHash) -> Caller {
        let caller = Caller::new(id);
        let mut entries = self.write();
        if entries.tokens.len() >= MAX_VERIFIED_TOKENS {
            entries.tokens.clear();
        }
        entries.tokens.insert(text.into(), (caller.clone(), hash));
        caller
    }

    pub fn put(&self, id: NamespaceId, hash: TokenHash) {
        let mut entries = self.write();
        // A rotated token leaves its old text behind: drop it rather than keep it for ever.
        if entries.hashes.get(&id).is_some_and(|(old, _)| *old != hash) {
            entries
                .tokens
                .retain(|_, (caller, _)| *caller.namespace() != id);
        }
        entries.hashes.insert(id, (hash, Instant::now()));
    }

    pub fn forget(&self, id: &NamespaceId) {
        let mut entries = self.write();
        entries.hashes.remove(id);
        entries
            .tokens
            .retain(|_, (caller, _)| caller.namespace() != id);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Entries> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Entries> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(v: &str) -> HeaderValue {
        HeaderValue::from_str(v).unwrap()
    }

    #[test]
    fn credential_rules() {
        // (query, Authorization header, token or 401 message)
        type Case<'a> = (Option<&'a str>, Option<&'a str>, Result<&'a str, &'a str>);
        let cases: [Case; 11] = [
            (None, None, Err("Authorization header required")),
            (None, Some(""), Err("Authorization header required")),
            (
                None,
                Some("Basic x"),
                Err("Authorization header must use Bearer scheme"),
            ),
            (
                None,
                Some("bearer x"),
                Err("Authorization header must use Bearer scheme"),
            ),
            (None, Some("Bearer "), Err("Token required")),
            (None, Some("Bearer"), Err("Token required")),
            (None, Some("Bearer  x"), Ok(" x")),
            (Some("token=q1&token=q2"), Some("Basic x"), Ok("q1")),
            (Some("a=1&token=a%2Bb+c"), None, Ok("a+b c")),
            (Some("token=&token=q2"), Some("Bearer h"), Ok("h")),
            (Some("tokenx=1"), Some("Bearer h"), Ok("h")),
        ];
        for (query, auth, expected) in cases {
            let header_value = auth.map(header);
            let got = credentials(query, header_value.as_ref());
            match expected {
                Ok(token) => assert_eq!(got.unwrap(), token, "{query:?} {auth:?}"),
                Err(message) => {
                    let e = got.unwrap_err();
                    assert_eq!(
                        (e.code, e.message.as_ref()),
                        (ErrorCode::AuthRequired, message)
                    );
                }
            }
        }
    }

    #[test]
    fn cache_expires_and_forgets() {
        let cache = AuthCache::default();
        let id = NamespaceId::parse("t").unwrap();
        let hash = TokenHash::from_bytes([7; 32]);
        assert_eq!(cache.get(&id), None);
        cache.put(id.clone(), hash);
        assert_eq!(cache.get(&id), Some(hash));
        cache.forget(&id);
        assert_eq!(cache.get(&id), None);
    }

    #[test]
    fn a_verified_token_is_accepted_only_while_its_namespace_entry_vouches_for_it() {
        let cache = AuthCache::default();
        let id = NamespaceId::parse("t").unwrap();
        let hash = TokenHash::from_bytes([7; 32]);
        let other = TokenHash::from_bytes([8; 32]);
        // Remembered without a namespace entry: nothing vouches for it yet.
        let caller = cache.remember("ns_x_1", id.clone(), hash);
        assert_eq!(caller.namespace(), &id);
        assert_eq!(cache.verified("ns_x_1"), None);
        cache.put(id.clone(), hash);
        assert_eq!(cache.verified("ns_x_1"), Some(caller.clone()));
        assert_eq!(cache.verified("ns_x_2"), None);
        // Rotated: the old text no longer passes, and is dropped.
        cache.put(id.clone(), other);
        assert_eq!(cache.verified("ns_x_1"), None);
        cache.put(id.clone(), hash);
        assert_eq!(cache.verified("ns_x_1"), None);
        // Forgotten namespaces take their token texts with them.
        cache.remember("ns_x_1", id.clone(), hash);
        assert_eq!(cache.verified("ns_x_1"), Some(caller));
        cache.forget(&id);
        assert_eq!(cache.verified("ns_x_1"), None);
    }
}

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
//! **What is in memory** is SHA-256 hashes, never token texts: each namespace's stored hash, and a
//! memo of the hashes of tokens that were verified, keyed by that hash ([`TokenKey`]) and mapped
//! to their namespace. A request with a known token is authenticated by one SHA-256 and one map
//! lookup: no token parsing, no allocation. The memo's answer is used only while the namespace's
//! own entry is fresh and equal (constant-time) to the presented hash, so it accepts exactly what
//! the full check would accept from the cache. The presented text lives only as long as its
//! request. One SHA-256 of a token costs about 0.1 µs (`cargo bench -p messagedb-bench -- token`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use http::header::AUTHORIZATION;
use http::request::Parts;
use http::HeaderValue;
use messagedb_core::{NamespaceId, StoreError, Token, TokenHash};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, Details, ErrorCode, Op};
use crate::AppState;

/// How long a namespace's stored token hash may be served from memory.
pub const CACHE_TTL: Duration = Duration::from_millis(500);

/// The description of namespaces that test mode creates on first use.
pub const AUTO_CREATED_DESCRIPTION: &str = "Auto-created in test mode";

/// Verified token hashes kept at most; beyond this the memo is cleared (only valid tokens get in,
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
    let presented_hash = TokenKey::of(&text);
    if let Some(caller) = state.auth_cache().verified(&presented_hash) {
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
    // `presented_hash` is `token.hash()`, computed once, before parsing (see `TokenKey::of`).
    let presented_hash = presented_hash.0;
    if state.auth_cache().get(&id) == Some(presented_hash) {
        return Ok(state.auth_cache().remember(id, presented_hash));
    }
    // Not cached, or cached with another hash: a namespace re-created or rotated elsewhere must
    // work at once, so a mismatch is only final once the store has been asked.
    let stored = match stored_hash(state, &id).await? {
        Some(stored) => stored,
        None if test_mode => auto_create(state, &id, &presented_hash).await?,
        None => return Err(unauthorized(id.as_str())),
    };
    if stored == presented_hash {
        Ok(state.auth_cache().remember(id, presented_hash))
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

/// The memo's key: the SHA-256 of a presented token text, which for a valid token is
/// [`Token::hash`] (a test pins the two together); computed without parsing, which would
/// allocate. Equality is [`TokenHash`]'s, constant-time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenKey(pub TokenHash);

impl TokenKey {
    pub fn of(text: &str) -> TokenKey {
        TokenKey(TokenHash::from_bytes(
            Sha256::digest(text.as_bytes()).into(),
        ))
    }
}

impl std::hash::Hash for TokenKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // A SHA-256 is uniform already: eight of its bytes place it as well as all 32.
        state.write(&self.0.as_bytes()[..8]);
    }
}

/// Recently verified token hashes: each namespace's stored hash, and the hashes of tokens that
/// matched it. No token text is kept.
#[derive(Debug, Default)]
pub struct AuthCache {
    inner: RwLock<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    /// The stored hash of each namespace and when it was read from the store.
    hashes: HashMap<NamespaceId, (TokenHash, Instant)>,
    /// Hashes of tokens that matched their namespace's stored hash; valid only while `hashes`
    /// still holds that hash, fresh.
    tokens: HashMap<TokenKey, Caller>,
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

    /// The caller of a token verified before, if its namespace's entry still vouches for it.
    pub fn verified(&self, presented: &TokenKey) -> Option<Caller> {
        let entries = self.read();
        let caller = entries.tokens.get(presented)?;
        (entries.fresh_hash(caller.namespace()) == Some(presented.0)).then(|| caller.clone())
    }

    /// Notes that a token with `hash` matched namespace `id`'s stored hash; returns its caller.
    pub fn remember(&self, id: NamespaceId, hash: TokenHash) -> Caller {
        let caller = Caller::new(id);
        let mut entries = self.write();
        if entries.tokens.len() >= MAX_VERIFIED_TOKENS {
            entries.tokens.clear();
        }
        entries.tokens.insert(TokenKey(hash), caller.clone());
        caller
    }

    pub fn put(&self, id: NamespaceId, hash: TokenHash) {
        let mut entries = self.write();
        // A rotated token leaves its old hash behind: drop it rather than keep it for ever.
        if entries.hashes.get(&id).is_some_and(|(old, _)| *old != hash) {
            entries.tokens.retain(|_, caller| *caller.namespace() != id);
        }
        entries.hashes.insert(id, (hash, Instant::now()));
    }

    pub fn forget(&self, id: &NamespaceId) {
        let mut entries = self.write();
        entries.hashes.remove(id);
        entries.tokens.retain(|_, caller| caller.namespace() != id);
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

    const TOKEN: &str = "ns_dA_0000000000000000000000000000000000000000000000000000000000000000";
    const SAME_NAMESPACE: &str =
        "ns_dA_1111111111111111111111111111111111111111111111111111111111111111";

    #[test]
    fn the_memo_key_is_the_hash_the_store_keeps() {
        let token = Token::parse(TOKEN).unwrap();
        assert_eq!(token.namespace(), "t");
        assert_eq!(TokenKey::of(TOKEN).0, token.hash());
        assert_ne!(TokenKey::of(SAME_NAMESPACE).0, token.hash());
    }

    #[test]
    fn a_verified_token_is_accepted_only_while_its_namespace_entry_vouches_for_it() {
        let cache = AuthCache::default();
        let id = NamespaceId::parse("t").unwrap();
        let key = TokenKey::of(TOKEN);
        let hash = key.0;
        let other = TokenHash::from_bytes([8; 32]);
        // Remembered without a namespace entry: nothing vouches for it yet.
        let caller = cache.remember(id.clone(), hash);
        assert_eq!(caller.namespace(), &id);
        assert_eq!(cache.verified(&key), None);
        cache.put(id.clone(), hash);
        assert_eq!(cache.verified(&key), Some(caller.clone()));
        // Another token of the same namespace is not in the memo.
        assert_eq!(cache.verified(&TokenKey::of(SAME_NAMESPACE)), None);
        // Rotated: the old token no longer passes, and is dropped.
        cache.put(id.clone(), other);
        assert_eq!(cache.verified(&key), None);
        cache.put(id.clone(), hash);
        assert_eq!(cache.verified(&key), None);
        // Forgotten namespaces take their token hashes with them.
        cache.remember(id.clone(), hash);
        assert_eq!(cache.verified(&key), Some(caller));
        cache.forget(&id);
        assert_eq!(cache.verified(&key), None);
    }

    #[test]
    fn the_memo_never_holds_a_token_text() {
        // By type: the memo is keyed by a hash and holds callers.
        let _: fn(&Entries) -> &HashMap<TokenKey, Caller> = |entries| &entries.tokens;
        // And in fact: nothing in the cache spells the token or its secret part.
        let cache = AuthCache::default();
        let id = NamespaceId::parse("t").unwrap();
        let hash = Token::parse(TOKEN).unwrap().hash();
        cache.put(id.clone(), hash);
        cache.remember(id, hash);
        assert!(cache.verified(&TokenKey::of(TOKEN)).is_some());
        let dump = format!("{cache:?}");
        assert!(dump.contains(&hash.to_hex()), "{dump}");
        assert!(!dump.contains("0000000000000000"), "{dump}");
    }
}

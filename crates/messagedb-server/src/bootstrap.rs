//! Bootstrap of the `default` namespace (SPEC §4.6), run by the binary after opening the store and
//! before listening.
//!
//! A supplied `--token` must be a valid token for `default`. If `default` is missing it is created
//! (with that token, or a generated one the binary prints once); if it exists, a different token
//! rotates its hash, and no token leaves the existing one valid. A token that does not work is never
//! handed back for printing.

use messagedb_core::{NamespaceId, Store, StoreError, Token, TokenError};

/// The description `default` is created with.
pub const DEFAULT_DESCRIPTION: &str = "Default namespace";

/// What bootstrap did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrap {
    /// `default` was absent and was created; `generated` is the new token when none was supplied
    /// (the binary prints it once to stderr).
    Created { generated: Option<Token> },
    /// `default` existed with another hash; the supplied token replaced it.
    Rotated,
    /// `default` existed with the supplied token already.
    Unchanged,
    /// No token was supplied and `default` exists; its token stays valid.
    Kept,
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// The display is the token parser's `invalid token format: …`.
    #[error(transparent)]
    InvalidToken(#[from] TokenError),
    #[error("provided token is for namespace '{0}', expected 'default'")]
    WrongNamespace(String),
    #[error("bootstrap of the default namespace failed: {0}")]
    Store(#[from] StoreError),
}

pub async fn bootstrap_default(
    store: &dyn Store,
    token: Option<&str>,
) -> Result<Bootstrap, BootstrapError> {
    let supplied = token.map(Token::parse).transpose()?;
    if let Some(t) = &supplied {
        if t.namespace() != NamespaceId::DEFAULT {
            return Err(BootstrapError::WrongNamespace(t.namespace().to_owned()));
        }
    }
    let id = NamespaceId::default_namespace();
    if store.namespace(&id).await?.is_none() {
        let token = supplied.clone().unwrap_or_else(|| Token::generate(&id));
        match store
            .create_namespace(&id, DEFAULT_DESCRIPTION, &token.hash())
            .await
        {
            Ok(_) => {
                return Ok(if supplied.is_some() {
                    tracing::info!("Default namespace created with the supplied token");
                    Bootstrap::Created { generated: None }
                } else {
                    tracing::info!("Default namespace created with a generated token");
                    Bootstrap::Created {
                        generated: Some(token),
                    }
                });
            }
            // Another instance created it first; continue as if it had existed.
            Err(StoreError::NamespaceExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let Some(supplied) = supplied else {
        tracing::info!("Default namespace exists; its existing token remains valid");
        return Ok(Bootstrap::Kept);
    };
    let stored = store
        .namespace(&id)
        .await?
        .ok_or_else(|| StoreError::NamespaceNotFound(id.clone()))?;
    if stored.token_hash == supplied.hash() {
        Ok(Bootstrap::Unchanged)
    } else {
        store.set_token_hash(&id, &supplied.hash()).await?;
        tracing::info!("Default namespace token rotated");
        Ok(Bootstrap::Rotated)
    }
}

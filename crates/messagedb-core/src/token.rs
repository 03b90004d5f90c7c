//! Namespace tokens (SPEC §4.1, §4.2): `ns_<base64url(namespace id)>_<64 hex>`.
//!
//! Only `lowercase_hex(SHA-256(token))` is ever stored; [`TokenHash`] compares in constant time.
//! The plaintext lives in [`Token`], whose `Debug` is redacted so it cannot reach a log by accident.

use std::fmt;

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::namespace::NamespaceId;

/// Unpadded base64url that rejects `=` and accepts non-zero trailing bits (SPEC §4.2 step 5).
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

/// A syntactically valid token. The decoded namespace part is kept as text: it need not be a
/// valid [`NamespaceId`] (test mode treats such tokens as anonymous).
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    text: String,
    namespace: String,
}

/// Why a token does not parse. Display texts are the SPEC §4.2 messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("invalid token format: missing 'ns_' prefix")]
    MissingPrefix,
    #[error("invalid token format: expected 2 parts after prefix, got 1")]
    MissingSeparator,
    #[error("invalid token format: random part must be 64 hex characters, got {0}")]
    RandomLength(usize),
    #[error("invalid token format: random part is not valid hexadecimal: {0}")]
    RandomNotHex(String),
    #[error("invalid token format: namespace part is not valid base64url: {0}")]
    NamespaceNotBase64(String),
    #[error("invalid token format: namespace is empty")]
    EmptyNamespace,
}

impl Token {
    /// Parses in the SPEC §4.2 order; the first failure wins.
    pub fn parse(text: &str) -> Result<Token, TokenError> {
        let rest = text.strip_prefix("ns_").ok_or(TokenError::MissingPrefix)?;
        let split = rest.rfind('_').ok_or(TokenError::MissingSeparator)?;
        let (encoded, random) = (&rest[..split], &rest[split + 1..]);
        let random_len = random.chars().count();
        if random_len != 64 {
            return Err(TokenError::RandomLength(random_len));
        }
        if let Some((i, c)) = random.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
            return Err(TokenError::RandomNotHex(format!(
                "invalid character {c:?} at position {i}"
            )));
        }
        let decoded = B64
            .decode(encoded)
            .map_err(|e| TokenError::NamespaceNotBase64(e.to_string()))?;
        let namespace = String::from_utf8(decoded)
            .map_err(|e| TokenError::NamespaceNotBase64(e.to_string()))?;
        if namespace.is_empty() {
            return Err(TokenError::EmptyNamespace);
        }
        Ok(Token {
            text: text.to_owned(),
            namespace,
        })
    }

    /// A fresh token for `namespace` with 32 CSPRNG bytes as its random part.
    pub fn generate(namespace: &NamespaceId) -> Token {
        let mut random = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut random);
        let text = format!(
            "ns_{}_{}",
            B64.encode(namespace.as_str()),
            hex::encode(random)
        );
        Token {
            text,
            namespace: namespace.as_str().to_owned(),
        }
    }

    /// The decoded namespace part, which may not be a valid namespace id.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The plaintext. Only `ns.create` results and the bootstrap print may show it.
    pub fn expose(&self) -> &str {
        &self.text
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.text.as_bytes()).into())
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token(ns={:?}, REDACTED)", self.namespace)
    }
}

/// SHA-256 of a token's text. Equality is constant-time.
#[derive(Clone, Copy)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    pub fn from_bytes(bytes: [u8; 32]) -> TokenHash {
        TokenHash(bytes)
    }

    /// Parses the stored lowercase hex form.
    pub fn from_hex(text: &str) -> Option<TokenHash> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(TokenHash(bytes))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl PartialEq for TokenHash {
    fn eq(&self, other: &TokenHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for TokenHash {}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: &str =
        "ns_ZGVmYXVsdA_0000000000000000000000000000000000000000000000000000000000000000";

    #[test]
    fn spec_hash_example() {
        let t = Token::parse(ADMIN).unwrap();
        assert_eq!(t.namespace(), "default");
        assert_eq!(
            t.hash().to_hex(),
            "6fefedfc989ca8bea8ce1b63672607c06fbd0d8b3c0667164cf4f5a02911fb52"
        );
    }

    #[test]
    fn parse_errors_in_order() {
        let r64 = "a".repeat(64);
        let cases: Vec<(String, &str)> = vec![
            ("abc".into(), "invalid token format: missing 'ns_' prefix"),
            (
                "ns_abc".into(),
                "invalid token format: expected 2 parts after prefix, got 1",
            ),
            (
                format!("ns_ZGVmYXVsdA_{}", "0".repeat(63)),
                "invalid token format: random part must be 64 hex characters, got 63",
            ),
            (
                format!("ns_!!_{r64}"),
                "invalid token format: namespace part is not valid base64url",
            ),
            (
                format!("ns__{r64}"),
                "invalid token format: namespace is empty",
            ),
            (
                format!("ns_ZGVmYXVsdA=_{r64}"),
                "invalid token format: namespace part is not valid base64url",
            ),
            (
                format!("ns_ZGVmYXVsdA_{}", "g".repeat(64)),
                "invalid token format: random part is not valid hexadecimal",
            ),
        ];
        for (token, expected) in cases {
            let err = Token::parse(&token).unwrap_err().to_string();
            assert!(
                err.starts_with(expected),
                "{token}: got {err:?}, want {expected:?}"
            );
        }
    }

    #[test]
    fn splits_at_the_last_underscore_and_accepts_uppercase_hex() {
        let encoded = B64.encode("a_b"); // contains no '_', but check a B part with '_' decodes
        let t = Token::parse(&format!("ns_{encoded}_{}", "AB".repeat(32))).unwrap();
        assert_eq!(t.namespace(), "a_b");
        // A B part containing '_' (base64url of bytes 0xff 0xff → "__8").
        let err = Token::parse(&format!("ns___8_{}", "0".repeat(64)));
        assert!(
            matches!(err, Err(TokenError::NamespaceNotBase64(_))),
            "{err:?}"
        );
    }

    #[test]
    fn generated_tokens_parse_back() {
        let id = NamespaceId::parse("tenant-a").unwrap();
        let t = Token::generate(&id);
        assert!(t.expose().starts_with("ns_dGVuYW50LWE_"));
        let parsed = Token::parse(t.expose()).unwrap();
        assert_eq!(parsed.namespace(), "tenant-a");
        assert_eq!(parsed.hash(), t.hash());
        let random = t.expose().rsplit('_').next().unwrap();
        assert!(random
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
        assert!(!format!("{t:?}").contains(random));
    }

    #[test]
    fn hash_hex_round_trip() {
        let h = Token::parse(ADMIN).unwrap().hash();
        assert_eq!(TokenHash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(TokenHash::from_hex("zz"), None);
    }
}

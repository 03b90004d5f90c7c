//! `ns.create` (SPEC §6.8, admin): create a namespace with a supplied or generated token.
//!
//! The result is the only place a token's plaintext is ever returned; the store keeps its hash.

use messagedb_core::limits::SizeLimit;
use messagedb_core::{NamespaceId, Token};

use super::args::{self, Args};
use super::Ctx;
use crate::error::{ApiError, Op};
use crate::wire;

/// A validated `ns.create`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NsCreate {
    pub id: NamespaceId,
    pub description: String,
    /// `None`: generate one.
    pub token: Option<Token>,
}

pub fn parse(args: Args<'_>) -> Result<NsCreate, ApiError> {
    let id = args::namespace_id(args, "ns.create requires at least 1 argument: namespace ID")?;
    let options = args::options(args, 1)?;
    let options = options.as_ref();
    let description = args::opt_text(
        options,
        "description",
        "options.description must be a string",
        "options.description",
    )?;
    if let Some(description) = &description {
        args::within(SizeLimit::Description, description, "options.description")?;
    }
    let token = match options.and_then(|o| o.get("token")) {
        None => None,
        Some(raw) => {
            let text = args::string(raw, "options.token must be a string")?;
            let token = Token::parse(&text)
                .map_err(|e| ApiError::invalid(format!("Invalid token format: {e}")))?;
            if token.namespace() != id.as_str() {
                return Err(ApiError::invalid(format!(
                    "Token is for namespace '{}', not '{id}'",
                    token.namespace()
                )));
            }
            Some(token)
        }
    };
    // Metadata is accepted for compatibility and otherwise ignored.
    if let Some(raw) = options.and_then(|o| o.get("metadata")) {
        args::object(raw, "options.metadata must be an object")?;
    }
    Ok(NsCreate {
        id,
        description: description.map(|d| d.into_owned()).unwrap_or_default(),
        token,
    })
}

pub async fn apply(ctx: &Ctx<'_>, create: NsCreate) -> Result<String, ApiError> {
    ctx.caller.require_admin()?;
    let token = create.token.unwrap_or_else(|| Token::generate(&create.id));
    let created_at = ctx
        .state
        .store()
        .create_namespace(&create.id, &create.description, &token.hash())
        .await
        .map_err(|e| ApiError::from_store(Op::CreateNamespace, e))?;
    let mut out = String::with_capacity(200);
    out.push_str("{\"createdAt\":");
    wire::push_time(&mut out, created_at);
    out.push_str(",\"namespace\":");
    wire::push_str(&mut out, create.id.as_str());
    out.push_str(",\"token\":");
    wire::push_str(&mut out, token.expose());
    out.push_str("}\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(body: &str) -> Result<NsCreate, String> {
        let items: Vec<&serde_json::value::RawValue> = serde_json::from_str(body).unwrap();
        parse(Args(&items)).map_err(|e| e.message.into_owned())
    }

    #[test]
    fn validation_messages_in_order() {
        let zeros = "0".repeat(64);
        let long = "x".repeat(129);
        let cases: Vec<(String, String)> = vec![
            (
                "[]".into(),
                "ns.create requires at least 1 argument: namespace ID".into(),
            ),
            (
                "[1]".into(),
                "namespace ID must be a non-empty string".into(),
            ),
            (
                r#"[""]"#.into(),
                "namespace ID must be a non-empty string".into(),
            ),
            (
                r#"["a/b"]"#.into(),
                "namespace ID must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}".into(),
            ),
            (
                r#"[".x"]"#.into(),
                "namespace ID must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}".into(),
            ),
            (
                format!(r#"["{long}"]"#),
                "namespace ID must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}".into(),
            ),
            (r#"["t",5]"#.into(), "options must be an object".into()),
            (
                r#"["t",{"description":5}]"#.into(),
                "options.description must be a string".into(),
            ),
            (
                r#"["t",{"description":"\u0000"}]"#.into(),
                "options.description must not contain NUL characters".into(),
            ),
            (
                format!(
                    r#"["t",{{"description":"{}","token":5}}]"#,
                    "d".repeat(4097)
                ),
                "options.description must be at most 4096 bytes".into(),
            ),
            (
                r#"["t",{"token":5}]"#.into(),
                "options.token must be a string".into(),
            ),
            (
                r#"["t",{"token":"abc"}]"#.into(),
                "Invalid token format: invalid token format: missing 'ns_' prefix".into(),
            ),
            (
                format!(r#"["t",{{"token":"ns_ZGVmYXVsdA_{zeros}"}}]"#),
                "Token is for namespace 'default', not 't'".into(),
            ),
            (
                r#"["t",{"metadata":"x"}]"#.into(),
                "options.metadata must be an object".into(),
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(create(&body).unwrap_err(), expected, "{body}");
        }
    }

    #[test]
    fn accepted_forms() {
        let c = create(r#"["tenant-a"]"#).unwrap();
        assert_eq!(
            (c.id.as_str(), c.description.as_str(), c.token),
            ("tenant-a", "", None)
        );
        let token = Token::generate(&NamespaceId::parse("tenant-a").unwrap());
        let body = format!(
            r#"["tenant-a",{{"description":"d","token":"{}","metadata":{{}}}}]"#,
            token.expose()
        );
        let c = create(&body).unwrap();
        assert_eq!(c.description, "d");
        assert_eq!(c.token, Some(token));
        let at_limit = format!(r#"["t",{{"description":"{}"}}]"#, "d".repeat(4096));
        assert_eq!(create(&at_limit).unwrap().description.len(), 4096);
    }
}

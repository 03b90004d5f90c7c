//! `ns.delete` (SPEC §6.9, admin): delete a namespace and all of its messages.

use messagedb_core::{NamespaceId, Timestamp};

use super::args::{self, Args};
use super::Ctx;
use crate::error::{ApiError, Op};
use crate::wire;

pub fn parse(args: Args<'_>) -> Result<NamespaceId, ApiError> {
    let id = args::namespace_id(args, "ns.delete requires 1 argument: namespace ID")?;
    if id.is_default() {
        return Err(ApiError::invalid("Cannot delete the default namespace"));
    }
    Ok(id)
}

pub async fn apply(ctx: &Ctx<'_>, id: NamespaceId) -> Result<String, ApiError> {
    ctx.caller.require_admin()?;
    let deleted = ctx
        .state
        .store()
        .delete_namespace(&id)
        .await
        .map_err(|e| ApiError::from_store(Op::DeleteNamespace, e))?;
    // The token must stop working at once on this instance.
    ctx.state.forget_namespace(&id);
    let mut out = String::with_capacity(120);
    out.push_str("{\"deletedAt\":");
    wire::push_time(&mut out, Timestamp::now());
    out.push_str(",\"messagesDeleted\":");
    wire::push_u64(&mut out, deleted);
    out.push_str(",\"namespace\":");
    wire::push_str(&mut out, id.as_str());
    out.push_str("}\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delete(body: &str) -> Result<NamespaceId, String> {
        let items: Vec<&serde_json::value::RawValue> = serde_json::from_str(body).unwrap();
        parse(Args(&items)).map_err(|e| e.message.into_owned())
    }

    #[test]
    fn validation_messages() {
        let cases = [
            ("[]", "ns.delete requires 1 argument: namespace ID"),
            ("[null]", "namespace ID must be a non-empty string"),
            (
                r#"["a b"]"#,
                "namespace ID must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}",
            ),
            (r#"["default"]"#, "Cannot delete the default namespace"),
        ];
        for (body, expected) in cases {
            assert_eq!(delete(body).unwrap_err(), expected, "{body}");
        }
        assert_eq!(delete(r#"["Default"]"#).unwrap().as_str(), "Default");
    }
}

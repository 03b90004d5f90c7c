//! `ns.info` (SPEC §6.11): a namespace's counts and last activity; admin for any namespace, a
//! tenant for its own only.

use messagedb_core::NamespaceId;

use super::args::{self, Args};
use super::Ctx;
use crate::error::{ApiError, Op};
use crate::wire;

pub fn parse(args: Args<'_>) -> Result<NamespaceId, ApiError> {
    args::namespace_id(args, "ns.info requires 1 argument: namespace ID")
}

pub async fn apply(ctx: &Ctx<'_>, id: NamespaceId) -> Result<String, ApiError> {
    // A tenant learns nothing about other ids, not even whether they exist.
    if !ctx.caller.is_admin() && ctx.caller.namespace() != &id {
        return Err(ApiError::admin_required());
    }
    let info = ctx
        .state
        .store()
        .namespace_info(&id)
        .await
        .map_err(|e| ApiError::from_store(Op::GetNamespaceInfo, e))?;
    let mut out = String::with_capacity(200 + info.description.len());
    out.push_str("{\"createdAt\":");
    wire::push_time(&mut out, info.created_at);
    out.push_str(",\"description\":");
    wire::push_str(&mut out, &info.description);
    out.push_str(",\"lastActivity\":");
    wire::push_opt_time(&mut out, info.last_activity);
    out.push_str(",\"messageCount\":");
    wire::push_u64(&mut out, info.message_count);
    out.push_str(",\"namespace\":");
    wire::push_str(&mut out, info.id.as_str());
    out.push_str(",\"streamCount\":");
    wire::push_u64(&mut out, info.stream_count);
    out.push_str("}\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_messages() {
        let items: Vec<&serde_json::value::RawValue> = serde_json::from_str("[]").unwrap();
        assert_eq!(
            parse(Args(&items)).unwrap_err().message,
            "ns.info requires 1 argument: namespace ID"
        );
        let items: Vec<&serde_json::value::RawValue> =
            serde_json::from_str(r#"["default"]"#).unwrap();
        assert!(parse(Args(&items)).unwrap().is_default());
    }
}

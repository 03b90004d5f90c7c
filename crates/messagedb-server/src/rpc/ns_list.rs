//! `ns.list` (SPEC §6.10, admin): every namespace with its message count, newest first.

use super::Ctx;
use crate::error::{ApiError, Op};
use crate::wire;

pub async fn apply(ctx: &Ctx<'_>) -> Result<String, ApiError> {
    ctx.caller.require_admin()?;
    let namespaces = ctx
        .state
        .store()
        .list_namespaces()
        .await
        .map_err(|e| ApiError::from_store(Op::ListNamespaces, e))?;
    let mut out = String::with_capacity(2 + namespaces.len() * 128);
    out.push('[');
    for (i, ns) in namespaces.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"createdAt\":");
        wire::push_time(&mut out, ns.created_at);
        out.push_str(",\"description\":");
        wire::push_str(&mut out, &ns.description);
        out.push_str(",\"messageCount\":");
        wire::push_u64(&mut out, ns.message_count);
        out.push_str(",\"namespace\":");
        wire::push_str(&mut out, ns.id.as_str());
        out.push('}');
    }
    out.push_str("]\n");
    Ok(out)
}

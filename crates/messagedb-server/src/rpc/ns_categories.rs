//! `ns.categories` (SPEC §6.13): per-category message and stream counts of the caller's namespace.

use super::Ctx;
use crate::error::{ApiError, Op};
use crate::wire;

pub async fn apply(ctx: &Ctx<'_>) -> Result<String, ApiError> {
    let categories = ctx
        .state
        .store()
        .list_categories(ctx.caller.namespace())
        .await
        .map_err(|e| ApiError::from_store(Op::ListCategories, e))?;
    let mut out = String::with_capacity(2 + categories.len() * 64);
    out.push('[');
    for (i, c) in categories.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"category\":");
        wire::push_str(&mut out, &c.category);
        out.push_str(",\"messageCount\":");
        wire::push_u64(&mut out, c.message_count);
        out.push_str(",\"streamCount\":");
        wire::push_u64(&mut out, c.stream_count);
        out.push('}');
    }
    out.push_str("]\n");
    Ok(out)
}

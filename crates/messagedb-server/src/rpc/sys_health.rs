//! `sys.health` (SPEC §6.1): backend name and the number of open SSE subscriptions. Unlike
//! `/health` it needs credentials.

use super::Ctx;
use crate::wire;

pub fn apply(ctx: &Ctx<'_>) -> String {
    let mut out = String::with_capacity(64);
    out.push_str("{\"backend\":");
    wire::push_str(&mut out, ctx.state.store().backend_name());
    out.push_str(",\"connections\":");
    wire::push_u64(&mut out, ctx.state.subscriptions() as u64);
    out.push_str(",\"status\":\"ok\"}\n");
    out
}

//! `ns.deletions` (SPEC §18): the namespace's deletion log, ascending by global position.

use messagedb_core::Limit;

use super::args::{self, Args};
use super::Ctx;
use crate::error::{ApiError, Op};
use crate::wire;

/// A validated call: from this global position, at most this many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NsDeletions {
    pub position: i64,
    pub batch_size: u32,
}

/// `["ns.deletions", {"position"?, "batchSize"?}?]`, validated as §6.7's options (so
/// `batchSize: -1` is accepted and means no limit).
pub fn parse(args: Args<'_>) -> Result<NsDeletions, ApiError> {
    let options = args::options(args, 0)?;
    let options = options.as_ref();
    let position =
        args::opt_number(options, "position", "options.position must be a number")?.unwrap_or(1);
    let batch_size = match args::batch_size(options)? {
        Limit::AtMost(n) => n,
        Limit::Unlimited => u32::MAX,
    };
    Ok(NsDeletions {
        position,
        batch_size,
    })
}

pub async fn apply(ctx: &Ctx<'_>, query: NsDeletions) -> Result<String, ApiError> {
    let deletions = if query.batch_size == 0 {
        Vec::new()
    } else {
        ctx.state
            .store()
            .list_deletions(ctx.caller.namespace(), query.position, query.batch_size)
            .await
            .map_err(|e| ApiError::from_store(Op::ListDeletions, e))?
    };
    let mut out = String::with_capacity(2 + deletions.len() * 96);
    out.push('[');
    for (i, d) in deletions.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"before\":");
        wire::push_i64(&mut out, d.before);
        out.push_str(",\"globalPosition\":");
        wire::push_i64(&mut out, d.global_position);
        out.push_str(",\"stream\":");
        wire::push_str(&mut out, &d.stream_name);
        out.push_str(",\"time\":");
        wire::push_time(&mut out, d.time);
        out.push('}');
    }
    out.push_str("]\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deletions(body: &str) -> Result<NsDeletions, String> {
        let items: Vec<&serde_json::value::RawValue> = serde_json::from_str(body).unwrap();
        parse(Args(&items)).map_err(|e| e.message.into_owned())
    }

    #[test]
    fn validation_messages_and_defaults() {
        assert_eq!(
            deletions("[]").unwrap(),
            NsDeletions {
                position: 1,
                batch_size: 1000
            }
        );
        assert_eq!(
            deletions(r#"[{"position":7,"batchSize":2}]"#).unwrap(),
            NsDeletions {
                position: 7,
                batch_size: 2
            }
        );
        let cases = [
            ("[null]", "options must be an object"),
            (r#"[{"position":"1"}]"#, "options.position must be a number"),
            (
                r#"[{"batchSize":true}]"#,
                "options.batchSize must be a number",
            ),
            (
                r#"[{"batchSize":10001}]"#,
                "options.batchSize must be <= 10000 or -1 for unlimited",
            ),
            (
                r#"[{"batchSize":-2}]"#,
                "options.batchSize must be >= 0, or -1 for unlimited",
            ),
        ];
        for (body, message) in cases {
            assert_eq!(deletions(body).unwrap_err(), message, "{body}");
        }
    }
}

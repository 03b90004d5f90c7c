//! `stream.version` (SPEC §6.6): the last position of a stream, or `null` when it is empty.

use messagedb_core::StreamName;

use super::args::{self, Args};
use super::Ctx;
use crate::error::{ApiError, Op};
use crate::wire;

pub fn parse(args: Args<'_>) -> Result<StreamName, ApiError> {
    args::require(args, 1, "stream.version requires 1 argument: streamName")?;
    args::stream_name(args.get(0))
}

pub async fn apply(ctx: &Ctx<'_>, stream: StreamName) -> Result<String, ApiError> {
    let version = ctx
        .state
        .store()
        .stream_version(ctx.caller.namespace(), &stream)
        .await
        .map_err(|e| ApiError::from_store(Op::ReadStreamVersion, e))?;
    let mut out = String::with_capacity(24);
    match version {
        Some(v) => wire::push_i64(&mut out, v),
        None => out.push_str("null"),
    }
    out.push('\n');
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
            "stream.version requires 1 argument: streamName"
        );
        let items: Vec<&serde_json::value::RawValue> = serde_json::from_str("[[]]").unwrap();
        assert_eq!(
            parse(Args(&items)).unwrap_err().message,
            "streamName must be a non-empty string"
        );
        let items: Vec<&serde_json::value::RawValue> = serde_json::from_str(r#"["s",1]"#).unwrap();
        assert_eq!(parse(Args(&items)).unwrap().as_str(), "s");
    }
}

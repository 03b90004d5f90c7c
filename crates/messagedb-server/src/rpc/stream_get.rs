//! `stream.get` (SPEC §6.4): a stream's messages in position order, from a position or a global
//! position.

use messagedb_core::{StartAt, StreamName, StreamQuery};

use super::args::{self, Args};
use super::Ctx;
use crate::error::{ApiError, Op};
use crate::wire::{self, Layout};

/// A validated `stream.get`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamGet {
    pub stream: StreamName,
    pub query: StreamQuery,
}

pub fn parse(args: Args<'_>) -> Result<StreamGet, ApiError> {
    args::require(
        args,
        1,
        "stream.get requires at least 1 argument: streamName",
    )?;
    let stream = args::stream_name(args.get(0))?;
    let options = args::options(args, 1)?;
    let options = options.as_ref();
    let position = args::opt_number(options, "position", "options.position must be a number")?;
    let global_position = args::opt_number(
        options,
        "globalPosition",
        "options.globalPosition must be a number",
    )?;
    let limit = args::batch_size(options)?;
    // A global position, when given, replaces the position; negatives behave as 0.
    let start = match global_position {
        Some(g) => StartAt::GlobalPosition(g.max(0)),
        None => StartAt::Position(position.unwrap_or(0).max(0)),
    };
    Ok(StreamGet {
        stream,
        query: StreamQuery { start, limit },
    })
}

pub async fn apply(ctx: &Ctx<'_>, get: StreamGet) -> Result<String, ApiError> {
    let messages = ctx
        .state
        .store()
        .read_stream(ctx.caller.namespace(), &get.stream, &get.query)
        .await
        .map_err(|e| ApiError::from_store(Op::ReadStream, e))?;
    Ok(wire::messages(&messages, Layout::Stream))
}

#[cfg(test)]
mod tests {
    use super::*;
    use messagedb_core::Limit;

    fn get(body: &str) -> Result<StreamGet, String> {
        let items: Vec<&serde_json::value::RawValue> = serde_json::from_str(body).unwrap();
        parse(Args(&items)).map_err(|e| e.message.into_owned())
    }

    #[test]
    fn validation_messages() {
        let cases = [
            ("[]", "stream.get requires at least 1 argument: streamName"),
            ("[1]", "streamName must be a non-empty string"),
            (r#"[""]"#, "streamName must be a non-empty string"),
            (
                r#"["a\u0000"]"#,
                "streamName must not contain NUL characters",
            ),
            (r#"["a",null]"#, "options must be an object"),
            (
                r#"["a",{"position":"1"}]"#,
                "options.position must be a number",
            ),
            (
                r#"["a",{"position":null,"globalPosition":"x"}]"#,
                "options.position must be a number",
            ),
            (
                r#"["a",{"globalPosition":true}]"#,
                "options.globalPosition must be a number",
            ),
            (
                r#"["a",{"batchSize":"10"}]"#,
                "options.batchSize must be a number",
            ),
            (
                r#"["a",{"batchSize":10001}]"#,
                "options.batchSize must be <= 10000 or -1 for unlimited",
            ),
            (
                r#"["a",{"batchSize":1e30}]"#,
                "options.batchSize must be <= 10000 or -1 for unlimited",
            ),
            (
                r#"["a",{"batchSize":-2}]"#,
                "options.batchSize must be >= 0, or -1 for unlimited",
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(get(body).unwrap_err(), expected, "{body}");
        }
    }

    #[test]
    fn defaults_and_conversions() {
        let g = get(r#"["a"]"#).unwrap();
        assert_eq!(
            g.query,
            StreamQuery {
                start: StartAt::Position(0),
                limit: Limit::DEFAULT
            }
        );
        let g = get(r#"["a",{"position":-1,"batchSize":-1}]"#).unwrap();
        assert_eq!(
            g.query,
            StreamQuery {
                start: StartAt::Position(0),
                limit: Limit::Unlimited
            }
        );
        let g = get(r#"["a",{"position":5,"globalPosition":7.9,"batchSize":10000}]"#).unwrap();
        assert_eq!(
            g.query,
            StreamQuery {
                start: StartAt::GlobalPosition(7),
                limit: Limit::AtMost(10000)
            }
        );
        let g = get(r#"["a",{"batchSize":-0.5}]"#).unwrap();
        assert_eq!(g.query.limit, Limit::AtMost(0));
    }
}

//! `stream.last` (SPEC §6.5): the highest-position message of a stream, optionally of one type.

use messagedb_core::StreamName;

use super::args::{self, Args};
use super::Ctx;
use crate::error::{ApiError, Op};
use crate::wire::{self, Layout};

/// A validated `stream.last`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamLast {
    pub stream: StreamName,
    /// `None`: any type (`""` also means no filter).
    pub message_type: Option<String>,
}

pub fn parse(args: Args<'_>) -> Result<StreamLast, ApiError> {
    args::require(
        args,
        1,
        "stream.last requires at least 1 argument: streamName",
    )?;
    let stream = args::stream_name(args.get(0))?;
    let options = args::options(args, 1)?;
    let message_type = args::opt_text(
        options.as_ref(),
        "type",
        "options.type must be a string",
        "options.type",
    )?;
    Ok(StreamLast {
        stream,
        message_type: message_type
            .filter(|t| !t.is_empty())
            .map(|t| t.into_owned()),
    })
}

pub async fn apply(ctx: &Ctx<'_>, last: StreamLast) -> Result<String, ApiError> {
    let message = ctx
        .state
        .store()
        .last_message(
            ctx.caller.namespace(),
            &last.stream,
            last.message_type.as_deref(),
        )
        .await
        .map_err(|e| ApiError::from_store(Op::ReadLastMessage, e))?;
    Ok(match message {
        Some(message) => {
            let mut out = String::with_capacity(message.data.len() + 160);
            wire::push_message(&mut out, &message, Layout::Stream);
            out.push('\n');
            out
        }
        None => "null\n".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last(body: &str) -> Result<StreamLast, String> {
        let items: Vec<&serde_json::value::RawValue> = serde_json::from_str(body).unwrap();
        parse(Args(&items)).map_err(|e| e.message.into_owned())
    }

    #[test]
    fn validation_and_type_filter() {
        let cases = [
            ("[]", "stream.last requires at least 1 argument: streamName"),
            ("[{}]", "streamName must be a non-empty string"),
            (r#"["a",1]"#, "options must be an object"),
            (r#"["a",{"type":1}]"#, "options.type must be a string"),
            (r#"["a",{"type":null}]"#, "options.type must be a string"),
            (
                r#"["a",{"type":"\u0000"}]"#,
                "options.type must not contain NUL characters",
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(last(body).unwrap_err(), expected, "{body}");
        }
        assert_eq!(last(r#"["a",{"type":""}]"#).unwrap().message_type, None);
        assert_eq!(
            last(r#"["a",{"type":"X"}]"#)
                .unwrap()
                .message_type
                .as_deref(),
            Some("X")
        );
    }
}

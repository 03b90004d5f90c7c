//! `stream.write` (SPEC §6.3): append one message, with optional id and `expectedVersion`.
//!
//! `data` and `metadata` are stored as minified text cut straight from the request body, so the
//! payload comes back byte-identical apart from insignificant whitespace (§2.6).

use messagedb_core::limits::SizeLimit;
use messagedb_core::{json, MessageId, NewMessage, WriteOutcome};

use super::args::{self, kind, Args, Kind};
use super::{malformed, Ctx};
use crate::error::{ApiError, Op};
use crate::metrics;
use crate::wire;

pub fn parse(args: Args<'_>) -> Result<NewMessage, ApiError> {
    args::require(
        args,
        2,
        "stream.write requires at least 2 arguments: streamName and message",
    )?;
    let stream_name = args::stream_name(args.get(0))?;
    const MESSAGE_TYPE: &str = "message must be an object";
    let message = args::object(
        args.get(1).ok_or_else(|| ApiError::invalid(MESSAGE_TYPE))?,
        MESSAGE_TYPE,
    )?;

    let message_type = match message.get("type").and_then(args::as_str) {
        Some(t) if !t.is_empty() => t,
        _ => return Err(ApiError::invalid("message.type must be a non-empty string")),
    };
    args::no_nul(&message_type, "message.type")?;
    args::within(SizeLimit::MessageType, &message_type, "message.type")?;

    let data = match message.get("data") {
        Some(raw) if kind(raw) == Kind::Object => minify(raw.get())?,
        _ => return Err(ApiError::invalid("message.data must be an object")),
    };
    let metadata = match message.get("metadata") {
        None => None,
        Some(raw) => match kind(raw) {
            Kind::Null => None,
            Kind::Object => Some(minify(raw.get())?),
            _ => return Err(ApiError::invalid("message.metadata must be an object")),
        },
    };

    let options = args::options(args, 2)?;
    let id = match options.as_ref().and_then(|o| o.get("id")) {
        None => None,
        Some(raw) => {
            let text = args::string(raw, "options.id must be a string")?;
            if text.is_empty() {
                None
            } else {
                let id = MessageId::parse(&text)
                    .map_err(|_| ApiError::invalid("options.id must be a UUID"))?;
                Some(id)
            }
        }
    };
    let expected_version = args::opt_number(
        options.as_ref(),
        "expectedVersion",
        "options.expectedVersion must be a number",
    )?;

    Ok(NewMessage {
        id,
        stream_name,
        message_type: message_type.into_owned(),
        data,
        metadata,
        expected_version,
    })
}

/// A payload's minified text, or the parse error as a malformed request (shared with
/// `stream.writeBatch`).
pub(super) fn minify(raw: &str) -> Result<String, ApiError> {
    json::minify(raw).map_err(|e| malformed(e.to_string()))
}

pub async fn apply(ctx: &Ctx<'_>, message: NewMessage) -> Result<String, ApiError> {
    let outcome = ctx
        .state
        .store()
        .write(ctx.caller.namespace(), message)
        .await
        .map_err(|e| ApiError::from_store(Op::WriteMessage, e))?;
    if let WriteOutcome::Appended(_) = outcome {
        metrics::message_written();
    }
    let positions = outcome.positions();
    let mut out = String::with_capacity(48);
    out.push_str("{\"globalPosition\":");
    wire::push_i64(&mut out, positions.global_position);
    out.push_str(",\"position\":");
    wire::push_i64(&mut out, positions.position);
    out.push_str("}\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::parse_request;

    fn message_of(body: &str) -> Result<NewMessage, String> {
        let items: Vec<&serde_json::value::RawValue> = serde_json::from_str(body).unwrap();
        parse(Args(&items)).map_err(|e| e.message.into_owned())
    }

    #[test]
    fn validation_order_and_messages() {
        let id = "0190f2c4-3b1e-7c2a-9d4e-1f2a3b4c5d6e";
        let cases: Vec<(String, &str)> = vec![
            (
                r#"[]"#.into(),
                "stream.write requires at least 2 arguments: streamName and message",
            ),
            (
                r#"["a"]"#.into(),
                "stream.write requires at least 2 arguments: streamName and message",
            ),
            (r#"[5,{}]"#.into(), "streamName must be a non-empty string"),
            (r#"["",{}]"#.into(), "streamName must be a non-empty string"),
            (
                r#"[null,{}]"#.into(),
                "streamName must be a non-empty string",
            ),
            (
                r#"["a\u0000b",5]"#.into(),
                "streamName must not contain NUL characters",
            ),
            (r#"["a",5]"#.into(), "message must be an object"),
            (r#"["a",null]"#.into(), "message must be an object"),
            (
                r#"["a",{"data":5}]"#.into(),
                "message.type must be a non-empty string",
            ),
            (
                r#"["a",{"type":"","data":{}}]"#.into(),
                "message.type must be a non-empty string",
            ),
            (
                r#"["a",{"type":7,"data":{}}]"#.into(),
                "message.type must be a non-empty string",
            ),
            (
                r#"["a",{"type":"x\u0000"}]"#.into(),
                "message.type must not contain NUL characters",
            ),
            (
                format!(r#"["{}",5]"#, "s".repeat(1025)),
                "streamName must be at most 1024 bytes",
            ),
            (
                format!(r#"["a",{{"type":"{}"}}]"#, "t".repeat(1025)),
                "message.type must be at most 1024 bytes",
            ),
            (
                r#"["a",{"type":"t"}]"#.into(),
                "message.data must be an object",
            ),
            (
                r#"["a",{"type":"t","data":[]}]"#.into(),
                "message.data must be an object",
            ),
            (
                r#"["a",{"type":"t","data":1}]"#.into(),
                "message.data must be an object",
            ),
            (
                r#"["a",{"type":"t","data":null}]"#.into(),
                "message.data must be an object",
            ),
            (
                r#"["a",{"type":"t","data":{},"metadata":"x"}]"#.into(),
                "message.metadata must be an object",
            ),
            (
                r#"["a",{"type":"t","data":{},"metadata":[]}]"#.into(),
                "message.metadata must be an object",
            ),
            (
                r#"["a",{"type":"t","data":{}},null]"#.into(),
                "options must be an object",
            ),
            (
                r#"["a",{"type":"t","data":{}},[]]"#.into(),
                "options must be an object",
            ),
            (
                r#"["a",{"type":"t","data":{}},{"id":5}]"#.into(),
                "options.id must be a string",
            ),
            (
                r#"["a",{"type":"t","data":{}},{"id":null}]"#.into(),
                "options.id must be a string",
            ),
            (
                r#"["a",{"type":"t","data":{}},{"id":"nope"}]"#.into(),
                "options.id must be a UUID",
            ),
            (
                format!(r#"["a",{{"type":"t","data":{{}}}},{{"id":"urn:uuid:{id}"}}]"#),
                "options.id must be a UUID",
            ),
            (
                r#"["a",{"type":"t","data":{}},{"expectedVersion":"1"}]"#.into(),
                "options.expectedVersion must be a number",
            ),
            (
                r#"["a",{"type":"t","data":{}},{"expectedVersion":null}]"#.into(),
                "options.expectedVersion must be a number",
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(message_of(&body).unwrap_err(), expected, "{body}");
        }
    }

    #[test]
    fn accepted_forms() {
        let m = message_of(
            r#"["account-1", {"type":"T", "data": { "b" : 1, "a" : [1, 2.50] }, "metadata": null, "x": 1},
                {"id":"{0190F2C4-3B1E-7C2A-9D4E-1F2A3B4C5D6E}","expectedVersion":1.9,"other":true}, "extra"]"#,
        )
        .unwrap();
        assert_eq!(m.stream_name.as_str(), "account-1");
        assert_eq!(m.message_type, "T");
        assert_eq!(m.data, r#"{"b":1,"a":[1,2.50]}"#);
        assert_eq!(m.metadata, None);
        assert_eq!(
            m.id.unwrap().to_string(),
            "0190f2c4-3b1e-7c2a-9d4e-1f2a3b4c5d6e"
        );
        assert_eq!(m.expected_version, Some(1));

        let m = message_of(r#"["a",{"type":"T","data":{},"metadata":{}},{"id":""}]"#).unwrap();
        assert_eq!((m.id, m.metadata.as_deref()), (None, Some("{}")));
        let m = message_of(r#"["a",{"type":"T","data":{"n":-0,"e":"\u00e9"}}]"#).unwrap();
        assert_eq!(m.data, r#"{"n":-0,"e":"\u00e9"}"#);
    }

    #[test]
    fn names_and_types_at_the_limit_are_accepted() {
        let body = format!(
            r#"["{}",{{"type":"{}","data":{{}}}}]"#,
            "s".repeat(1024),
            r"\u20ac".repeat(341)
        );
        let m = message_of(&body).unwrap();
        assert_eq!(m.stream_name.as_str().len(), 1024);
        assert_eq!(m.message_type.len(), 1023);
    }

    #[test]
    fn parse_request_reaches_this_parser() {
        let e = parse_request(br#"["stream.write","a"]"#).unwrap_err();
        assert_eq!(
            e.message,
            "stream.write requires at least 2 arguments: streamName and message"
        );
    }
}

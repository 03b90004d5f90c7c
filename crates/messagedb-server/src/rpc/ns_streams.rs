//! `ns.streams` (SPEC §6.12): the caller's non-empty streams, by prefix, paged by cursor.
//!
//! Unlike other methods, the options object is the first argument and its messages carry no
//! `options.` prefix.

use messagedb_core::StreamsQuery;

use super::args::{self, Args};
use super::Ctx;
use crate::error::{ApiError, Op};
use crate::wire;

pub fn parse(args: Args<'_>) -> Result<StreamsQuery, ApiError> {
    let options = args::options(args, 0)?;
    let options = options.as_ref();
    let prefix = args::opt_text(options, "prefix", "prefix must be a string", "prefix")?;
    let cursor = args::opt_text(options, "cursor", "cursor must be a string", "cursor")?;
    let limit = match args::opt_number(options, "limit", "limit must be a number")? {
        None => 100,
        Some(n) => match u32::try_from(n) {
            Ok(n @ 1..=1000) => n,
            _ => return Err(ApiError::invalid("limit must be between 1 and 1000")),
        },
    };
    Ok(StreamsQuery {
        prefix: prefix.map(|p| p.into_owned()).unwrap_or_default(),
        cursor: cursor.map(|c| c.into_owned()).unwrap_or_default(),
        limit,
    })
}

pub async fn apply(ctx: &Ctx<'_>, query: StreamsQuery) -> Result<String, ApiError> {
    let streams = ctx
        .state
        .store()
        .list_streams(ctx.caller.namespace(), &query)
        .await
        .map_err(|e| ApiError::from_store(Op::ListStreams, e))?;
    let mut out = String::with_capacity(2 + streams.len() * 96);
    out.push('[');
    for (i, s) in streams.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"lastActivity\":");
        wire::push_time(&mut out, s.last_activity);
        out.push_str(",\"stream\":");
        wire::push_str(&mut out, &s.stream_name);
        out.push_str(",\"version\":");
        wire::push_i64(&mut out, s.version);
        out.push('}');
    }
    out.push_str("]\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streams(body: &str) -> Result<StreamsQuery, String> {
        let items: Vec<&serde_json::value::RawValue> = serde_json::from_str(body).unwrap();
        parse(Args(&items)).map_err(|e| e.message.into_owned())
    }

    #[test]
    fn validation_messages_in_order() {
        let cases = [
            ("[null]", "options must be an object"),
            ("[1]", "options must be an object"),
            (r#"[{"prefix":1,"cursor":1}]"#, "prefix must be a string"),
            (
                r#"[{"prefix":"\u0000"}]"#,
                "prefix must not contain NUL characters",
            ),
            (r#"[{"cursor":null}]"#, "cursor must be a string"),
            (
                r#"[{"cursor":"a\u0000"}]"#,
                "cursor must not contain NUL characters",
            ),
            (r#"[{"limit":"1"}]"#, "limit must be a number"),
            (r#"[{"limit":0}]"#, "limit must be between 1 and 1000"),
            (r#"[{"limit":1001}]"#, "limit must be between 1 and 1000"),
            (r#"[{"limit":-1}]"#, "limit must be between 1 and 1000"),
        ];
        for (body, expected) in cases {
            assert_eq!(streams(body).unwrap_err(), expected, "{body}");
        }
    }

    #[test]
    fn defaults() {
        let q = streams("[]").unwrap();
        assert_eq!(
            q,
            StreamsQuery {
                prefix: String::new(),
                cursor: String::new(),
                limit: 100
            }
        );
        let q = streams(r#"[{"prefix":"a%_","cursor":"b","limit":1000.7}]"#).unwrap();
        assert_eq!(
            q,
            StreamsQuery {
                prefix: "a%_".into(),
                cursor: "b".into(),
                limit: 1000
            }
        );
    }
}

//! The JSON-RPC surface (SPEC §5, §6, §17): envelope parsing, the closed set of methods, dispatch.
//!
//! A request goes through [`parse_request`] (envelope, method name, then the method's own
//! `parse`, which validates arguments in the SPEC's order and returns owned, validated values) and
//! then [`apply`], one exhaustive `match` that calls the method's `apply`. Authorization happens
//! inside each `apply`, so it always runs after argument validation (§5.1 step 7).

pub mod args;
pub mod category_get;
pub mod ns_categories;
pub mod ns_create;
pub mod ns_delete;
pub mod ns_deletions;
pub mod ns_info;
pub mod ns_list;
pub mod ns_streams;
pub mod stream_delete;
pub mod stream_get;
pub mod stream_last;
pub mod stream_version;
pub mod stream_write;
pub mod stream_write_batch;
pub mod sys_health;
pub mod sys_version;

use serde_json::value::RawValue;

use crate::auth::Caller;
use crate::error::{ApiError, Details, ErrorCode};
use crate::AppState;
use args::Args;

/// Deepest nesting a request body may have, the envelope array included. Matches `serde_json`'s
/// own limit, which it does not apply to the raw values we keep for `data`/`metadata`.
pub const MAX_DEPTH: usize = 128;

/// Every RPC method; nothing else exists (§6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    SysVersion,
    SysHealth,
    StreamWrite,
    StreamWriteBatch,
    StreamGet,
    StreamLast,
    StreamVersion,
    StreamDelete,
    StreamTruncate,
    CategoryGet,
    NsCreate,
    NsDelete,
    NsList,
    NsInfo,
    NsStreams,
    NsCategories,
    NsDeletions,
}

impl Method {
    pub const ALL: [Method; 17] = [
        Method::SysVersion,
        Method::SysHealth,
        Method::StreamWrite,
        Method::StreamWriteBatch,
        Method::StreamGet,
        Method::StreamLast,
        Method::StreamVersion,
        Method::StreamDelete,
        Method::StreamTruncate,
        Method::CategoryGet,
        Method::NsCreate,
        Method::NsDelete,
        Method::NsList,
        Method::NsInfo,
        Method::NsStreams,
        Method::NsCategories,
        Method::NsDeletions,
    ];

    /// The wire name; lookup is case-sensitive.
    pub fn name(self) -> &'static str {
        match self {
            Method::SysVersion => "sys.version",
            Method::SysHealth => "sys.health",
            Method::StreamWrite => "stream.write",
            Method::StreamWriteBatch => "stream.writeBatch",
            Method::StreamGet => "stream.get",
            Method::StreamLast => "stream.last",
            Method::StreamVersion => "stream.version",
            Method::StreamDelete => "stream.delete",
            Method::StreamTruncate => "stream.truncate",
            Method::CategoryGet => "category.get",
            Method::NsCreate => "ns.create",
            Method::NsDelete => "ns.delete",
            Method::NsList => "ns.list",
            Method::NsInfo => "ns.info",
            Method::NsStreams => "ns.streams",
            Method::NsCategories => "ns.categories",
            Method::NsDeletions => "ns.deletions",
        }
    }

    pub fn from_name(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// A parsed, validated RPC call, ready to [`apply`].
#[derive(Debug)]
pub struct Request {
    call: Call,
}

impl Request {
    pub fn method(&self) -> Method {
        match &self.call {
            Call::SysVersion => Method::SysVersion,
            Call::SysHealth => Method::SysHealth,
            Call::StreamWrite(_) => Method::StreamWrite,
            Call::StreamWriteBatch(_) => Method::StreamWriteBatch,
            Call::StreamGet(_) => Method::StreamGet,
            Call::StreamLast(_) => Method::StreamLast,
            Call::StreamVersion(_) => Method::StreamVersion,
            Call::StreamDelete(request) => match request.kind {
                messagedb_core::DeleteKind::Delete { .. } => Method::StreamDelete,
                messagedb_core::DeleteKind::Truncate { .. } => Method::StreamTruncate,
            },
            Call::CategoryGet(_) => Method::CategoryGet,
            Call::NsCreate(_) => Method::NsCreate,
            Call::NsDelete(_) => Method::NsDelete,
            Call::NsList => Method::NsList,
            Call::NsInfo(_) => Method::NsInfo,
            Call::NsStreams(_) => Method::NsStreams,
            Call::NsCategories => Method::NsCategories,
            Call::NsDeletions(_) => Method::NsDeletions,
        }
    }
}

#[derive(Debug)]
enum Call {
    SysVersion,
    SysHealth,
    StreamWrite(messagedb_core::NewMessage),
    StreamWriteBatch(messagedb_core::BatchRequest),
    StreamGet(stream_get::StreamGet),
    StreamLast(stream_last::StreamLast),
    StreamVersion(messagedb_core::StreamName),
    /// `stream.delete` or `stream.truncate` (the request says which).
    StreamDelete(messagedb_core::DeleteRequest),
    CategoryGet(messagedb_core::CategoryQuery),
    NsCreate(ns_create::NsCreate),
    NsDelete(messagedb_core::NamespaceId),
    NsList,
    NsInfo(messagedb_core::NamespaceId),
    NsStreams(messagedb_core::StreamsQuery),
    NsCategories,
    NsDeletions(ns_deletions::NsDeletions),
}

/// Parses a `/rpc` body: envelope (§5.1 step 4), method (step 5) and arguments (step 6).
/// Never panics, whatever the input.
pub fn parse_request(body: &[u8]) -> Result<Request, ApiError> {
    let text = std::str::from_utf8(body).map_err(|e| malformed(format!("invalid UTF-8: {e}")))?;
    let items: Option<Vec<&RawValue>> =
        serde_json::from_str(text).map_err(|e| malformed(e.to_string()))?;
    messagedb_core::json::check_structure(text, MAX_DEPTH).map_err(|e| malformed(e.to_string()))?;
    let items = items.unwrap_or_default();
    let Some(first) = items.first() else {
        return Err(ApiError::invalid("Missing method name"));
    };
    let name =
        args::as_str(first).ok_or_else(|| ApiError::invalid("Method name must be a string"))?;
    let method = Method::from_name(&name).ok_or_else(|| {
        ApiError::new(ErrorCode::MethodNotFound, format!("Unknown method: {name}"))
    })?;
    let args = Args(&items[1..]);
    let call = match method {
        Method::SysVersion => Call::SysVersion,
        Method::SysHealth => Call::SysHealth,
        Method::StreamWrite => Call::StreamWrite(stream_write::parse(args)?),
        Method::StreamWriteBatch => Call::StreamWriteBatch(stream_write_batch::parse(args)?),
        Method::StreamGet => Call::StreamGet(stream_get::parse(args)?),
        Method::StreamLast => Call::StreamLast(stream_last::parse(args)?),
        Method::StreamVersion => Call::StreamVersion(stream_version::parse(args)?),
        Method::StreamDelete => Call::StreamDelete(stream_delete::parse_delete(args)?),
        Method::StreamTruncate => Call::StreamDelete(stream_delete::parse_truncate(args)?),
        Method::CategoryGet => Call::CategoryGet(category_get::parse(args)?),
        Method::NsCreate => Call::NsCreate(ns_create::parse(args)?),
        Method::NsDelete => Call::NsDelete(ns_delete::parse(args)?),
        Method::NsList => Call::NsList,
        Method::NsInfo => Call::NsInfo(ns_info::parse(args)?),
        Method::NsStreams => Call::NsStreams(ns_streams::parse(args)?),
        Method::NsCategories => Call::NsCategories,
        Method::NsDeletions => Call::NsDeletions(ns_deletions::parse(args)?),
    };
    Ok(Request { call })
}

/// What a method's `apply` may use: the server state and the authenticated caller.
pub struct Ctx<'a> {
    pub state: &'a AppState,
    pub caller: &'a Caller,
}

/// Runs a parsed request; the `Ok` value is the JSON result text ending in `\n`.
pub async fn apply(request: Request, ctx: &Ctx<'_>) -> Result<String, ApiError> {
    match request.call {
        Call::SysVersion => Ok(sys_version::apply()),
        Call::SysHealth => Ok(sys_health::apply(ctx)),
        Call::StreamWrite(message) => stream_write::apply(ctx, message).await,
        Call::StreamWriteBatch(batch) => stream_write_batch::apply(ctx, batch).await,
        Call::StreamGet(get) => stream_get::apply(ctx, get).await,
        Call::StreamLast(last) => stream_last::apply(ctx, last).await,
        Call::StreamVersion(stream) => stream_version::apply(ctx, stream).await,
        Call::StreamDelete(request) => stream_delete::apply(ctx, request).await,
        Call::CategoryGet(query) => category_get::apply(ctx, query).await,
        Call::NsCreate(create) => ns_create::apply(ctx, create).await,
        Call::NsDelete(id) => ns_delete::apply(ctx, id).await,
        Call::NsList => ns_list::apply(ctx).await,
        Call::NsInfo(id) => ns_info::apply(ctx, id).await,
        Call::NsStreams(query) => ns_streams::apply(ctx, query).await,
        Call::NsCategories => ns_categories::apply(ctx).await,
        Call::NsDeletions(query) => ns_deletions::apply(ctx, query).await,
    }
}

/// 400 `Malformed JSON request` with the parser's text.
pub fn malformed(detail: impl Into<String>) -> ApiError {
    ApiError::invalid("Malformed JSON request").with_details(Details::Error(detail.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(body: &[u8]) -> ApiError {
        parse_request(body).unwrap_err()
    }

    #[test]
    fn malformed_envelopes() {
        let cases: [&[u8]; 10] = [
            b"",
            b"{}",
            b"[\"sys.version\"] x",
            b"\"sys.version\"",
            b"5",
            b"[\"sys.version\",\xff]",
            b"\xef\xbb\xbf[\"sys.version\"]",
            br#"["stream.write","a",{"type":"t","data":{"s":"\ud800"}}]"#,
            br#"["sys.version","\udc00x"]"#,
            b"[\"sys.version\"",
        ];
        for body in cases {
            let e = error_of(body);
            assert_eq!(
                e.code,
                ErrorCode::InvalidRequest,
                "{:?}",
                String::from_utf8_lossy(body)
            );
            assert_eq!(e.message, "Malformed JSON request");
            assert!(matches!(e.details, Some(Details::Error(ref t)) if !t.is_empty()));
        }
    }

    #[test]
    fn nesting_limit_counts_the_envelope() {
        let nested = |levels: usize| {
            let mut body = String::from(r#"["sys.version","#);
            body.push_str(&"[".repeat(levels - 1));
            body.push_str(&"]".repeat(levels - 1));
            body.push(']');
            body
        };
        assert!(parse_request(nested(MAX_DEPTH).as_bytes()).is_ok());
        assert_eq!(
            error_of(nested(MAX_DEPTH + 1).as_bytes()).message,
            "Malformed JSON request"
        );
        let deep_data = format!(
            r#"["stream.write","a",{{"type":"t","data":{{"x":{}{}}}}}]"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        assert_eq!(
            error_of(deep_data.as_bytes()).message,
            "Malformed JSON request"
        );
    }

    #[test]
    fn method_name_errors() {
        assert_eq!(error_of(b"[]").message, "Missing method name");
        assert_eq!(error_of(b"null").message, "Missing method name");
        assert_eq!(error_of(b"[1]").message, "Method name must be a string");
        assert_eq!(error_of(b"[null]").message, "Method name must be a string");
        let e = error_of(br#"["nope"]"#);
        assert_eq!(
            (e.code, e.message.as_ref()),
            (ErrorCode::MethodNotFound, "Unknown method: nope")
        );
        assert_eq!(
            error_of(br#"["Stream.Get","x"]"#).code,
            ErrorCode::MethodNotFound
        );
    }

    /// A method the README's API table or the fuzzer's dictionary does not know is one users and
    /// the fuzzer do not find.
    #[test]
    fn every_method_is_in_the_readme_and_the_fuzz_dictionary() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
        let dictionary = std::fs::read_to_string(format!("{root}/fuzz/rpc_request.dict")).unwrap();
        for m in Method::ALL {
            let name = m.name();
            assert!(
                readme.contains(&format!("| `{name}` | `rpc '[\"{name}\"")),
                "README's API table lacks {name}"
            );
            assert!(
                dictionary.contains(&format!("\"\\\"{name}\\\"\"")),
                "fuzz/rpc_request.dict lacks {name}"
            );
        }
    }

    #[test]
    fn every_method_name_round_trips() {
        for m in Method::ALL {
            assert_eq!(Method::from_name(m.name()), Some(m));
        }
        let ok = parse_request(br#" [ "sys.version" , 1 , {"x":null} ] "#).unwrap();
        assert_eq!(ok.method(), Method::SysVersion);
        let escaped = parse_request(br#"["sys.\u0068ealth"]"#).unwrap();
        assert_eq!(escaped.method(), Method::SysHealth);
        assert!(parse_request(br#"["sys.version","\ud83d\ude00"]"#).is_ok());
    }
}

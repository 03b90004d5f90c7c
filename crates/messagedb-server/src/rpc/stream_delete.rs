//! `stream.delete` and `stream.truncate` (SPEC §18): remove a stream's messages for good, all
//! of them or those below a position. Both answer `{"deleted":n,"version":v}`.
//!
//! The caller may be any token of the namespace (the data is the tenant's), unless the server
//! runs with `--allow-deletion=false`. Each call that runs is logged at info level with the
//! namespace, the stream and the count (never payloads), even when it removes nothing (the
//! console's sign-in probe truncates before 0), and its count is added to
//! `messagedb_messages_deleted_total`.

use messagedb_core::{DeleteKind, DeleteOutcome, DeleteRequest};

use super::args::{self, Args};
use super::Ctx;
use crate::error::{ApiError, ErrorCode, Op};
use crate::{metrics, wire};

/// `["stream.delete", streamName, {"expectedVersion"?}?]`.
pub fn parse_delete(args: Args<'_>) -> Result<DeleteRequest, ApiError> {
    args::require(args, 1, "stream.delete requires 1 argument: streamName")?;
    let stream = args::stream_name(args.get(0))?;
    let options = args::options(args, 1)?;
    let expected_version = args::opt_number(
        options.as_ref(),
        "expectedVersion",
        "options.expectedVersion must be a number",
    )?;
    Ok(DeleteRequest {
        stream,
        kind: DeleteKind::Delete { expected_version },
    })
}

/// `["stream.truncate", streamName, {"before": p}]`.
pub fn parse_truncate(args: Args<'_>) -> Result<DeleteRequest, ApiError> {
    const BEFORE: &str = "options.before must be an integer >= 0";
    args::require(
        args,
        2,
        "stream.truncate requires 2 arguments: streamName and options",
    )?;
    let stream = args::stream_name(args.get(0))?;
    let options = args::options(args, 1)?;
    let raw = options
        .as_ref()
        .and_then(|o| o.get("before"))
        .ok_or_else(|| ApiError::invalid(BEFORE))?;
    // An integer: a JSON number without fraction or exponent that fits, and is not negative.
    let text = raw.get();
    let before = text
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| ApiError::invalid(BEFORE))?;
    Ok(DeleteRequest {
        stream,
        kind: DeleteKind::Truncate { before },
    })
}

pub async fn apply(ctx: &Ctx<'_>, request: DeleteRequest) -> Result<String, ApiError> {
    if !ctx.state.config().allow_deletion {
        return Err(ApiError::new(
            ErrorCode::AuthUnauthorized,
            "Deletion is disabled on this server",
        ));
    }
    let ns = ctx.caller.namespace();
    let DeleteOutcome { deleted, version } = ctx
        .state
        .store()
        .delete_messages(ns, &request)
        .await
        .map_err(|e| ApiError::from_store(Op::DeleteMessages, e))?;
    if deleted > 0 {
        metrics::messages_deleted(deleted);
    }
    let method = match request.kind {
        DeleteKind::Delete { .. } => "stream.delete",
        DeleteKind::Truncate { .. } => "stream.truncate",
    };
    tracing::info!(
        namespace = %ns,
        stream = %request.stream.as_str(),
        deleted,
        version,
        method,
        "messages deleted"
    );
    let mut out = String::with_capacity(48);
    out.push_str("{\"deleted\":");
    wire::push_u64(&mut out, deleted);
    out.push_str(",\"version\":");
    wire::push_i64(&mut out, version);
    out.push_str("}\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delete(body: &str) -> Result<DeleteRequest, String> {
        let items: Vec<&serde_json::value::RawValue> = serde_json::from_str(body).unwrap();
        parse_delete(Args(&items)).map_err(|e| e.message.into_owned())
    }

    fn truncate(body: &str) -> Result<DeleteRequest, String> {
        let items: Vec<&serde_json::value::RawValue> = serde_json::from_str(body).unwrap();
        parse_truncate(Args(&items)).map_err(|e| e.message.into_owned())
    }

    #[test]
    fn delete_validation_messages_in_order() {
        let cases = [
            ("[]", "stream.delete requires 1 argument: streamName"),
            ("[1]", "streamName must be a non-empty string"),
            (r#"[""]"#, "streamName must be a non-empty string"),
            (r#"["s-1",null]"#, "options must be an object"),
            (r#"["s-1",[]]"#, "options must be an object"),
            (
                r#"["s-1",{"expectedVersion":"1"}]"#,
                "options.expectedVersion must be a number",
            ),
        ];
        for (body, message) in cases {
            assert_eq!(delete(body).unwrap_err(), message, "{body}");
        }
        let ok = delete(r#"["s-1",{"expectedVersion":4}]"#).unwrap();
        assert_eq!(
            ok.kind,
            DeleteKind::Delete {
                expected_version: Some(4)
            }
        );
        assert_eq!(
            delete(r#"["s-1"]"#).unwrap().kind,
            DeleteKind::Delete {
                expected_version: None
            }
        );
    }

    #[test]
    fn truncate_validation_messages_in_order() {
        let requires = "stream.truncate requires 2 arguments: streamName and options";
        let before = "options.before must be an integer >= 0";
        let cases = [
            ("[]", requires),
            (r#"["s-1"]"#, requires),
            (r#"[1,{}]"#, "streamName must be a non-empty string"),
            (r#"["s-1",1]"#, "options must be an object"),
            (r#"["s-1",{}]"#, before),
            (r#"["s-1",{"before":-1}]"#, before),
            (r#"["s-1",{"before":1.5}]"#, before),
            (r#"["s-1",{"before":"5"}]"#, before),
            (r#"["s-1",{"before":null}]"#, before),
            (r#"["s-1",{"before":1e3}]"#, before),
            (r#"["s-1",{"before":99999999999999999999}]"#, before),
        ];
        for (body, message) in cases {
            assert_eq!(truncate(body).unwrap_err(), message, "{body}");
        }
        assert_eq!(
            truncate(r#"["s-1",{"before":5}]"#).unwrap().kind,
            DeleteKind::Truncate { before: 5 }
        );
        assert_eq!(
            truncate(r#"["s-1",{"before":0}]"#).unwrap().kind,
            DeleteKind::Truncate { before: 0 }
        );
    }
}

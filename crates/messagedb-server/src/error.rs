//! The API error table (SPEC §5.3) and the one JSON error shape every endpoint answers with.
//!
//! Each [`ErrorCode`] maps to exactly one wire string and one HTTP status, in one `match`, so a
//! code can never drift between endpoints; `/import`'s event codes (SPEC §9) are in the same
//! table. Errors render as `{"error":{"code":…,"message":…,"details":{…}}}` plus a newline;
//! `details` is omitted when there are none. Server-side failures (5xx) are logged here with their
//! full detail, once, at the point where they become an HTTP answer.
//!
//! A storage failure never shows the client its detail (SPEC §16.2): the answer says only
//! `Failed to <op>` and carries a fresh [`RequestId`] as `details.requestId`; the log record of
//! the failure has the same id and the detail, so an operator can go from one to the other.

use std::borrow::Cow;
use std::fmt;

use axum::response::{IntoResponse, Response};
use http::header::{HeaderValue, ALLOW, CONNECTION, CONTENT_TYPE};
use http::StatusCode;
use messagedb_core::StoreError;

use crate::wire;

/// Every error code the API can answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Argument or envelope validation failed.
    InvalidRequest,
    /// A non-POST `/rpc` request; on the wire it is `INVALID_REQUEST`, with status 405.
    MethodNotAllowed,
    MethodNotFound,
    NotFound,
    AuthRequired,
    AuthInvalidToken,
    AuthUnauthorized,
    NamespaceNotFound,
    NamespaceExists,
    StreamVersionConflict,
    DuplicateMessageId,
    /// A `stream.writeBatch` condition matched a newer message (SPEC §17.2).
    AppendConditionFailed,
    PayloadTooLarge,
    /// The `/rpc` request did not arrive completely within its deadline (SPEC §3).
    RequestTimeout,
    /// A second concurrent CPU profile (SPEC §13.2 allows a 409).
    ProfileInProgress,
    BackendError,
    InternalError,
    /// `/import?force=true` could not clear the namespace; answered before streaming (§9.1).
    ClearFailed,
    // The rest are `/import` event codes (§9.1–9.3). They travel inside the event stream of a
    // response whose status is already 200 (§9.1), so 200 is their status.
    /// A body read failure or an over-long line.
    ReadError,
    InvalidJson,
    InvalidRecord,
    /// A record's gpos is taken.
    PositionExists,
    /// A record's (stream, position) is taken, a shutdown, or any other failure.
    ImportFailed,
}

impl ErrorCode {
    /// The stable wire string.
    pub fn as_str(self) -> &'static str {
        self.entry().0
    }

    pub fn status(self) -> StatusCode {
        self.entry().1
    }

    /// The table itself.
    fn entry(self) -> (&'static str, StatusCode) {
        match self {
            ErrorCode::InvalidRequest => ("INVALID_REQUEST", StatusCode::BAD_REQUEST),
            ErrorCode::MethodNotAllowed => ("INVALID_REQUEST", StatusCode::METHOD_NOT_ALLOWED),
            ErrorCode::MethodNotFound => ("METHOD_NOT_FOUND", StatusCode::NOT_FOUND),
            ErrorCode::NotFound => ("NOT_FOUND", StatusCode::NOT_FOUND),
            ErrorCode::AuthRequired => ("AUTH_REQUIRED", StatusCode::UNAUTHORIZED),
            ErrorCode::AuthInvalidToken => ("AUTH_INVALID_TOKEN", StatusCode::UNAUTHORIZED),
            ErrorCode::AuthUnauthorized => ("AUTH_UNAUTHORIZED", StatusCode::FORBIDDEN),
            ErrorCode::NamespaceNotFound => ("NAMESPACE_NOT_FOUND", StatusCode::NOT_FOUND),
            ErrorCode::NamespaceExists => ("NAMESPACE_EXISTS", StatusCode::CONFLICT),
            ErrorCode::StreamVersionConflict => ("STREAM_VERSION_CONFLICT", StatusCode::CONFLICT),
            ErrorCode::DuplicateMessageId => ("DUPLICATE_MESSAGE_ID", StatusCode::CONFLICT),
            ErrorCode::AppendConditionFailed => ("APPEND_CONDITION_FAILED", StatusCode::CONFLICT),
            ErrorCode::PayloadTooLarge => ("PAYLOAD_TOO_LARGE", StatusCode::PAYLOAD_TOO_LARGE),
            ErrorCode::RequestTimeout => ("REQUEST_TIMEOUT", StatusCode::REQUEST_TIMEOUT),
            ErrorCode::ProfileInProgress => ("PROFILE_IN_PROGRESS", StatusCode::CONFLICT),
            ErrorCode::BackendError => ("BACKEND_ERROR", StatusCode::INTERNAL_SERVER_ERROR),
            ErrorCode::InternalError => ("INTERNAL_ERROR", StatusCode::INTERNAL_SERVER_ERROR),
            ErrorCode::ClearFailed => ("CLEAR_FAILED", StatusCode::INTERNAL_SERVER_ERROR),
            ErrorCode::ReadError => ("READ_ERROR", StatusCode::OK),
            ErrorCode::InvalidJson => ("INVALID_JSON", StatusCode::OK),
            ErrorCode::InvalidRecord => ("INVALID_RECORD", StatusCode::OK),
            ErrorCode::PositionExists => ("POSITION_EXISTS", StatusCode::OK),
            ErrorCode::ImportFailed => ("IMPORT_FAILED", StatusCode::OK),
        }
    }
}

/// The id that ties a storage failure's answer to its log record (SPEC §16.2).
///
/// A UUIDv7: unique without coordination across restarts and across the several instances that
/// share one PostgreSQL database (whose logs an operator may read together), which a process
/// counter is not; and its leading timestamp says where in the logs to look. It is made only on
/// a failure path, so its cost does not matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestId(uuid::Uuid);

impl RequestId {
    pub fn new() -> RequestId {
        RequestId(uuid::Uuid::now_v7())
    }
}

impl Default for RequestId {
    fn default() -> RequestId {
        RequestId::new()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// The structured `details` object of an error. Keys render in ascending order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Details {
    /// `{"error":"…"}`: a parser's or token parser's text.
    Error(String),
    /// `{"namespace":"…"}`: the namespace a rejected token named.
    Namespace(String),
    /// `{"actual":a,"expected":e,"stream":"s"}`.
    VersionConflict {
        actual: i64,
        expected: i64,
        stream: String,
    },
    /// `{"id":"…","stream":"…"}`.
    DuplicateMessageId { id: String, stream: String },
    /// `{"globalPosition":g,"stream":"…","type":"…"}`: the message that failed a condition.
    ConditionMatch {
        global_position: i64,
        stream: String,
        message_type: String,
    },
    /// `{"requestId":"…"}`: the id under which a storage failure's detail was logged.
    RequestId(RequestId),
}

/// The storage operation that failed, named as `BACKEND_ERROR` messages spell it (§5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    WriteMessage,
    ReadStream,
    ReadLastMessage,
    ReadStreamVersion,
    ReadCategory,
    CreateNamespace,
    DeleteNamespace,
    ListNamespaces,
    GetNamespaceInfo,
    ListStreams,
    ListCategories,
    DeleteMessages,
    ListDeletions,
    /// The registry lookup that authentication does; not an RPC, so not in the SPEC's list.
    Authenticate,
    /// Reading the head for a live-only `/subscribe`; not an RPC either.
    Subscribe,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::WriteMessage => "write message",
            Op::ReadStream => "read stream",
            Op::ReadLastMessage => "read last message",
            Op::ReadStreamVersion => "read stream version",
            Op::ReadCategory => "read category",
            Op::CreateNamespace => "create namespace",
            Op::DeleteNamespace => "delete namespace",
            Op::ListNamespaces => "list namespaces",
            Op::GetNamespaceInfo => "get namespace info",
            Op::ListStreams => "list streams",
            Op::ListCategories => "list categories",
            Op::DeleteMessages => "delete messages",
            Op::ListDeletions => "list deletions",
            Op::Authenticate => "authenticate",
            Op::Subscribe => "subscribe",
        }
    }
}

/// An error answer: code, human message, optional details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: Cow<'static, str>,
    pub details: Option<Details>,
    /// What went wrong underneath, for the log only: never rendered into the answer.
    pub cause: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            details: None,
            cause: None,
        }
    }

    /// A storage failure with `code`: the message is all the client learns, `cause` goes to
    /// the log, and a fresh request id links the two (SPEC §16.2).
    pub fn storage_failure(
        code: ErrorCode,
        message: impl Into<Cow<'static, str>>,
        cause: impl fmt::Display,
    ) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            details: Some(Details::RequestId(RequestId::new())),
            cause: Some(cause.to_string()),
        }
    }

    /// The request id of a storage failure.
    pub fn request_id(&self) -> Option<RequestId> {
        match self.details {
            Some(Details::RequestId(id)) => Some(id),
            _ => None,
        }
    }

    pub fn with_details(mut self, details: Details) -> ApiError {
        self.details = Some(details);
        self
    }

    /// A 400 `INVALID_REQUEST` with this message.
    pub fn invalid(message: impl Into<Cow<'static, str>>) -> ApiError {
        ApiError::new(ErrorCode::InvalidRequest, message)
    }

    /// 403 `Admin token required` (SPEC §4.5).
    pub fn admin_required() -> ApiError {
        ApiError::new(ErrorCode::AuthUnauthorized, "Admin token required")
    }

    /// 500 `INTERNAL_ERROR`; the cause is logged by the caller.
    pub fn internal() -> ApiError {
        ApiError::new(ErrorCode::InternalError, "Internal server error")
    }

    /// Maps a store failure during `op` to its API answer.
    pub fn from_store(op: Op, error: StoreError) -> ApiError {
        match error {
            StoreError::NamespaceNotFound(id) => ApiError::new(
                ErrorCode::NamespaceNotFound,
                format!("Namespace '{id}' not found"),
            ),
            StoreError::NamespaceExists(id) => ApiError::new(
                ErrorCode::NamespaceExists,
                format!("Namespace '{id}' already exists"),
            ),
            StoreError::VersionConflict {
                stream,
                expected,
                actual,
            } => ApiError::new(
                ErrorCode::StreamVersionConflict,
                format!("Expected version {expected}, stream is at version {actual}"),
            )
            .with_details(Details::VersionConflict {
                actual,
                expected,
                stream: stream.into_string(),
            }),
            StoreError::DuplicateMessageId { id, stream } => ApiError::new(
                ErrorCode::DuplicateMessageId,
                format!("Message id {id} already exists in stream {stream}"),
            )
            .with_details(Details::DuplicateMessageId {
                id: id.to_string(),
                stream,
            }),
            StoreError::AppendConditionFailed(found) => ApiError::new(
                ErrorCode::AppendConditionFailed,
                format!(
                    "Append condition failed: a matching message was written at global position {}",
                    found.global_position
                ),
            )
            .with_details(Details::ConditionMatch {
                global_position: found.global_position,
                stream: found.stream,
                message_type: found.message_type,
            }),
            StoreError::Backend(detail) => ApiError::storage_failure(
                ErrorCode::BackendError,
                format!("Failed to {}", op.as_str()),
                detail,
            ),
        }
    }

    /// The JSON envelope, ending in one newline.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(64 + self.message.len());
        out.push_str(r#"{"error":{"code":""#);
        out.push_str(self.code.as_str());
        out.push_str(r#"","message":"#);
        wire::push_str(&mut out, &self.message);
        if let Some(details) = &self.details {
            out.push_str(r#","details":"#);
            push_details(&mut out, details);
        }
        out.push_str("}}\n");
        out
    }
}

fn push_details(out: &mut String, details: &Details) {
    match details {
        Details::Error(text) => {
            out.push_str(r#"{"error":"#);
            wire::push_str(out, text);
        }
        Details::Namespace(id) => {
            out.push_str(r#"{"namespace":"#);
            wire::push_str(out, id);
        }
        Details::VersionConflict {
            actual,
            expected,
            stream,
        } => {
            out.push_str(r#"{"actual":"#);
            wire::push_i64(out, *actual);
            out.push_str(r#","expected":"#);
            wire::push_i64(out, *expected);
            out.push_str(r#","stream":"#);
            wire::push_str(out, stream);
        }
        Details::DuplicateMessageId { id, stream } => {
            out.push_str(r#"{"id":"#);
            wire::push_str(out, id);
            out.push_str(r#","stream":"#);
            wire::push_str(out, stream);
        }
        Details::ConditionMatch {
            global_position,
            stream,
            message_type,
        } => {
            out.push_str(r#"{"globalPosition":"#);
            wire::push_i64(out, *global_position);
            out.push_str(r#","stream":"#);
            wire::push_str(out, stream);
            out.push_str(r#","type":"#);
            wire::push_str(out, message_type);
        }
        Details::RequestId(id) => {
            out.push_str(r#"{"requestId":"#);
            wire::push_str(out, &id.to_string());
        }
    }
    out.push('}');
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.code.status();
        if status.is_server_error() {
            // The detail goes to the log, under the request id the answer carries.
            let error = self.cause.as_deref().unwrap_or(&self.message);
            match self.request_id() {
                Some(request_id) => tracing::error!(
                    code = self.code.as_str(),
                    %request_id,
                    message = %self.message,
                    error,
                    "request failed"
                ),
                None => tracing::error!(code = self.code.as_str(), error, "request failed"),
            }
        }
        let mut response = (status, self.to_json()).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        match self.code {
            ErrorCode::MethodNotAllowed => {
                headers.insert(ALLOW, HeaderValue::from_static("POST"));
            }
            // The rest of an over-long or overdue body is not read, so the connection cannot
            // be reused.
            ErrorCode::PayloadTooLarge | ErrorCode::RequestTimeout => {
                headers.insert(CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}

/// The exact 404 for unknown or disabled paths (SPEC §3); unlike other envelopes it has no
/// trailing newline.
pub const NOT_FOUND_BODY: &str = r#"{"error":{"code":"NOT_FOUND","message":"Endpoint not found"}}"#;

#[cfg(test)]
mod tests {
    use super::*;
    use messagedb_core::{MessageId, NamespaceId, StreamName};
    use std::sync::Arc;

    #[test]
    fn table_has_the_spec_statuses() {
        let cases = [
            (ErrorCode::InvalidRequest, "INVALID_REQUEST", 400),
            (ErrorCode::MethodNotAllowed, "INVALID_REQUEST", 405),
            (ErrorCode::MethodNotFound, "METHOD_NOT_FOUND", 404),
            (ErrorCode::NotFound, "NOT_FOUND", 404),
            (ErrorCode::AuthRequired, "AUTH_REQUIRED", 401),
            (ErrorCode::AuthInvalidToken, "AUTH_INVALID_TOKEN", 401),
            (ErrorCode::AuthUnauthorized, "AUTH_UNAUTHORIZED", 403),
            (ErrorCode::NamespaceNotFound, "NAMESPACE_NOT_FOUND", 404),
            (ErrorCode::NamespaceExists, "NAMESPACE_EXISTS", 409),
            (
                ErrorCode::StreamVersionConflict,
                "STREAM_VERSION_CONFLICT",
                409,
            ),
            (ErrorCode::DuplicateMessageId, "DUPLICATE_MESSAGE_ID", 409),
            (
                ErrorCode::AppendConditionFailed,
                "APPEND_CONDITION_FAILED",
                409,
            ),
            (ErrorCode::PayloadTooLarge, "PAYLOAD_TOO_LARGE", 413),
            (ErrorCode::BackendError, "BACKEND_ERROR", 500),
            (ErrorCode::InternalError, "INTERNAL_ERROR", 500),
            (ErrorCode::ClearFailed, "CLEAR_FAILED", 500),
            (ErrorCode::ReadError, "READ_ERROR", 200),
            (ErrorCode::InvalidJson, "INVALID_JSON", 200),
            (ErrorCode::InvalidRecord, "INVALID_RECORD", 200),
            (ErrorCode::PositionExists, "POSITION_EXISTS", 200),
            (ErrorCode::ImportFailed, "IMPORT_FAILED", 200),
        ];
        for (code, text, status) in cases {
            assert_eq!(code.as_str(), text);
            assert_eq!(code.status().as_u16(), status, "{text}");
        }
    }

    #[test]
    fn envelope_shapes() {
        assert_eq!(
            ApiError::invalid("Missing method name").to_json(),
            "{\"error\":{\"code\":\"INVALID_REQUEST\",\"message\":\"Missing method name\"}}\n"
        );
        let conflict = ApiError::from_store(
            Op::WriteMessage,
            StoreError::VersionConflict {
                stream: StreamName::parse("account-1").unwrap(),
                expected: -1,
                actual: 0,
            },
        );
        assert_eq!(
            conflict.to_json(),
            concat!(
                r#"{"error":{"code":"STREAM_VERSION_CONFLICT","message":"Expected version -1, stream is at version 0","#,
                r#""details":{"actual":0,"expected":-1,"stream":"account-1"}}}"#,
                "\n"
            )
        );
        let id = MessageId::parse("0190F2C4-3B1E-7C2A-9D4E-1F2A3B4C5D6E").unwrap();
        let dup = ApiError::from_store(
            Op::WriteMessage,
            StoreError::DuplicateMessageId {
                id,
                stream: "a\"b".into(),
            },
        );
        assert_eq!(
            dup.to_json(),
            concat!(
                r#"{"error":{"code":"DUPLICATE_MESSAGE_ID","message":"Message id 0190f2c4-3b1e-7c2a-9d4e-1f2a3b4c5d6e already exists in stream a\"b","#,
                r#""details":{"id":"0190f2c4-3b1e-7c2a-9d4e-1f2a3b4c5d6e","stream":"a\"b"}}}"#,
                "\n"
            )
        );
    }

    #[test]
    fn store_errors_map_to_codes_and_messages() {
        let id = NamespaceId::parse("tenant-a").unwrap();
        let e = ApiError::from_store(
            Op::GetNamespaceInfo,
            StoreError::NamespaceNotFound(id.clone()),
        );
        assert_eq!(
            (e.code, e.message.as_ref()),
            (
                ErrorCode::NamespaceNotFound,
                "Namespace 'tenant-a' not found"
            )
        );
        let e = ApiError::from_store(Op::CreateNamespace, StoreError::NamespaceExists(id));
        assert_eq!(
            (e.code, e.message.as_ref()),
            (
                ErrorCode::NamespaceExists,
                "Namespace 'tenant-a' already exists"
            )
        );
        let io = std::io::Error::other("disk on fire");
        let e = ApiError::from_store(Op::ReadCategory, StoreError::Backend(Arc::new(io)));
        assert_eq!(
            (e.code, e.message.as_ref(), e.cause.as_deref()),
            (
                ErrorCode::BackendError,
                "Failed to read category",
                Some("disk on fire")
            )
        );
        assert!(e.request_id().is_some());
    }

    #[test]
    fn a_backend_error_shows_its_request_id_and_not_its_cause() {
        let detail = std::io::Error::other("relation \"messages\" does not exist at /var/lib/x");
        let e = ApiError::from_store(Op::WriteMessage, StoreError::Backend(Arc::new(detail)));
        let id = e.request_id().unwrap().to_string();
        assert_eq!(
            e.to_json(),
            format!(
                r#"{{"error":{{"code":"BACKEND_ERROR","message":"Failed to write message","details":{{"requestId":"{id}"}}}}}}"#
            ) + "\n"
        );
        let again = ApiError::from_store(
            Op::WriteMessage,
            StoreError::Backend(Arc::new(std::io::Error::other("x"))),
        );
        assert_ne!(again.request_id(), e.request_id(), "one id per failure");
    }
}

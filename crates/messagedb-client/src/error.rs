//! What can go wrong with a call: the server said no ([`ClientError::Api`]), or the exchange
//! itself failed.

use std::fmt;

use serde::Deserialize;

/// A JSON error envelope from the server (SPEC §5.3):
/// `{"error":{"code":…,"message":…,"details":…}}`, plus the HTTP status it came with.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The HTTP status, e.g. 409.
    pub status: u16,
    /// The stable error code, e.g. `STREAM_VERSION_CONFLICT`.
    pub code: String,
    /// The human-readable message.
    pub message: String,
    /// Structured details, when the server sent any.
    pub details: Option<serde_json::Value>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with a JSON error envelope.
    #[error("HTTP {}: {}", .0.status, .0)]
    Api(ApiError),
    /// The server answered with a non-success status whose body is not an error envelope.
    #[error("HTTP {status}: {body}")]
    UnexpectedResponse { status: u16, body: String },
    /// The request could not be sent or the response could not be read (connection refused or
    /// reset, timeout, protocol error). The server may or may not have applied the request.
    #[error("request failed: {0}")]
    Transport(#[source] reqwest::Error),
    /// Like [`ClientError::Transport`], on a [`Connection`](crate::Connection): connecting,
    /// sending or reading failed, or no response came in time.
    #[error("connection failed: {0}")]
    Connection(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The request could not be encoded as JSON.
    #[error("cannot encode the request: {0}")]
    Encode(#[source] serde_json::Error),
    /// A success response whose body is not the expected JSON.
    #[error("cannot decode the response: {0}")]
    Decode(#[source] serde_json::Error),
    /// The token contains characters that cannot appear in an HTTP header.
    #[error("the token cannot be sent in an HTTP header")]
    InvalidToken,
}

impl ClientError {
    /// The server's error envelope, if the server sent one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            ClientError::Api(err) => Some(err),
            _ => None,
        }
    }

    /// The HTTP status, if a response arrived.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api(err) => Some(err.status),
            ClientError::UnexpectedResponse { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The API error code (`AUTH_UNAUTHORIZED`, …), if the server sent one.
    pub fn code(&self) -> Option<&str> {
        self.api().map(|err| err.code.as_str())
    }

    /// Interprets a non-success response.
    pub(crate) fn from_error_response(status: u16, body: &[u8]) -> ClientError {
        #[derive(Deserialize)]
        struct Envelope {
            error: Body,
        }
        #[derive(Deserialize)]
        struct Body {
            code: String,
            message: String,
            #[serde(default)]
            details: Option<serde_json::Value>,
        }
        match serde_json::from_slice::<Envelope>(body) {
            Ok(Envelope { error }) => ClientError::Api(ApiError {
                status,
                code: error.code,
                message: error.message,
                details: error.details,
            }),
            Err(_) => ClientError::UnexpectedResponse {
                status,
                body: String::from_utf8_lossy(body).into_owned(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_become_api_errors() {
        let body = br#"{"error":{"code":"STREAM_VERSION_CONFLICT","message":"Expected version 5, stream is at version 7","details":{"actual":7,"expected":5,"stream":"a-1"}}}
"#;
        let err = ClientError::from_error_response(409, body);
        let api = err.api().unwrap();
        assert_eq!(api.status, 409);
        assert_eq!(api.code, "STREAM_VERSION_CONFLICT");
        assert_eq!(api.message, "Expected version 5, stream is at version 7");
        assert_eq!(api.details.as_ref().unwrap()["actual"], 7);
        assert_eq!(
            err.to_string(),
            "HTTP 409: STREAM_VERSION_CONFLICT: Expected version 5, stream is at version 7"
        );
        assert_eq!(err.code(), Some("STREAM_VERSION_CONFLICT"));
    }

    #[test]
    fn envelopes_without_details() {
        let err = ClientError::from_error_response(
            404,
            br#"{"error":{"code":"NOT_FOUND","message":"Endpoint not found"}}"#,
        );
        assert_eq!(err.api().unwrap().details, None);
        assert_eq!(err.status(), Some(404));
    }

    #[test]
    fn other_bodies_are_kept_as_text() {
        let err = ClientError::from_error_response(502, b"Bad Gateway");
        assert!(
            matches!(&err, ClientError::UnexpectedResponse { status: 502, body } if body == "Bad Gateway")
        );
        assert_eq!(err.code(), None);
        assert_eq!(err.to_string(), "HTTP 502: Bad Gateway");
    }
}

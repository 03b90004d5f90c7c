//! [`Connection`]: one keep-alive HTTP/1.1 connection that sends one RPC at a time, with as
//! little work per request as the protocol allows.
//!
//! [`Client`](crate::Client) goes through reqwest: a connection pool, URL handling per request,
//! redirects, proxies. That is what an application wants. A load generator wants the opposite,
//! because it shares the machine with the server it measures and every microsecond it spends is
//! one the server does not get: a `Connection` parses the URL and builds the header values once,
//! and hands each request straight to hyper's HTTP/1 client connection. Measured with
//! `messagedb bench` (reference-mix, 10 workers) on a 2-core machine, this halves the
//! generator's CPU time per request compared with reqwest.

use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::value::RawValue;

use crate::ClientError;

/// How long one request may take before it counts as failed.
const TIMEOUT: Duration = Duration::from_secs(60);

/// One HTTP/1.1 connection to a messagedb (or EventoDB) server, for `POST /rpc` calls one at a
/// time. Plain `http://` only. Dropping it closes the connection.
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    rpc: Uri,
    host: HeaderValue,
    authorization: Option<HeaderValue>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("host", &self.host)
            .field("token", &self.authorization.as_ref().map(|_| "REDACTED"))
            .finish()
    }
}

fn failed(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> ClientError {
    ClientError::Connection(error.into())
}

impl Connection {
    /// Connects to the server at `base_url` (`http://host:port`, a trailing `/` is fine) and
    /// authenticates every call with `token`, if any, as `Authorization: Bearer <token>`. The
    /// connection's I/O runs on a spawned tokio task.
    pub async fn open(base_url: &str, token: Option<&str>) -> Result<Connection, ClientError> {
        let base: Uri = base_url
            .trim_end_matches('/')
            .parse()
            .map_err(|e: http::uri::InvalidUri| failed(format!("invalid URL {base_url}: {e}")))?;
        if base.scheme_str() != Some("http") {
            return Err(failed(format!(
                "{base_url}: a Connection speaks plain http:// only"
            )));
        }
        let authority = base
            .authority()
            .ok_or_else(|| failed(format!("{base_url}: no host")))?
            .clone();
        let port = authority.port_u16().unwrap_or(80);
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let prefix = base.path().trim_end_matches('/');
        let rpc: Uri = format!("{prefix}/rpc")
            .parse()
            .map_err(|e: http::uri::InvalidUri| failed(e))?;
        let authorization = token.map(crate::bearer).transpose()?;

        let stream = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(failed)?;
        stream.set_nodelay(true).map_err(failed)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(failed)?;
        tokio::spawn(async move {
            // Ends when the server closes the connection or the sender is dropped; a failure
            // shows up as an error on the next call.
            let _ = connection.await;
        });
        Ok(Connection {
            sender,
            rpc,
            host: HeaderValue::from_str(authority.as_str()).map_err(failed)?,
            authorization,
        })
    }

    /// Sends `body` (a JSON RPC request, e.g. `["sys.version"]`) and returns the response's
    /// JSON text on success, or the server's error.
    pub async fn call_body(&mut self, body: Vec<u8>) -> Result<Box<RawValue>, ClientError> {
        let authorization = self.authorization.clone();
        self.send(body, authorization.as_ref()).await
    }

    /// One request with `authorization`, if any; the shared body of the `call_body` methods.
    async fn send(
        &mut self,
        body: Vec<u8>,
        authorization: Option<&HeaderValue>,
    ) -> Result<Box<RawValue>, ClientError> {
        let mut request = Request::new(Full::new(Bytes::from(body)));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.rpc.clone();
        let headers = request.headers_mut();
        headers.insert(HOST, self.host.clone());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(authorization) = authorization {
            headers.insert(AUTHORIZATION, authorization.clone());
        }
        let exchange = async {
            self.sender.ready().await.map_err(failed)?;
            let response = self.sender.send_request(request).await.map_err(failed)?;
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(failed)?
                .to_bytes();
            Ok::<_, ClientError>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| failed(format!("no response within {TIMEOUT:?}")))??;
        if !status.is_success() {
            return Err(ClientError::from_error_response(status.as_u16(), &bytes));
        }
        serde_json::from_slice(&bytes).map_err(ClientError::Decode)
    }
}

/// An `Authorization: Bearer <token>` value built once, for [`Connection::call_body_as`]: a caller
/// that spreads its requests over many namespaces (one token each) on one connection builds one
/// per token up front instead of formatting a header per request. `Debug` hides the token.
#[derive(Clone)]
pub struct Bearer(HeaderValue);

impl Bearer {
    /// The credentials of `token`; [`ClientError::InvalidToken`] when it cannot be a header value.
    pub fn new(token: &str) -> Result<Bearer, ClientError> {
        crate::bearer(token).map(Bearer)
    }
}

impl std::fmt::Debug for Bearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bearer(REDACTED)")
    }
}

impl Connection {
    /// [`Connection::call_body`] authenticated with `bearer` instead of the connection's own
    /// token, so one keep-alive connection can serve many namespaces.
    pub async fn call_body_as(
        &mut self,
        body: Vec<u8>,
        bearer: &Bearer,
    ) -> Result<Box<RawValue>, ClientError> {
        self.send(body, Some(&bearer.0)).await
    }
}

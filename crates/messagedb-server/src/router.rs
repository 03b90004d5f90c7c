//! Routing (SPEC §3) and the edge every request passes: the `Server` header, the request log,
//! and the panic guard.
//!
//! Paths match exactly (no trailing-slash normalisation, query ignored); anything else, or a
//! disabled endpoint, gets the fixed 404 body. Handlers that need credentials take a [`Caller`],
//! so authentication always runs first; `/rpc` checks the HTTP method only after it (§5.1).
//! `/subscribe` takes any method, like EventoDB.
//!
//! `POST /rpc`, nearly every request a server sees, skips the axum router: [`handle`] runs the
//! same extractor and handler directly, saving the route lookup, its request extensions and two
//! boxed futures per call. Every other request, including `/rpc` with another method, goes
//! through the router as before.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use bytes::{Bytes, BytesMut};
use futures::future::Either;
use futures::FutureExt;
use http::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, EXPECT, SERVER};
use http::{HeaderMap, StatusCode, Uri};
use http_body_util::BodyExt;
use messagedb_core::VERSION;
use tower::ServiceExt;

use crate::auth::Caller;
use crate::connection::{Arrival, REQUEST_DEADLINE};
use crate::error::{ApiError, ErrorCode, NOT_FOUND_BODY};
use crate::rpc::{self, Ctx};
use crate::{alloc_scope, console, debug, import, metrics, sse, AppState};

/// How much of an over-limit body is read and discarded so the client sees the 413 instead of a
/// reset connection; beyond this the connection is simply closed after the answer.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

/// What a connection serves: the routes, and the state for the direct `/rpc` path.
#[derive(Clone)]
pub struct App {
    router: Router,
    state: AppState,
}

impl App {
    pub fn new(state: AppState) -> App {
        App {
            router: build(state.clone()),
            state,
        }
    }
}

/// The application's routes for this configuration.
pub fn build(state: AppState) -> Router {
    let config = state.config();
    let mut router = Router::new()
        .route("/health", any(health))
        .route("/version", any(version))
        .route("/rpc", any(rpc_endpoint))
        .route("/subscribe", any(sse::subscribe))
        .route("/import", any(import::import));
    if config.metrics {
        router = router.route("/metrics", any(metrics_endpoint));
    }
    if config.debug_endpoints {
        router = router
            .route("/debug/pprof/profile", any(debug::profile))
            .route("/debug/pprof/allocs", any(debug::allocs));
    }
    if config.console {
        router = console::routes(router);
    }
    router.fallback(not_found).with_state(state)
}

/// Runs one request through the router, catching panics, adding `Server`, and logging it.
pub async fn handle(app: App, request: Request) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let target = log_target(request.uri());
    let endpoint = if method == http::Method::POST && request.uri().path() == "/rpc" {
        Either::Left(rpc_direct(app.state, request))
    } else {
        Either::Right(app.router.oneshot(request))
    };
    let outcome = AssertUnwindSafe(alloc_scope::instrument(endpoint))
        .catch_unwind()
        .await;
    let mut response = match outcome {
        Ok(Ok(response)) => response,
        Ok(Err(infallible)) => match infallible {},
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(panic = %message, path = %target, "request handler panicked");
            ApiError::internal().into_response()
        }
    };
    response.headers_mut().insert(SERVER, server_header());
    let status = response.status().as_u16();
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::error!(target: REQUEST_LOG_TARGET, method = %method, path = %target, status, duration_ms, "HTTP request");
    } else {
        tracing::info!(target: REQUEST_LOG_TARGET, method = %method, path = %target, status, duration_ms, "HTTP request");
    }
    response
}

/// The target of the one `HTTP request` record per request (SPEC §11.2). Log writers may treat
/// these records apart (the binary batches their writes); the name is the module's own path,
/// which is what the records showed before it was named.
pub const REQUEST_LOG_TARGET: &str = "messagedb_server::router";

/// `messagedb/<version>`, the `Server` header of every response (SPEC §3).
pub(crate) fn server_header() -> HeaderValue {
    static VALUE: std::sync::OnceLock<HeaderValue> = std::sync::OnceLock::new();
    VALUE
        .get_or_init(|| {
            HeaderValue::from_str(&format!("messagedb/{VERSION}"))
                .unwrap_or_else(|_| HeaderValue::from_static("messagedb"))
        })
        .clone()
}

/// The path and query for the request log, with every `token` parameter's value redacted.
pub fn log_target(uri: &Uri) -> String {
    let path = uri.path();
    let Some(query) = uri.query() else {
        return path.to_owned();
    };
    let mut out = String::with_capacity(path.len() + 1 + query.len());
    out.push_str(path);
    out.push('?');
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        let key = pair.split_once('=').map_or(pair, |(k, _)| k);
        let decoded: String = form_urlencoded::parse(key.as_bytes())
            .next()
            .map(|(k, _)| k.into_owned())
            .unwrap_or_default();
        if decoded == "token" {
            out.push_str(key);
            out.push_str("=REDACTED");
        } else {
            out.push_str(pair);
        }
    }
    out
}

fn json(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut response = (status, body.into()).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

async fn health() -> Response {
    json(StatusCode::OK, r#"{"status":"ok"}"#)
}

async fn version() -> Response {
    json(StatusCode::OK, format!(r#"{{"version":"{VERSION}"}}"#))
}

async fn not_found() -> Response {
    json(StatusCode::NOT_FOUND, NOT_FOUND_BODY)
}

async fn metrics_endpoint(State(state): State<AppState>) -> Response {
    let mut response = metrics::render(&state).await.into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(metrics::CONTENT_TYPE),
    );
    response
}

/// `POST /rpc` without the router: the extractors and handler its route would run.
async fn rpc_direct(
    state: AppState,
    request: Request,
) -> Result<Response, std::convert::Infallible> {
    let (mut parts, body) = request.into_parts();
    let caller = match Caller::from_request_parts(&mut parts, &state).await {
        Ok(caller) => caller,
        Err(rejection) => return Ok(rejection.into_response()),
    };
    let request = Request::from_parts(parts, body);
    Ok(rpc_endpoint(State(state), caller, request).await)
}

/// `/rpc` (§5.1): authenticate (the extractor), then method, body limit, envelope, arguments,
/// authorization, execution.
async fn rpc_endpoint(State(state): State<AppState>, caller: Caller, request: Request) -> Response {
    if request.method() != http::Method::POST {
        return ApiError::new(ErrorCode::MethodNotAllowed, "Only POST method allowed")
            .into_response();
    }
    let deadline = request
        .extensions()
        .get::<Arrival>()
        .map_or_else(tokio::time::Instant::now, |a| a.0)
        + REQUEST_DEADLINE;
    let body = match read_body(request, state.config().max_body_bytes, deadline).await {
        Ok(body) => body,
        Err(e) => return e.into_response(),
    };
    let started = Instant::now();
    let (method, result) = match rpc::parse_request(&body) {
        Ok(parsed) => {
            drop(body);
            alloc_scope::set_method(parsed.method());
            let method = parsed.method().name();
            let ctx = Ctx {
                state: &state,
                caller: &caller,
            };
            (method, rpc::apply(parsed, &ctx).await)
        }
        Err(e) => ("invalid", Err(e)),
    };
    let code = result.as_ref().map_or_else(|e| e.code.as_str(), |_| "ok");
    metrics::rpc_finished(method, code, started.elapsed());
    match result {
        Ok(result) => json(StatusCode::OK, result),
        Err(e) => e.into_response(),
    }
}

/// Reads a `/rpc` body of at most `limit` bytes before `deadline` (§3, §5.1 step 3).
async fn read_body(
    request: Request,
    limit: usize,
    deadline: tokio::time::Instant,
) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("Request body exceeds {limit} bytes"),
        )
    };
    let declared = declared_length(request.headers());
    let over_declared = declared.is_some_and(|n| n > limit);
    // A client waiting for `100 Continue` has sent nothing yet: refuse before it does.
    if over_declared && expects_continue(request.headers()) {
        return Err(too_large());
    }
    let mut body = request.into_body();
    let read = async move {
        let mut first: Option<Bytes> = None;
        let mut rest: Option<BytesMut> = None;
        let mut total = 0usize;
        let mut over = over_declared;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                ApiError::invalid("Failed to read request body")
                    .with_details(crate::error::Details::Error(e.to_string()))
            })?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            total = total.saturating_add(data.len());
            if over || total > limit {
                over = true;
                if total > limit.saturating_add(DRAIN_LIMIT) {
                    break;
                }
                continue;
            }
            match (&mut first, &mut rest) {
                (None, _) => first = Some(data),
                (Some(head), None) => {
                    let capacity = declared.unwrap_or(total).clamp(total, limit);
                    let mut buf = BytesMut::with_capacity(capacity);
                    buf.extend_from_slice(head);
                    buf.extend_from_slice(&data);
                    rest = Some(buf);
                }
                (Some(_), Some(buf)) => buf.extend_from_slice(&data),
            }
        }
        if over {
            return Err(too_large());
        }
        Ok(match rest {
            Some(buf) => buf.freeze(),
            None => first.unwrap_or_default(),
        })
    };
    match tokio::time::timeout_at(deadline, read).await {
        Ok(result) => result,
        Err(_) => Err(ApiError::new(
            ErrorCode::RequestTimeout,
            "Request not received completely within 30 seconds",
        )),
    }
}

fn declared_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_targets_redact_tokens() {
        let cases = [
            ("/rpc", "/rpc"),
            (
                "/subscribe?stream=a&token=ns_abc_123",
                "/subscribe?stream=a&token=REDACTED",
            ),
            (
                "/x?token=a&token=b&t=1",
                "/x?token=REDACTED&token=REDACTED&t=1",
            ),
            ("/x?tok%65n=secret", "/x?tok%65n=REDACTED"),
            ("/x?token", "/x?token=REDACTED"),
            ("/x?tokens=1", "/x?tokens=1"),
        ];
        for (uri, expected) in cases {
            let uri: Uri = uri.parse().unwrap();
            assert_eq!(log_target(&uri), expected);
        }
    }
}

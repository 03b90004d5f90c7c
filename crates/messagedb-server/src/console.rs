//! The built-in web console: `/console` and its two assets, compiled into the binary.
//!
//! The console is a small TypeScript app (sources in `console/` at the repository root) whose
//! built bundle is committed in `console-dist/` and embedded here with `include_bytes!`, so
//! `cargo build` needs no Node and the server needs no files at run time. The assets hold no
//! data, so they need no credentials; the page signs in with a token and then calls `/rpc` and
//! `/subscribe` like any other client. This is an extension to SPEC §3: with `console` off the
//! paths fall through to the ordinary 404, and no SPEC-listed route changes.
//!
//! Routing stays exact-path like every other route: `/console` is the page, and it loads
//! `/console/app.js` and `/console/app.css` through relative URLs (so a reverse proxy may mount
//! messagedb under a prefix). Responses carry a strong `ETag` computed at compile time and
//! `Cache-Control: no-cache`, so browsers revalidate cheaply (304) and never run a stale bundle
//! after an upgrade. A strict Content-Security-Policy allows only these same-origin scripts and
//! styles, and the page's own `fetch`/`EventSource` to the server.

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use http::header::{
    HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH,
    REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use http::{Method, StatusCode};

use crate::error::{ApiError, ErrorCode};
use crate::AppState;

/// One embedded file.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    etag: &'static str,
}

/// The FNV-1a hash of `bytes`, for the `ETag` (a cache validator, not a security measure).
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

/// `"<16 hex digits>"`: a quoted strong entity tag for `bytes`.
const fn etag(bytes: &[u8]) -> [u8; 18] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let hash = fnv1a(bytes);
    let mut out = [b'"'; 18];
    let mut i = 0;
    while i < 16 {
        out[1 + i] = HEX[((hash >> (60 - 4 * i)) & 0xf) as usize];
        i += 1;
    }
    out
}

macro_rules! asset {
    ($path:literal, $file:literal, $content_type:literal) => {{
        const BODY: &[u8] = include_bytes!(concat!("../console-dist/", $file));
        const TAG: [u8; 18] = etag(BODY);
        Asset {
            path: $path,
            content_type: $content_type,
            body: BODY,
            etag: match std::str::from_utf8(&TAG) {
                Ok(tag) => tag,
                Err(_) => panic!("an ETag is ASCII"),
            },
        }
    }};
}

static ASSETS: [Asset; 3] = [
    asset!("/console", "index.html", "text/html; charset=utf-8"),
    asset!(
        "/console/app.js",
        "app.js",
        "text/javascript; charset=utf-8"
    ),
    asset!("/console/app.css", "app.css", "text/css; charset=utf-8"),
];

/// What the page may load and connect to: only itself and the server it came from.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Adds the console's routes to `router`.
pub fn routes(router: Router<AppState>) -> Router<AppState> {
    ASSETS.iter().fold(router, |router, asset| {
        router.route(
            asset.path,
            any(move |request: Request| serve(asset, request)),
        )
    })
}

async fn serve(asset: &'static Asset, request: Request) -> Response {
    let method = request.method();
    if method != Method::GET && method != Method::HEAD {
        let mut response =
            ApiError::new(ErrorCode::MethodNotAllowed, "Only GET and HEAD are allowed")
                .into_response();
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let fresh = request
        .headers()
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| matches_etag(tags, asset.etag));
    let (status, body) = if fresh {
        (StatusCode::NOT_MODIFIED, Body::empty())
    } else if method == Method::HEAD {
        (StatusCode::OK, Body::empty())
    } else {
        (StatusCode::OK, Body::from(asset.body))
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(ETAG, HeaderValue::from_static(asset.etag));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if status == StatusCode::OK {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    }
    if asset.content_type.starts_with("text/html") {
        headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
        headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    }
    response
}

/// Whether an `If-None-Match` value (`*` or a list of tags, weak ones allowed) names `etag`.
fn matches_etag(header: &str, etag: &str) -> bool {
    header
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;
    use crate::error::NOT_FOUND_BODY;
    use crate::{router, ServerConfig};

    fn app(console: bool) -> Router {
        let store = messagedb_sqlite::SqliteStore::open_in_memory().expect("in-memory store");
        let config = ServerConfig {
            console,
            ..ServerConfig::default()
        };
        router::build(AppState::new(Arc::new(store), config))
    }

    async fn send(router: &Router, method: Method, path: &str, etag: Option<&str>) -> Response {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(tag) = etag {
            request = request.header(IF_NONE_MATCH, tag);
        }
        let request = request.body(Body::empty()).expect("request");
        router.clone().oneshot(request).await.expect("infallible")
    }

    async fn body(response: Response) -> Vec<u8> {
        response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec()
    }

    fn header(response: &Response, name: http::HeaderName) -> &str {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    #[tokio::test]
    async fn serves_the_page_and_its_assets_without_credentials() {
        let router = app(true);
        for (path, content_type, needle) in [
            ("/console", "text/html; charset=utf-8", "console/app.js"),
            (
                "/console?x=1",
                "text/html; charset=utf-8",
                "console/app.css",
            ),
            (
                "/console/app.js",
                "text/javascript; charset=utf-8",
                "stream.write",
            ),
            ("/console/app.css", "text/css; charset=utf-8", ".j-key"),
        ] {
            let response = send(&router, Method::GET, path, None).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert_eq!(header(&response, CONTENT_TYPE), content_type, "{path}");
            assert_eq!(header(&response, CACHE_CONTROL), "no-cache", "{path}");
            assert_eq!(header(&response, X_CONTENT_TYPE_OPTIONS), "nosniff");
            let etag = header(&response, ETAG).to_owned();
            assert!(etag.len() == 18 && etag.starts_with('"'), "{etag}");
            let text = String::from_utf8(body(response).await).expect("UTF-8 asset");
            assert!(text.contains(needle), "{path} lacks {needle}");
        }
        let page = send(&router, Method::GET, "/console", None).await;
        assert!(header(&page, CONTENT_SECURITY_POLICY).contains("script-src 'self'"));
        assert_eq!(header(&page, X_FRAME_OPTIONS), "DENY");
    }

    #[tokio::test]
    async fn revalidation_and_head() {
        let router = app(true);
        let first = send(&router, Method::GET, "/console/app.js", None).await;
        let etag = header(&first, ETAG).to_owned();
        for tags in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"x\", {etag}"),
            "*".into(),
        ] {
            let again = send(&router, Method::GET, "/console/app.js", Some(&tags)).await;
            assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{tags}");
            assert_eq!(header(&again, ETAG), etag);
            assert!(body(again).await.is_empty());
        }
        let changed = send(&router, Method::GET, "/console/app.js", Some("\"other\"")).await;
        assert_eq!(changed.status(), StatusCode::OK);

        let head = send(&router, Method::HEAD, "/console", None).await;
        assert_eq!(head.status(), StatusCode::OK);
        assert_eq!(header(&head, CONTENT_TYPE), "text/html; charset=utf-8");
        assert!(body(head).await.is_empty());

        let post = send(&router, Method::POST, "/console", None).await;
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(header(&post, ALLOW), "GET, HEAD");
        assert_eq!(
            body(post).await,
            br#"{"error":{"code":"INVALID_REQUEST","message":"Only GET and HEAD are allowed"}}
"#
        );
    }

    /// Other paths under `/console` (routing is exact), and every console path when the console
    /// is off, are the SPEC §3 404.
    #[tokio::test]
    async fn other_and_disabled_paths_are_the_standard_404() {
        let on = app(true);
        let off = app(false);
        for (router, path) in [
            (&on, "/console/"),
            (&on, "/console/index.html"),
            (&on, "/Console"),
            (&off, "/console"),
            (&off, "/console/app.js"),
            (&off, "/console/app.css"),
        ] {
            let response = send(router, Method::GET, path, None).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
            assert_eq!(header(&response, CONTENT_TYPE), "application/json");
            assert_eq!(body(response).await, NOT_FOUND_BODY.as_bytes(), "{path}");
        }
    }

    #[test]
    fn etags_follow_the_content() {
        assert_eq!(&etag(b""), b"\"cbf29ce484222325\"");
        assert_ne!(etag(b"a"), etag(b"b"));
        let tags: Vec<&str> = ASSETS.iter().map(|a| a.etag).collect();
        assert!(tags[0] != tags[1] && tags[1] != tags[2]);
        assert!(matches_etag(" W/\"x\" , \"y\"", "\"y\""));
        assert!(!matches_etag("\"y\"", "\"z\""));
    }
}

//! The ceiling of `messagedb bench` on this machine: an HTTP/1.1 server that does nothing but
//! answer every request with a constant JSON body, on the same runtime set-up as `messagedb serve`
//! (a multi-threaded tokio runtime, hyper's HTTP/1 connection handling). The issue-7 targets are
//! stated as fractions of what the load generator reaches against such a server:
//!
//! ```sh
//! cargo run --release -p messagedb-bench --example null_server -- 18300 &
//! target/release/messagedb bench --url http://127.0.0.1:18300 --workload reference-mix --workers 10
//! ```

use std::convert::Infallible;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

const BODY: &[u8] = br#"{"position":0,"globalPosition":1}"#;

/// `messagedb bench` asks `sys.version` before it starts; everything else gets [`BODY`].
const VERSION: &[u8] = br#""null-server""#;

async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // Read the body like a real server must before answering.
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let answer = if body.starts_with(b"[\"sys.version\"") {
        VERSION
    } else {
        BODY
    };
    let mut response = Response::new(Full::new(Bytes::from_static(answer)));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(18300);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
            eprintln!("null server on 127.0.0.1:{port}");
            loop {
                let (socket, _) = listener.accept().await?;
                socket.set_nodelay(true)?;
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(socket), hyper::service::service_fn(answer))
                        .await;
                });
            }
        })
}

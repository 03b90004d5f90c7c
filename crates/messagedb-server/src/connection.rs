//! One HTTP/1.1 connection, with the SPEC §3 time limits and graceful shutdown.
//!
//! hyper's own header timer also runs while a keep-alive connection sits idle, so it cannot give
//! both "a request arrives within 30 s" and "idle connections live 120 s". Instead the socket is
//! wrapped to record when bytes move and when a request starts arriving, and a small watcher in
//! the connection task applies the limits: an idle connection is closed gracefully after
//! [`IDLE_TIMEOUT`], and one whose request head has not arrived within [`REQUEST_DEADLINE`] of its
//! first byte is dropped. The `/rpc` handler applies the same deadline to the body, counted from
//! the same first byte ([`Arrival`]). A request counts as being served until its response body
//! has been sent, so a streaming response (`/subscribe`) is never taken for an idle connection
//! and is exempt from the request deadline while it streams.
//!
//! hyper answers a request it cannot parse (400, 414, 431) on its own, without calling the
//! service, so without the `Server` header every response must carry (SPEC §3). The socket
//! wrapper adds it: a write that starts with a response head lacking that header is such an
//! answer (hyper flushes each response before it reads the next request, so a head starts a
//! write; bodies never begin with `HTTP/1.`).

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::router::App;

/// A `/rpc` request must arrive completely within this long of its first byte.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(30);

/// Keep-alive connections with no traffic are closed after this long.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// Request heads up to this size are accepted; larger ones get 431 (SPEC §3 requires ≥ 16 KiB).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// How often the watcher looks again while a request is being served.
const SERVING_RECHECK: Duration = Duration::from_secs(5);

/// When the current request's first byte arrived; a request extension.
#[derive(Debug, Clone, Copy)]
pub struct Arrival(pub Instant);

/// Serves `stream` until it closes, the watcher gives up on it, or (after `shutdown` flips to
/// true) its in-flight request has been answered.
pub async fn serve(stream: TcpStream, app: App, mut shutdown: watch::Receiver<bool>) {
    let activity = Arc::new(Activity::new(Instant::now()));
    let io = TokioIo::new(Monitored {
        io: stream,
        activity: Arc::clone(&activity),
        patched: None,
    });
    let service_activity = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
        let app = app.clone();
        let activity = Arc::clone(&service_activity);
        async move {
            let serving = Serving::begin(activity);
            request.extensions_mut().insert(Arrival(serving.arrival));
            let response = crate::router::handle(app, request.map(Body::new)).await;
            Ok::<_, Infallible>(response.map(|body| InService {
                body,
                _serving: serving,
            }))
        }
    });

    let mut builder = http1::Builder::new();
    builder
        .keep_alive(true)
        .header_read_timeout(None)
        .max_header_size(MAX_HEADER_BYTES);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);

    let mut closing = *shutdown.borrow();
    if closing {
        connection.as_mut().graceful_shutdown();
    }
    loop {
        let now = Instant::now();
        let wake = match activity.verdict(now) {
            Verdict::Wait(at) => at,
            Verdict::CloseIdle => {
                if !closing {
                    closing = true;
                    connection.as_mut().graceful_shutdown();
                }
                now + SERVING_RECHECK
            }
            Verdict::Abort => {
                tracing::debug!("request head not received in time; dropping the connection");
                return;
            }
        };
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            // A closed channel means the server is gone: shut down as well.
            _ = shutdown.changed(), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
            _ = tokio::time::sleep_until(wake), if !closing => {}
        }
    }
}

/// What the watcher should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing yet; look again at this time.
    Wait(Instant),
    /// Idle too long: close gracefully.
    CloseIdle,
    /// A request head is overdue: drop the connection.
    Abort,
}

/// Timing shared between the socket wrapper, the service and the watcher. Times are milliseconds
/// since `base`; `request_started` is 0 when no request is arriving, else its time plus one.
#[derive(Debug)]
pub struct Activity {
    base: Instant,
    in_service: AtomicU32,
    request_started: AtomicU64,
    last_io: AtomicU64,
}

impl Activity {
    pub fn new(base: Instant) -> Activity {
        Activity {
            base,
            in_service: AtomicU32::new(0),
            request_started: AtomicU64::new(0),
            last_io: AtomicU64::new(0),
        }
    }

    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_millis()).unwrap_or(u64::MAX - 1)
    }

    fn instant(&self, millis: u64) -> Instant {
        self.base + Duration::from_millis(millis)
    }

    /// Bytes arrived at `now`. Outside a request, they are the start of the next one.
    pub fn on_read(&self, now: Instant) {
        let ms = self.millis(now);
        self.last_io.store(ms, Ordering::Relaxed);
        if self.in_service.load(Ordering::Acquire) == 0 {
            let _ = self.request_started.compare_exchange(
                0,
                ms + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
        }
    }

    pub fn on_write(&self, now: Instant) {
        self.last_io.store(self.millis(now), Ordering::Relaxed);
    }

    pub fn verdict(&self, now: Instant) -> Verdict {
        let now_ms = self.millis(now);
        if self.in_service.load(Ordering::Acquire) > 0 {
            return Verdict::Wait(now + SERVING_RECHECK);
        }
        let deadline_ms = REQUEST_DEADLINE.as_millis() as u64;
        match self.request_started.load(Ordering::Acquire) {
            0 => {
                let idle_until =
                    self.last_io.load(Ordering::Relaxed) + IDLE_TIMEOUT.as_millis() as u64;
                if now_ms >= idle_until {
                    Verdict::CloseIdle
                } else {
                    Verdict::Wait(self.instant(idle_until))
                }
            }
            started => {
                let due = started - 1 + deadline_ms;
                if now_ms >= due {
                    Verdict::Abort
                } else {
                    Verdict::Wait(self.instant(due))
                }
            }
        }
    }
}

/// A request being served; ends the "arriving" phase and, when dropped, the request.
struct Serving {
    activity: Arc<Activity>,
    arrival: Instant,
}

impl Serving {
    fn begin(activity: Arc<Activity>) -> Serving {
        activity.in_service.fetch_add(1, Ordering::AcqRel);
        let started = activity.request_started.swap(0, Ordering::AcqRel);
        // Bytes read before the previous request finished (pipelining) left no mark: use now.
        let arrival = match started {
            0 => Instant::now(),
            ms => activity.instant(ms - 1),
        };
        Serving { activity, arrival }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.activity.in_service.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request [`Serving`] until hyper has sent it (or dropped it).
struct InService {
    body: Body,
    _serving: Serving,
}

impl hyper::body::Body for InService {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The socket, reporting traffic to [`Activity`] and adding the `Server` header to the answers
/// hyper writes on its own (see the module documentation).
struct Monitored {
    io: TcpStream,
    activity: Arc<Activity>,
    /// Such an answer with the header added: taken from hyper, not yet all written.
    patched: Option<Patched>,
}

struct Patched {
    bytes: Vec<u8>,
    written: usize,
}

impl Monitored {
    /// Writes what is left of a patched answer; ready when nothing is.
    fn poll_patched(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some(patched) = &mut self.patched {
            let rest = &patched.bytes[patched.written..];
            match Pin::new(&mut self.io).poll_write(cx, rest) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.activity.on_write(Instant::now());
                    patched.written += n;
                    if patched.written == patched.bytes.len() {
                        self.patched = None;
                    }
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Takes `bytes` (an answer of hyper's own, with the header added) in place of the `len`
    /// bytes hyper asked to write, and reports those as written.
    fn take_patched(
        &mut self,
        cx: &mut Context<'_>,
        bytes: Vec<u8>,
        len: usize,
    ) -> Poll<io::Result<usize>> {
        self.patched = Some(Patched { bytes, written: 0 });
        // What is not written now is by the next write, flush or shutdown.
        match self.poll_patched(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            _ => Poll::Ready(Ok(len)),
        }
    }
}

/// `buf` with the `Server` header added, if it starts with an error response head (4xx, 5xx)
/// that has none. hyper's interim `100 Continue` stays as it is.
fn with_server_header(buf: &[u8]) -> Option<Vec<u8>> {
    if !is_error_head(buf) || head_has_server(buf)? {
        return None;
    }
    let line_end = buf.iter().position(|&b| b == b'\n')? + 1;
    let value = crate::router::server_header();
    let mut out = Vec::with_capacity(buf.len() + value.len() + 10);
    out.extend_from_slice(&buf[..line_end]);
    out.extend_from_slice(b"server: ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&buf[line_end..]);
    Some(out)
}

/// Whether `buf` starts like a 4xx or 5xx response head (`HTTP/1.x 4`…).
fn is_error_head(buf: &[u8]) -> bool {
    buf.starts_with(b"HTTP/1.") && matches!(buf.get(9), Some(b'4' | b'5'))
}

/// Whether the response head at the start of `buf` has a `Server` header; `None` when `buf`
/// does not start with a response head, or ends before the head does without one. One pass
/// over the head's lines, stopping at the header (our own responses have it third).
fn head_has_server(buf: &[u8]) -> Option<bool> {
    if !buf.starts_with(b"HTTP/1.") {
        return None;
    }
    for line in buf.split(|&b| b == b'\n').skip(1) {
        if line == b"\r" {
            return Some(false);
        }
        if line.len() > 7 && line[..7].eq_ignore_ascii_case(b"server:") {
            return Some(true);
        }
    }
    None
}

impl AsyncRead for Monitored {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.io).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.on_read(Instant::now());
        }
        result
    }
}

impl AsyncWrite for Monitored {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_patched(cx))?;
        if let Some(patched) = with_server_header(buf) {
            return this.take_patched(cx, patched, buf.len());
        }
        let result = Pin::new(&mut this.io).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.on_write(Instant::now());
        }
        result
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_patched(cx))?;
        // Our own responses have the header in their first slice: no copy for them.
        let first = bufs.iter().find(|b| !b.is_empty());
        if first.is_some_and(|b| is_error_head(b) && head_has_server(b) != Some(true)) {
            let all: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
            if let Some(patched) = with_server_header(&all) {
                return this.take_patched(cx, patched, all.len());
            }
        }
        let result = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.on_write(Instant::now());
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_patched(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_patched(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn idle_connections_close_after_the_idle_timeout() {
        let t0 = Instant::now();
        let a = Activity::new(t0);
        a.on_write(t0 + 10 * S);
        assert_eq!(a.verdict(t0 + 20 * S), Verdict::Wait(t0 + 130 * S));
        assert_eq!(a.verdict(t0 + 129 * S), Verdict::Wait(t0 + 130 * S));
        assert_eq!(a.verdict(t0 + 130 * S), Verdict::CloseIdle);
    }

    #[test]
    fn a_request_head_must_arrive_within_the_deadline() {
        let t0 = Instant::now();
        let a = Activity::new(t0);
        a.on_read(t0 + 5 * S);
        assert_eq!(a.verdict(t0 + 6 * S), Verdict::Wait(t0 + 35 * S));
        // More bytes do not move the start.
        a.on_read(t0 + 20 * S);
        assert_eq!(a.verdict(t0 + 35 * S), Verdict::Abort);
    }

    #[test]
    fn serving_suspends_the_limits_and_reports_the_arrival() {
        let t0 = Instant::now();
        let a = Arc::new(Activity::new(t0));
        a.on_read(t0 + 5 * S);
        let serving = Serving::begin(Arc::clone(&a));
        assert_eq!(serving.arrival, t0 + 5 * S);
        // Body bytes while serving are not a new request.
        a.on_read(t0 + 7 * S);
        let later = t0 + 500 * S;
        assert_eq!(a.verdict(later), Verdict::Wait(later + SERVING_RECHECK));
        drop(serving);
        a.on_write(t0 + 8 * S);
        assert_eq!(a.verdict(t0 + 9 * S), Verdict::Wait(t0 + 128 * S));
        // The next request starts the deadline again.
        a.on_read(t0 + 100 * S);
        assert_eq!(a.verdict(t0 + 101 * S), Verdict::Wait(t0 + 130 * S));
    }

    #[test]
    fn the_server_header_is_added_to_heads_without_one_only() {
        let server = crate::router::server_header();
        let bare = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\n\r\n";
        let patched = with_server_header(bare).unwrap();
        assert_eq!(
            String::from_utf8(patched).unwrap(),
            format!(
                "HTTP/1.1 431 Request Header Fields Too Large\r\nserver: {}\r\nconnection: close\r\n\r\n",
                server.to_str().unwrap()
            )
        );
        // Our own responses, in any letter case, and everything that is not a whole head.
        let own: [&[u8]; 6] = [
            b"HTTP/1.1 200 OK\r\nserver: messagedb/1\r\ncontent-length: 2\r\n\r\n{}",
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nServer: x\r\n\r\n",
            b"{\"HTTP/1.1 400\":1}",
            b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n",
            b"",
            b"HTTP/1.1 100 Continue\r\n\r\n",
        ];
        for buf in own {
            assert_eq!(
                with_server_header(buf),
                None,
                "{:?}",
                String::from_utf8_lossy(buf)
            );
        }
        assert_eq!(head_has_server(own[0]), Some(true));
        assert_eq!(head_has_server(bare), Some(false));
        assert_eq!(head_has_server(own[3]), None);
    }

    /// A streaming response (SSE) keeps its request in service until the body is gone: the
    /// connection is neither idle nor waiting for a request head while it streams.
    #[test]
    fn a_response_body_keeps_its_request_in_service() {
        let t0 = Instant::now();
        let a = Arc::new(Activity::new(t0));
        let body = InService {
            body: Body::empty(),
            _serving: Serving::begin(Arc::clone(&a)),
        };
        // Bytes from the client mid-stream are not a new request, and time passes.
        a.on_read(t0 + S);
        let later = t0 + 1000 * S;
        assert_eq!(a.verdict(later), Verdict::Wait(later + SERVING_RECHECK));
        drop(body);
        assert_eq!(a.verdict(later), Verdict::CloseIdle);
    }
}

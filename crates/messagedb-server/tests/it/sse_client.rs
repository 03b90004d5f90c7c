//! Small SSE clients for the `/subscribe` tests.
//!
//! [`Sse`] reads through reqwest and splits events on blank lines, checking that every event is
//! exactly `: ready`, `: keepalive` or a poke rendered the SPEC's way (key order, compact JSON,
//! LF endings). [`RawSse`] speaks HTTP/1.1 over a bare socket and returns the body's chunks as
//! they were framed on the wire, for the "one event per chunk" checks. Every wait is bounded by
//! a timeout, so a broken server fails the test instead of hanging it.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use messagedb_core::{NamespaceId, NewMessage, Positions, StreamName, WriteOutcome};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::app::App;

/// How long any single expected event may take. Generous: debug builds under a heavy test load.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// One poke, as received.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Poke {
    pub stream: String,
    pub position: i64,
    pub global_position: i64,
}

/// One SSE event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Ready,
    Keepalive,
    Poke(Poke),
    /// `event: deleted` (SPEC §18): the raw `data:` JSON text.
    Deleted(String),
}

/// Parses one event block (without its blank line), insisting on the exact §8.3 format: the
/// keys in order, compact JSON, one `data:` line.
pub fn parse_event(block: &str) -> Event {
    match block {
        ": ready" => return Event::Ready,
        ": keepalive" => return Event::Keepalive,
        _ => {}
    }
    if let Some(data) = block.strip_prefix("event: deleted\ndata: ") {
        return Event::Deleted(data.to_owned());
    }
    let malformed = || -> ! { panic!("not a §8.3 poke, ready or keepalive: {block:?}") };
    let rest = block
        .strip_prefix("event: poke\ndata: {\"stream\":")
        .unwrap_or_else(|| malformed());
    // The stream name is a JSON string: it ends at the first quote that is not escaped.
    let mut end = None;
    let mut escaped = false;
    for (i, b) in rest.bytes().enumerate().skip(1) {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => {
                end = Some(i);
                break;
            }
            _ => {}
        }
    }
    let end = end.unwrap_or_else(|| malformed());
    let stream: String = serde_json::from_str(&rest[..=end]).unwrap_or_else(|_| malformed());
    let rest = rest[end + 1..]
        .strip_prefix(",\"position\":")
        .unwrap_or_else(|| malformed());
    let (position, rest) = rest
        .split_once(",\"globalPosition\":")
        .unwrap_or_else(|| malformed());
    let global_position = rest.strip_suffix('}').unwrap_or_else(|| malformed());
    let number = |text: &str| -> i64 {
        assert!(
            !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()),
            "a compact non-negative integer: {block:?}"
        );
        text.parse().unwrap_or_else(|_| malformed())
    };
    Event::Poke(Poke {
        stream,
        position: number(position),
        global_position: number(global_position),
    })
}

/// A subscription read through reqwest.
pub struct Sse {
    response: reqwest::Response,
    /// Received bytes; those before `read` have been parsed already.
    buffer: Vec<u8>,
    read: usize,
    pub headers: reqwest::header::HeaderMap,
}

impl Sse {
    /// Subscribes with `query` (already URL-encoded) as the admin and waits for `: ready`.
    pub async fn open(app: &App, query: &str) -> Sse {
        Sse::open_as(app, crate::app::T, query).await
    }

    /// Subscribes with a Bearer token and waits for `: ready`.
    pub async fn open_as(app: &App, token: &str, query: &str) -> Sse {
        let request = app
            .client
            .get(app.url(&format!("/subscribe?{query}")))
            .bearer_auth(token);
        Sse::start(request).await
    }

    /// Sends `request`, checks the §8.3 headers and waits for `: ready`.
    pub async fn start(request: reqwest::RequestBuilder) -> Sse {
        let response = tokio::time::timeout(PATIENCE, request.send())
            .await
            .expect("subscribe answered in time")
            .expect("subscribe request");
        assert_eq!(response.status(), 200, "subscribe status");
        let headers = response.headers().clone();
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        assert_eq!(header("content-type"), Some("text/event-stream"));
        assert_eq!(header("cache-control"), Some("no-cache"));
        assert_eq!(header("access-control-allow-origin"), Some("*"));
        assert_eq!(header("x-accel-buffering"), Some("no"));
        let mut sse = Sse {
            response,
            buffer: Vec::new(),
            read: 0,
            headers,
        };
        assert_eq!(sse.next().await, Some(Event::Ready), "the first event");
        sse
    }

    /// The next event, or `None` when the response has ended.
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            let unread = &self.buffer[self.read..];
            if let Some(end) = unread.windows(2).position(|w| w == b"\n\n") {
                let text = std::str::from_utf8(&unread[..end]).expect("UTF-8 events");
                let event = parse_event(text);
                self.read += end + 2;
                return Some(event);
            }
            // Everything before `read` is parsed: drop it before appending more.
            self.buffer.drain(..self.read);
            self.read = 0;
            let chunk = tokio::time::timeout(PATIENCE, self.response.chunk())
                .await
                .expect("an event in time")
                .expect("reading the event stream");
            match chunk {
                Some(bytes) => self.buffer.extend_from_slice(&bytes),
                None => {
                    assert!(self.buffer.is_empty(), "a partial event at the end");
                    return None;
                }
            }
        }
    }

    /// The next `count` pokes, skipping keepalives. Panics when no poke arrives for
    /// [`PATIENCE`] (keepalives do not count as progress).
    pub async fn pokes(&mut self, count: usize) -> Vec<Poke> {
        let mut pokes = Vec::with_capacity(count);
        let mut deadline = tokio::time::Instant::now() + PATIENCE;
        while pokes.len() < count {
            let next = tokio::time::timeout_at(deadline, self.next())
                .await
                .unwrap_or_else(|_| {
                    panic!("no poke for {PATIENCE:?} after {} of {count}", pokes.len())
                });
            match next {
                Some(Event::Poke(poke)) => {
                    pokes.push(poke);
                    deadline = tokio::time::Instant::now() + PATIENCE;
                }
                Some(Event::Keepalive) => {}
                Some(Event::Deleted(data)) => panic!("an unexpected deletion: {data}"),
                Some(Event::Ready) => panic!("a second `: ready`"),
                None => panic!("the stream ended after {} of {count} pokes", pokes.len()),
            }
        }
        pokes
    }

    /// Pokes until the one with global position `last` (inclusive).
    pub async fn pokes_through(&mut self, last: i64) -> Vec<Poke> {
        let mut pokes: Vec<Poke> = Vec::new();
        while pokes.last().is_none_or(|p| p.global_position < last) {
            pokes.extend(self.pokes(1).await);
        }
        pokes
    }

    /// Reads until the response ends; returns the pokes that came before the end.
    pub async fn until_end(&mut self) -> Vec<Poke> {
        let mut pokes = Vec::new();
        loop {
            match self.next().await {
                None => return pokes,
                Some(Event::Poke(poke)) => pokes.push(poke),
                Some(Event::Keepalive) => {}
                Some(Event::Deleted(data)) => panic!("an unexpected deletion: {data}"),
                Some(Event::Ready) => panic!("a second `: ready`"),
            }
        }
    }

    /// Waits for the response to end, allowing only keepalives before it.
    pub async fn expect_end(&mut self) {
        loop {
            match self.next().await {
                None => return,
                Some(Event::Keepalive) => {}
                Some(other) => panic!("expected the end of the stream, got {other:?}"),
            }
        }
    }
}

/// A subscription over a bare socket: the response head, then the body chunk by chunk.
pub struct RawSse {
    reader: BufReader<TcpStream>,
    /// The status line and header lines, lowercased names.
    pub head: Vec<String>,
}

impl RawSse {
    pub async fn open(addr: SocketAddr, token: &str, query: &str) -> RawSse {
        let stream = TcpStream::connect(addr).await.expect("connect");
        RawSse::over(stream, token, query).await
    }

    /// Sends the request on `stream` and reads the response head.
    pub async fn over(mut stream: TcpStream, token: &str, query: &str) -> RawSse {
        let request = format!(
            "GET /subscribe?{query} HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {token}\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.expect("send");
        let mut reader = BufReader::new(stream);
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            let n = within(reader.read_line(&mut line)).await.expect("head");
            assert!(n > 0, "connection closed in the head: {head:?}");
            let line = line.trim_end_matches("\r\n").to_owned();
            if line.is_empty() {
                break;
            }
            head.push(line);
        }
        RawSse { reader, head }
    }

    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.iter().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    /// The next body chunk as framed by chunked encoding; `None` for the terminating chunk.
    pub async fn chunk(&mut self) -> Option<Vec<u8>> {
        let mut size_line = String::new();
        within(self.reader.read_line(&mut size_line))
            .await
            .expect("chunk size");
        let size = usize::from_str_radix(size_line.trim_end(), 16)
            .unwrap_or_else(|_| panic!("a chunk size line: {size_line:?}"));
        let mut data = vec![0; size + 2];
        within(self.reader.read_exact(&mut data))
            .await
            .expect("chunk data");
        assert_eq!(&data[size..], b"\r\n", "chunk terminator");
        data.truncate(size);
        if size == 0 {
            None
        } else {
            Some(data)
        }
    }

    /// The next chunk, which must hold exactly one whole event.
    pub async fn event(&mut self) -> Option<Event> {
        let chunk = self.chunk().await?;
        let text = String::from_utf8(chunk).expect("UTF-8 events");
        let block = text
            .strip_suffix("\n\n")
            .unwrap_or_else(|| panic!("a chunk that is not one whole event: {text:?}"));
        assert!(!block.contains("\n\n"), "two events in one chunk: {text:?}");
        assert!(!text.contains('\r'), "LF line endings only: {text:?}");
        Some(parse_event(block))
    }

    /// Reads chunks until the terminating one; each must be one event. Returns the pokes.
    pub async fn until_end(&mut self) -> Vec<Poke> {
        let mut pokes = Vec::new();
        while let Some(event) = self.event().await {
            match event {
                Event::Poke(poke) => pokes.push(poke),
                Event::Keepalive => {}
                Event::Deleted(data) => panic!("an unexpected deletion: {data}"),
                Event::Ready => panic!("a second `: ready`"),
            }
        }
        pokes
    }

    /// Reads everything the server sends until the connection closes (for "ended" checks after
    /// the terminating chunk).
    pub async fn rest(&mut self) -> Vec<u8> {
        let mut rest = Vec::new();
        within(self.reader.read_to_end(&mut rest))
            .await
            .expect("reading to the end");
        rest
    }
}

/// Bounds a wait by [`PATIENCE`].
pub async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, f)
        .await
        .expect("timed out waiting for the server")
}

/// Appends a `Tested` message with data `{}` through the store (the same writer, commit and
/// publish path as `stream.write`, without HTTP and JSON in the way of bulk tests).
pub async fn append(app: &App, ns: &NamespaceId, stream: &str) -> Positions {
    let message = NewMessage {
        id: None,
        stream_name: StreamName::parse(stream).unwrap(),
        message_type: "Tested".to_owned(),
        data: "{}".to_owned(),
        metadata: None,
        expected_version: None,
    };
    match app.state.store().write(ns, message).await {
        Ok(WriteOutcome::Appended(positions)) => positions,
        other => panic!("append to {stream}: {other:?}"),
    }
}

pub fn default_ns() -> NamespaceId {
    NamespaceId::default_namespace()
}

/// Panics unless `pokes` are in strictly ascending gpos (so also free of duplicates).
pub fn assert_ascending(pokes: &[Poke]) {
    for pair in pokes.windows(2) {
        assert!(
            pair[0].global_position < pair[1].global_position,
            "out of order or duplicated: {:?} then {:?}",
            pair[0],
            pair[1]
        );
    }
}

/// The (stream, position, gpos) of messages from a `category.get` result.
pub fn from_category_get(result: &Value) -> Vec<Poke> {
    result
        .as_array()
        .expect("an array")
        .iter()
        .map(|m| Poke {
            stream: m[1].as_str().unwrap().to_owned(),
            position: m[3].as_i64().unwrap(),
            global_position: m[4].as_i64().unwrap(),
        })
        .collect()
}

/// Every message of `category` (`""`: the namespace), optionally of one group member, read
/// through `category.get` in pages.
pub async fn category_get(app: &App, category: &str, group: Option<(i64, i64)>) -> Vec<Poke> {
    let mut all = Vec::new();
    let mut from = 1;
    loop {
        let mut options = serde_json::json!({"position": from, "batchSize": 10000});
        if let Some((member, size)) = group {
            options["consumerGroup"] = serde_json::json!({"member": member, "size": size});
        }
        let page = from_category_get(
            &app.call(serde_json::json!(["category.get", category, options]))
                .await,
        );
        let Some(last) = page.last() else {
            return all;
        };
        from = last.global_position + 1;
        all.extend(page);
    }
}

/// The set of global positions in `pokes`.
pub fn gpos_set(pokes: &[Poke]) -> HashSet<i64> {
    pokes.iter().map(|p| p.global_position).collect()
}

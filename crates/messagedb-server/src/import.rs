//! `/import` (SPEC §9): restores records into the caller's namespace, streamed.
//!
//! The request body is read frame by frame and cut into lines as it arrives; at most one batch
//! of [`BATCH`] records (plus one partial line of at most [`MAX_LINE`] bytes) is held at a time,
//! so memory does not grow with the body. Each line is validated in the §9.2 order into an
//! [`ImportRecord`]; a full batch goes to [`Store::import_batch`](messagedb_core::Store), which
//! commits it atomically and durably, and only then is its progress event sent. Events go out
//! through a small channel that becomes the response body, so each one is flushed as soon as it
//! is produced, while the upload is still streaming.
//!
//! The body is exempt from the `/rpc` deadline and size limit (those live in the `/rpc`
//! handler). On graceful shutdown a running import stops at a batch boundary: the batch being
//! read is dropped (never committed), and the client gets an `IMPORT_FAILED` event.

use std::convert::Infallible;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use http::header::{CACHE_CONTROL, CONNECTION, CONTENT_TYPE};
use http::HeaderValue;
use http_body_util::BodyExt;
use messagedb_core::json::minify;
use messagedb_core::limits::SizeLimit;
use messagedb_core::{ImportError, ImportRecord, MessageId, NamespaceId, StreamName, Timestamp};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, watch};

use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode, RequestId};
use crate::{metrics, wire, AppState};

/// Records per atomic batch (§9.3).
pub const BATCH: usize = 1000;

/// The longest accepted line, excluding its terminator (§9.2).
pub const MAX_LINE: usize = 1_048_576;

/// Events waiting to be sent; the importer waits (and so stops reading) when the client lags.
const EVENT_QUEUE: usize = 8;

/// `/import`: any method, authenticated like `/rpc`, into the caller's namespace.
pub async fn import(State(state): State<AppState>, caller: Caller, request: Request) -> Response {
    let started = Instant::now();
    let namespace = caller.namespace().clone();
    if force_requested(request.uri().query()) {
        if let Err(e) = state.store().clear_namespace(&namespace).await {
            // Like BACKEND_ERROR (SPEC §16.2): the detail is logged under the answer's request id.
            let cause = format!("clearing namespace {namespace} before an import: {e}");
            return ApiError::storage_failure(
                ErrorCode::ClearFailed,
                "Failed to clear namespace",
                cause,
            )
            .into_response();
        }
    }
    let (events, body) = mpsc::channel(EVENT_QUEUE);
    let importer = Importer {
        closing: state.subscriptions_closing(),
        state,
        namespace,
        events,
        started,
        imported: 0,
        last_gpos: 0,
        batch: Vec::with_capacity(BATCH),
        lines: Vec::with_capacity(BATCH),
    };
    tokio::spawn(importer.run(request.into_body()));
    event_stream(body)
}

/// `force=true`, exactly (§9.1).
fn force_requested(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes()).any(|(key, value)| key == "force" && value == "true")
    })
}

/// The 200 with the §9.1 headers; each event is one chunk.
fn event_stream(mut events: mpsc::Receiver<Bytes>) -> Response {
    let stream = futures::stream::poll_fn(move |cx| {
        events.poll_recv(cx).map(|e| e.map(Ok::<_, Infallible>))
    });
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(CONNECTION, HeaderValue::from_static("keep-alive"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// A failure that ends the import; it becomes the last event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// One of the `/import` codes of the error table.
    pub code: ErrorCode,
    pub message: String,
    pub line: Option<u64>,
}

impl Failure {
    fn at(code: ErrorCode, message: String, line: u64) -> Failure {
        Failure {
            code,
            message,
            line: Some(line),
        }
    }

    fn event(&self) -> Bytes {
        let mut out = String::from(r#"data: {"error":"#);
        wire::push_str(&mut out, self.code.as_str());
        out.push_str(r#","message":"#);
        wire::push_str(&mut out, &self.message);
        if let Some(line) = self.line {
            out.push_str(r#","line":"#);
            out.push_str(&line.to_string());
        }
        out.push_str("}\n\n");
        Bytes::from(out)
    }
}

/// Why the importer stopped early without a failure to report.
enum Stop {
    Failed(Failure),
    /// The client went away: nobody is left to tell.
    Disconnected,
}

impl From<Failure> for Stop {
    fn from(failure: Failure) -> Stop {
        Stop::Failed(failure)
    }
}

struct Importer {
    state: AppState,
    namespace: NamespaceId,
    events: mpsc::Sender<Bytes>,
    closing: watch::Receiver<bool>,
    started: Instant,
    /// Records committed so far.
    imported: u64,
    /// The global position of the last record of the last committed batch.
    last_gpos: i64,
    /// The batch being collected, and the line of each of its records.
    batch: Vec<ImportRecord>,
    lines: Vec<u64>,
}

impl Importer {
    async fn run(mut self, body: Body) {
        match self.read(body).await {
            Ok(()) => {
                let done = format!(
                    "data: {{\"done\":true,\"imported\":{},\"elapsed\":\"{:.1}s\"}}\n\n",
                    self.imported,
                    self.started.elapsed().as_secs_f64()
                );
                let _ = self.events.send(Bytes::from(done)).await;
            }
            Err(Stop::Failed(failure)) => {
                let _ = self.events.send(failure.event()).await;
            }
            Err(Stop::Disconnected) => {}
        }
    }

    /// Reads the body to its end, importing every full batch and then the last partial one.
    async fn read(&mut self, mut body: Body) -> Result<(), Stop> {
        let mut splitter = LineSplitter::default();
        loop {
            let frame = tokio::select! {
                biased;
                _ = self.closing.wait_for(|closing| *closing) => {
                    return Err(Failure {
                        code: ErrorCode::ImportFailed,
                        message: "the server is shutting down; records after the last progress \
                                  event were not imported"
                            .to_owned(),
                        line: None,
                    }
                    .into());
                }
                frame = body.frame() => frame,
            };
            let Some(frame) = frame else { break };
            let frame = frame.map_err(|e| Failure {
                code: ErrorCode::ReadError,
                message: format!("failed to read the request body: {e}"),
                line: None,
            })?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let mut rest: &[u8] = &data;
            while let Some((line_number, line)) = splitter.next_line(&mut rest)? {
                self.line(line_number, &line).await?;
            }
        }
        if let Some((line_number, line)) = splitter.finish()? {
            self.line(line_number, &line).await?;
        }
        if !self.batch.is_empty() {
            self.commit().await?;
        }
        Ok(())
    }

    async fn line(&mut self, number: u64, line: &[u8]) -> Result<(), Stop> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let record = parse_record(line, number)?;
        self.batch.push(record);
        self.lines.push(number);
        if self.batch.len() == BATCH {
            self.commit().await?;
            let gpos = self.last_gpos;
            let event = format!(
                "data: {{\"imported\":{},\"gpos\":{gpos}}}\n\n",
                self.imported
            );
            self.events
                .send(Bytes::from(event))
                .await
                .map_err(|_| Stop::Disconnected)?;
        }
        Ok(())
    }

    /// Commits the collected batch; a refusal names the failing record's line.
    async fn commit(&mut self) -> Result<(), Stop> {
        let records = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        let lines = std::mem::take(&mut self.lines);
        let count = records.len() as u64;
        let last_gpos = records.last().map_or(0, |r| r.global_position);
        let result = self
            .state
            .store()
            .import_batch(&self.namespace, records)
            .await;
        match result {
            Ok(()) => {
                self.imported += count;
                self.last_gpos = last_gpos;
                metrics::messages_imported(count);
                Ok(())
            }
            Err(e) => Err(refusal(e, &lines, &self.namespace).into()),
        }
    }
}

/// The event for a refused batch (§9.3).
fn refusal(error: ImportError, lines: &[u64], namespace: &NamespaceId) -> Failure {
    let line = |index: usize| lines.get(index).copied();
    match error {
        ImportError::PositionExists {
            global_position,
            index,
        } => Failure {
            code: ErrorCode::PositionExists,
            message: format!("global position already exists: {global_position}"),
            line: line(index),
        },
        ImportError::DuplicateMessageId { id, stream, index } => Failure {
            code: ErrorCode::DuplicateMessageId,
            message: format!("Message id {id} already exists in stream {stream}"),
            line: line(index),
        },
        ImportError::StreamPositionExists {
            stream,
            position,
            index,
        } => Failure {
            code: ErrorCode::ImportFailed,
            message: format!("position {position} already exists in stream {stream}"),
            line: line(index),
        },
        ImportError::Store(messagedb_core::StoreError::NamespaceNotFound(_)) => Failure {
            code: ErrorCode::ImportFailed,
            message: "namespace not found".to_owned(),
            line: None,
        },
        ImportError::Store(e) => {
            // Storage details are logged, not sent; the request id links the two (SPEC §16.2).
            let request_id = RequestId::new();
            tracing::error!(namespace = %namespace, %request_id, error = %e, "import batch failed");
            Failure {
                code: ErrorCode::ImportFailed,
                message: format!("the batch could not be stored (requestId {request_id})"),
                line: None,
            }
        }
    }
}

/// Cuts a byte stream into lines (§9.2): LF-separated, a trailing CR dropped, the last line
/// without LF accepted, numbered from 1. Holds at most one partial line.
#[derive(Default)]
struct LineSplitter {
    partial: BytesMut,
    /// The number of the line being collected, minus one.
    completed: u64,
}

impl LineSplitter {
    /// The next complete line from `input` (which advances past it), or `None` when `input`
    /// ends inside a line (kept for the next call).
    fn next_line(&mut self, input: &mut &[u8]) -> Result<Option<(u64, Bytes)>, Failure> {
        let (segment, complete) = match input.iter().position(|&b| b == b'\n') {
            Some(at) => (&input[..at], true),
            None => (*input, false),
        };
        // One extra byte leaves room for a CR that the terminator drops.
        if self.partial.len() + segment.len() > MAX_LINE + 1 {
            return Err(self.too_long());
        }
        self.partial.extend_from_slice(segment);
        *input = if complete {
            &input[segment.len() + 1..]
        } else {
            &[]
        };
        if !complete {
            return Ok(None);
        }
        self.take().map(Some)
    }

    /// The final line, if the body did not end with LF.
    fn finish(&mut self) -> Result<Option<(u64, Bytes)>, Failure> {
        if self.partial.is_empty() {
            return Ok(None);
        }
        self.take().map(Some)
    }

    fn take(&mut self) -> Result<(u64, Bytes), Failure> {
        if self.partial.last() == Some(&b'\r') {
            self.partial.truncate(self.partial.len() - 1);
        }
        if self.partial.len() > MAX_LINE {
            return Err(self.too_long());
        }
        self.completed += 1;
        Ok((self.completed, self.partial.split().freeze()))
    }

    fn too_long(&self) -> Failure {
        let line = self.completed + 1;
        Failure::at(
            ErrorCode::ReadError,
            format!("line {line} exceeds {MAX_LINE} bytes"),
            line,
        )
    }
}

/// The record keys (§9.2); unknown keys are ignored. Values stay raw so that `data` and `meta`
/// are never re-serialised and every check can say exactly what was wrong.
#[derive(Deserialize)]
struct WireRecord<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    stream: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "type")]
    message_type: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pos: Option<&'a RawValue>,
    #[serde(borrow, default)]
    gpos: Option<&'a RawValue>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    meta: Option<&'a RawValue>,
    #[serde(borrow, default)]
    time: Option<&'a RawValue>,
}

/// Validates one non-blank line into a record, with the §9.2 checks in their order.
pub fn parse_record(line: &[u8], number: u64) -> Result<ImportRecord, Failure> {
    let malformed = |detail: String| {
        Failure::at(
            ErrorCode::InvalidJson,
            format!("malformed JSON at line {number}: {detail}"),
            number,
        )
    };
    let invalid = |reason: String| {
        Failure::at(
            ErrorCode::InvalidRecord,
            format!("invalid record at line {number}: {reason}"),
            number,
        )
    };
    let text = std::str::from_utf8(line).map_err(|e| malformed(format!("invalid UTF-8: {e}")))?;
    let raw: &RawValue = serde_json::from_str(text).map_err(|e| malformed(e.to_string()))?;
    if !raw.get().starts_with('{') {
        return Err(invalid("record must be a JSON object".to_owned()));
    }
    let wire: WireRecord<'_> =
        serde_json::from_str(raw.get()).map_err(|e| malformed(e.to_string()))?;

    let id = string(wire.id)
        .and_then(|s| MessageId::parse(&s).ok())
        .ok_or_else(|| invalid("id must be a UUID".to_owned()))?;
    let stream_name = string(wire.stream)
        .and_then(|s| StreamName::parse(s).ok())
        .ok_or_else(|| invalid("stream must be a non-empty string".to_owned()))?;
    // SPEC §16.1: the stream's reason names it `stream`, the type's keeps RPC's `message.type`.
    SizeLimit::StreamName
        .check(stream_name.as_str(), "stream")
        .map_err(|e| invalid(e.to_string()))?;
    let message_type = string(wire.message_type)
        .filter(|s| !s.is_empty() && !s.contains('\0'))
        .ok_or_else(|| invalid("type must be a non-empty string".to_owned()))?;
    SizeLimit::MessageType
        .check(&message_type, "message.type")
        .map_err(|e| invalid(e.to_string()))?;
    let position = integer(wire.pos)
        .filter(|&p| p >= 0)
        .ok_or_else(|| invalid("pos must be a non-negative integer".to_owned()))?;
    let global_position = integer(wire.gpos)
        .filter(|&g| g >= 1)
        .ok_or_else(|| invalid("gpos must be a positive integer".to_owned()))?;
    let data = wire
        .data
        .filter(|d| d.get().starts_with('{'))
        .ok_or_else(|| invalid("data must be an object".to_owned()))?;
    let metadata = match wire.meta {
        None => None,
        Some(m) if m.get() == "null" => None,
        Some(m) if m.get().starts_with('{') => Some(m),
        Some(_) => return Err(invalid("meta must be an object or null".to_owned())),
    };
    let time = match string(wire.time) {
        Some(text) => Timestamp::parse_rfc3339(&text)
            .map_err(|e| invalid(format!("invalid time format: {e}")))?,
        None => {
            return Err(invalid(
                "invalid time format: time must be a string".to_owned(),
            ))
        }
    };
    let data = minify(data.get()).map_err(|e| malformed(e.to_string()))?;
    let metadata = metadata
        .map(|m| minify(m.get()))
        .transpose()
        .map_err(|e| malformed(e.to_string()))?;
    Ok(ImportRecord {
        id,
        stream_name,
        message_type,
        position,
        global_position,
        data,
        metadata,
        time,
    })
}

/// A JSON string's value; `None` for anything else.
fn string(raw: Option<&RawValue>) -> Option<String> {
    serde_json::from_str::<String>(raw?.get()).ok()
}

/// A number with an integral value in int64 range (`3`, `3.0`, `3e2`); `None` otherwise.
fn integer(raw: Option<&RawValue>) -> Option<i64> {
    let number: serde_json::Number = serde_json::from_str(raw?.get()).ok()?;
    if let Some(n) = number.as_i64() {
        return Some(n);
    }
    let f = number.as_f64()?;
    // 2^63 is exactly representable; every integral f64 below it (and ≥ -2^63) fits in i64.
    (f.fract() == 0.0 && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f))
        .then_some(f as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(chunks: &[&[u8]]) -> Result<Vec<(u64, String)>, Failure> {
        let mut splitter = LineSplitter::default();
        let mut out = Vec::new();
        for chunk in chunks {
            let mut rest = *chunk;
            while let Some((n, line)) = splitter.next_line(&mut rest)? {
                out.push((n, String::from_utf8(line.to_vec()).unwrap()));
            }
        }
        if let Some((n, line)) = splitter.finish()? {
            out.push((n, String::from_utf8(line.to_vec()).unwrap()));
        }
        Ok(out)
    }

    #[test]
    fn lines_split_on_lf_across_chunks() {
        let got = lines(&[b"ab", b"c\r\n\n  \nde", b"f"]).unwrap();
        let want = [(1, "abc"), (2, ""), (3, "  "), (4, "def")];
        assert_eq!(got, want.map(|(n, s)| (n, s.to_owned())).to_vec());
        assert_eq!(lines(&[b"x\n"]).unwrap(), vec![(1, "x".to_owned())]);
        assert!(lines(&[b""]).unwrap().is_empty());
    }

    #[test]
    fn long_lines_are_refused_with_their_number() {
        let exact = vec![b'x'; MAX_LINE];
        let mut with_cr = exact.clone();
        with_cr.extend_from_slice(b"\r\n");
        assert_eq!(lines(&[&with_cr]).unwrap().len(), 1);
        let over = vec![b'x'; MAX_LINE + 1];
        let failure = lines(&[b"ok\n", &over[..10], &over[10..]]).unwrap_err();
        assert_eq!(failure.code, ErrorCode::ReadError);
        assert_eq!(failure.message, "line 2 exceeds 1048576 bytes");
        assert_eq!(failure.line, Some(2));
    }

    const GOOD: &str = r#"{"id":"0190F2C4-3B1E-7C2A-9D4E-1F2A3B4C5D6E","stream":"order-1","type":"Created","pos":0,"gpos":47,"data":{ "a" : 1.50 },"meta":null,"time":"2025-01-15T12:00:00.5+02:00","extra":[1]}"#;

    fn reason(line: &str) -> String {
        let failure = parse_record(line.as_bytes(), 7).unwrap_err();
        assert_eq!(failure.line, Some(7));
        failure.message
    }

    #[test]
    fn a_good_record() {
        let record = parse_record(GOOD.as_bytes(), 1).unwrap();
        assert_eq!(
            record.id.to_string(),
            "0190f2c4-3b1e-7c2a-9d4e-1f2a3b4c5d6e"
        );
        assert_eq!(record.stream_name.as_str(), "order-1");
        assert_eq!((record.position, record.global_position), (0, 47));
        assert_eq!(record.data, r#"{"a":1.50}"#);
        assert_eq!(record.metadata, None);
        assert_eq!(record.time.to_string(), "2025-01-15T10:00:00.5Z");
        let with_meta = GOOD.replace(r#""meta":null"#, r#""meta":{"k":[1e3]}"#);
        let record = parse_record(with_meta.as_bytes(), 1).unwrap();
        assert_eq!(record.metadata.as_deref(), Some(r#"{"k":[1e3]}"#));
        let float_positions = GOOD
            .replace(r#""pos":0"#, r#""pos":2.0"#)
            .replace("47", "4.7e1");
        let record = parse_record(float_positions.as_bytes(), 1).unwrap();
        assert_eq!((record.position, record.global_position), (2, 47));
        let at_limit = GOOD
            .replace("order-1", &"o".repeat(1024))
            .replace("Created", &"\u{e9}".repeat(512));
        let record = parse_record(at_limit.as_bytes(), 1).unwrap();
        assert_eq!(
            (record.stream_name.as_str().len(), record.message_type.len()),
            (1024, 1024)
        );
        let no_meta = GOOD.replace(r#""meta":null,"#, "");
        assert_eq!(parse_record(no_meta.as_bytes(), 1).unwrap().metadata, None);
    }

    #[test]
    fn every_check_has_its_reason() {
        let at = "invalid record at line 7: ";
        let cases = [
            ("[1]", "record must be a JSON object"),
            (
                &GOOD.replace("0190F2C4-3B1E-7C2A-9D4E-1F2A3B4C5D6E", "x"),
                "id must be a UUID",
            ),
            (
                &GOOD.replace(r#""order-1""#, r#""""#),
                "stream must be a non-empty string",
            ),
            (
                &GOOD.replace(r#""Created""#, "7"),
                "type must be a non-empty string",
            ),
            (
                &GOOD.replace("order-1", &"o".repeat(1025)),
                "stream must be at most 1024 bytes",
            ),
            (
                &GOOD.replace("Created", &"\u{e9}".repeat(513)),
                "message.type must be at most 1024 bytes",
            ),
            (
                &GOOD.replace(r#""pos":0"#, r#""pos":-1"#),
                "pos must be a non-negative integer",
            ),
            (
                &GOOD.replace(r#""pos":0"#, r#""pos":0.5"#),
                "pos must be a non-negative integer",
            ),
            (
                &GOOD.replace(r#""gpos":47"#, r#""gpos":0"#),
                "gpos must be a positive integer",
            ),
            (
                &GOOD.replace(r#""gpos":47"#, r#""gpos":1e19"#),
                "gpos must be a positive integer",
            ),
            (
                &GOOD.replace(r#"{ "a" : 1.50 }"#, "null"),
                "data must be an object",
            ),
            (
                &GOOD.replace(r#""meta":null"#, r#""meta":[]"#),
                "meta must be an object or null",
            ),
        ];
        for (line, want) in cases {
            assert_eq!(reason(line), format!("{at}{want}"), "{line}");
        }
        let bad_time = reason(&GOOD.replace("2025-01-15T12:00:00.5+02:00", "yesterday"));
        assert!(
            bad_time.starts_with(&format!("{at}invalid time format: ")),
            "{bad_time}"
        );
        // The first failing check wins.
        let both = GOOD
            .replace(r#""pos":0"#, r#""pos":-1"#)
            .replace(r#""gpos":47"#, r#""gpos":0"#);
        assert_eq!(
            reason(&both),
            format!("{at}pos must be a non-negative integer")
        );
    }

    #[test]
    fn malformed_json() {
        for line in [&b"{\"id\":"[..], b"nope", b"{\"a\":\"\xff\"}"] {
            let failure = parse_record(line, 3).unwrap_err();
            assert_eq!(failure.code, ErrorCode::InvalidJson);
            assert!(
                failure.message.starts_with("malformed JSON at line 3: "),
                "{}",
                failure.message
            );
        }
    }

    #[test]
    fn a_storage_failure_names_a_request_id_and_not_its_detail() {
        let ns = NamespaceId::parse("t").unwrap();
        let error = messagedb_core::StoreError::backend(std::io::Error::other("disk on fire"));
        let failure = refusal(ImportError::Store(error), &[1], &ns);
        assert_eq!(
            (failure.code, failure.line),
            (ErrorCode::ImportFailed, None)
        );
        let id = failure
            .message
            .strip_prefix("the batch could not be stored (requestId ")
            .and_then(|rest| rest.strip_suffix(')'))
            .unwrap_or_else(|| panic!("{}", failure.message));
        assert_eq!(id.len(), 36, "a hyphenated UUID: {id}");
    }

    #[test]
    fn events_are_compact_and_ordered() {
        let failure = Failure::at(ErrorCode::InvalidJson, "a \"b\"".to_owned(), 3);
        assert_eq!(
            failure.event(),
            "data: {\"error\":\"INVALID_JSON\",\"message\":\"a \\\"b\\\"\",\"line\":3}\n\n"
        );
        assert!(force_requested(Some("a=1&force=true")));
        assert!(!force_requested(Some("force=True")));
        assert!(!force_requested(None));
    }
}

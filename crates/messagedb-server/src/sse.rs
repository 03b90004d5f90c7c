//! `/subscribe` (SPEC §8): Server-Sent Events pokes that never skip a message.
//!
//! A request is authenticated (the [`Caller`] extractor, JSON errors), then its query is
//! validated into a [`Selection`] (400 `text/plain` with the SPEC's texts, in the SPEC's order).
//! Then, in this order (§8.5): the subscription registers with the [`Notifier`]; for `all=true`
//! without a position the head `H` is read (after registering, so nothing committed in between
//! is lost); the response starts with the §8.3 headers and `: ready`. A task per subscription
//! then replays from the store in pages of [`PAGE`] with no total cap, and goes live on the
//! batches queued since registration.
//!
//! **The cursor rule.** The cursor is the gpos of the last poke sent (initially 0, or `H`); a
//! message is poked only if it matches, meets the start condition and lies above the cursor.
//! Replay and live both deliver in ascending gpos, the queue holds every commit since
//! registration, and everything committed before registration is visible to the replay that
//! follows it; so at the handover the cursor drops exactly the duplicates, and nothing is
//! missed. When the queue overflows (`Lagged`), or the backend says it may have missed commits
//! (`Resync`), the subscription re-registers, which discards the queue, and replays from its
//! cursor again, so an overflow costs a store read, never a message. A replay read that keeps
//! failing ends the response: a subscription never silently degrades to live-only.
//!
//! Output goes through a small bounded channel into the response body, one poke per chunk.
//! A client that stops reading therefore blocks only its own task (and its queue overflows
//! instead of growing), and a client that goes away closes the channel, which ends the task at
//! once. The task also ends when the namespace ends or the server shuts down; dropping the
//! channel ends the body with its terminating chunk.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::{
    HeaderValue, ACCESS_CONTROL_ALLOW_ORIGIN, CACHE_CONTROL, CONNECTION, CONTENT_TYPE,
};
use http::{StatusCode, Uri};
use messagedb_core::deletion::MAX_DELETIONS_PAGE;
use messagedb_core::limits::{SizeLimit, TooLong};
use messagedb_core::{
    category, CategoryQuery, Committed, ConsumerGroup, Deletion, Limit, Message, NamespaceId,
    StartAt, StoreError, StreamName, StreamQuery,
};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;

use crate::auth::Caller;
use crate::error::{ApiError, Op};
use crate::notifier::{NamespaceEnded, Notice};
use crate::poke::{deleted_chunk, PokeBuffer};
use crate::{metrics, AppState, SubscriptionGuard};

/// Replay reads this many messages per store call.
pub const PAGE: u32 = 1000;

/// Chunks waiting for the connection. Small: beyond it the client is slow, and the notifier's
/// queue (shared, bounded) and then the store take over.
const OUTPUT_QUEUE: usize = 8;

/// How often a failing replay read is tried before the response ends, and the first pause.
const REPLAY_ATTEMPTS: u32 = 4;
const REPLAY_BACKOFF: Duration = Duration::from_millis(100);

const READY: &[u8] = b": ready\n\n";
const KEEPALIVE: &[u8] = b": keepalive\n\n";

/// What a subscription asked for: §8.1 parameters, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// `stream=S&position=P`: messages of `S` with position ≥ P.
    Stream { name: String, from_position: i64 },
    /// `category=C&position=G` (+ group): messages of category `C` (nothing if `C` contains
    /// `-`), of the group member only, with gpos ≥ G.
    Category {
        name: String,
        group: Option<ConsumerGroup>,
        from_global_position: i64,
    },
    /// `all=true&position=G`: everything with gpos ≥ G; without a position, everything
    /// committed after registration.
    All { from_global_position: Option<i64> },
}

/// Why a query is refused; the display text is the exact 400 body (§8.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    #[error("Either 'stream', 'category', or 'all=true' parameter required")]
    NothingSelected,
    #[error("Cannot combine 'all' with 'stream' or 'category'")]
    AllWithOthers,
    #[error("Cannot specify both 'stream' and 'category'")]
    StreamAndCategory,
    /// `stream=` or `category=` over its SPEC §16.1 limit, spelled as in RPC (`streamName …`,
    /// `categoryName …`).
    #[error("{0}")]
    TooLong(TooLong),
    #[error("Invalid position parameter")]
    Position,
    #[error("Invalid consumer parameter")]
    Consumer,
    #[error("Invalid size parameter")]
    Size,
    #[error("Invalid consumer group: member must be < size")]
    Group,
}

impl Selection {
    /// Validates a query string in the §8.2 order. Parameters are form-decoded; the first
    /// occurrence of a name counts, an empty value counts as absent, and an alias is read only
    /// when its primary name is absent. Group parameters are read only for categories.
    pub fn parse(query: Option<&str>) -> Result<Selection, SelectionError> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let get = |name: &str| -> Option<&str> {
            pairs
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
                .filter(|value| !value.is_empty())
        };
        let stream = get("stream");
        let category = get("category");
        let all = get("all") == Some("true");
        if stream.is_none() && category.is_none() && !all {
            return Err(SelectionError::NothingSelected);
        }
        if all && (stream.is_some() || category.is_some()) {
            return Err(SelectionError::AllWithOthers);
        }
        if stream.is_some() && category.is_some() {
            return Err(SelectionError::StreamAndCategory);
        }
        // The limits come right after the checks that decide which name is in use (these
        // parameters have no type to check), before the position.
        if let Some(name) = stream {
            SizeLimit::StreamName
                .check(name, "streamName")
                .map_err(SelectionError::TooLong)?;
        }
        if let Some(name) = category {
            SizeLimit::CategoryName
                .check(name, "categoryName")
                .map_err(SelectionError::TooLong)?;
        }
        let position = get("position")
            .map(|text| text.parse::<i64>().map_err(|_| SelectionError::Position))
            .transpose()?
            // A negative position behaves as 0.
            .map(|p| p.max(0));
        if let Some(name) = stream {
            return Ok(Selection::Stream {
                name: name.to_owned(),
                from_position: position.unwrap_or(0),
            });
        }
        let Some(name) = category else {
            return Ok(Selection::All {
                from_global_position: position,
            });
        };
        let count = |primary: &str, alias: &str, error: SelectionError| match get(primary)
            .or_else(|| get(alias))
        {
            None => Ok(0),
            Some(text) => match text.parse::<i64>() {
                Ok(n) if n >= 0 => Ok(n),
                _ => Err(error),
            },
        };
        let member = count("consumer", "consumerGroupMember", SelectionError::Consumer)?;
        let size = count("size", "consumerGroupSize", SelectionError::Size)?;
        if (member > 0 || size > 0) && (size == 0 || member >= size) {
            return Err(SelectionError::Group);
        }
        let group = if size > 0 {
            Some(ConsumerGroup::new(member, size).map_err(|_| SelectionError::Group)?)
        } else {
            None
        };
        Ok(Selection::Category {
            name: name.to_owned(),
            group,
            from_global_position: position.unwrap_or(0),
        })
    }

    /// Whether a message matches and meets the start condition (§8.4); the cursor is checked
    /// separately. Replay and live delivery both decide with this, so they cannot disagree.
    pub fn matches(&self, stream_name: &str, position: i64, global_position: i64) -> bool {
        match self {
            Selection::Stream {
                name,
                from_position,
            } => stream_name == name && position >= *from_position,
            Selection::Category {
                name,
                group,
                from_global_position,
            } => {
                // `category` never contains `-`, so a name with one matches nothing.
                global_position >= *from_global_position
                    && category(stream_name) == name
                    && group.is_none_or(|g| g.contains(stream_name))
            }
            Selection::All {
                from_global_position,
            } => global_position >= from_global_position.unwrap_or(0),
        }
    }

    /// Whether a deletion (SPEC §18) is delivered: its stream is covered as a message of it
    /// would be (category, consumer group, start gpos), and for a stream subscription started
    /// at position P, it removed something at or above P (`before > P`). Replay and live both
    /// decide with this.
    pub fn covers_deletion(&self, stream_name: &str, before: i64, global_position: i64) -> bool {
        match self {
            Selection::Stream {
                name,
                from_position,
            } => stream_name == name && before > *from_position,
            _ => self.matches(stream_name, 0, global_position),
        }
    }
}

/// `/subscribe`, any method (§3, §8).
pub async fn subscribe(State(state): State<AppState>, caller: Caller, uri: Uri) -> Response {
    let selection = match Selection::parse(uri.query()) {
        Ok(selection) => selection,
        Err(e) => return invalid(e),
    };
    let ns = caller.namespace().clone();
    // Register before reading anything (§8.5 step 2).
    let registration = state.notifier().register(&ns);
    let cursor = match selection {
        Selection::All {
            from_global_position: None,
        } => match state.store().head(&ns).await {
            Ok(head) => head,
            Err(e) => return ApiError::from_store(Op::Subscribe, e).into_response(),
        },
        _ => 0,
    };
    let (chunks, body) = mpsc::channel::<Bytes>(OUTPUT_QUEUE);
    // The first chunk, queued before the task can read anything: the client sees the headers
    // and `: ready` at once, whatever the replay costs.
    let _ = chunks.try_send(Bytes::from_static(READY));
    let next_position = match &selection {
        Selection::Stream { from_position, .. } => *from_position,
        _ => 0,
    };
    let stop = Stop {
        shutdown: state.subscriptions_closing(),
        ended: registration.ended,
    };
    let subscription = Subscription {
        guard: state.track_subscription(),
        heartbeat: state.config().sse_heartbeat,
        state,
        ns,
        selection,
        cursor,
        deleted_cursor: cursor,
        next_position,
        receiver: registration.receiver,
        stop,
        pokes: PokeBuffer::default(),
        out: Output {
            chunks,
            last_output: Instant::now(),
        },
    };
    tokio::spawn(subscription.run());
    stream_response(body)
}

/// A 400 with the exact text (§8.2).
fn invalid(error: SelectionError) -> Response {
    let mut response = (StatusCode::BAD_REQUEST, error.to_string()).into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The 200 with the §8.3 headers; its body is whatever the subscription sends, chunk by chunk.
fn stream_response(mut chunks: mpsc::Receiver<Bytes>) -> Response {
    let stream = futures::stream::poll_fn(move |cx| {
        chunks.poll_recv(cx).map(|c| c.map(Ok::<_, Infallible>))
    });
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(CONNECTION, HeaderValue::from_static("keep-alive"));
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// Why a subscription ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    ClientGone,
    ServerShutdown,
    NamespaceEnded,
    ReplayFailed,
}

/// Queue overflow (or a resync): the subscription must catch up from the store.
struct Overflow;

/// One open subscription, run by its own task.
struct Subscription {
    state: AppState,
    ns: NamespaceId,
    selection: Selection,
    /// The gpos of the last poke sent (or `H`).
    cursor: i64,
    /// The gpos of the last deletion delivered or passed over (or `H`): deletions have their
    /// own cursor, so a stream subscription can be told of them before its pokes (§18).
    deleted_cursor: i64,
    /// Stream subscriptions: where a replay starts (one past the last position poked, or the
    /// requested start).
    next_position: i64,
    receiver: broadcast::Receiver<Notice>,
    stop: Stop,
    out: Output,
    /// Encodes this subscription's pokes in one reused buffer.
    pokes: PokeBuffer,
    heartbeat: Option<Duration>,
    /// Counts this subscription in `sys.health.connections` until the task ends.
    guard: SubscriptionGuard,
}

/// The two reasons to stop that come from outside: shutdown and the namespace's end.
struct Stop {
    shutdown: watch::Receiver<bool>,
    ended: NamespaceEnded,
}

impl Stop {
    async fn wait(&mut self) -> End {
        tokio::select! {
            // An error means the server state is gone, which is a shutdown too.
            _ = self.shutdown.wait_for(|closing| *closing) => End::ServerShutdown,
            () = self.ended.wait() => End::NamespaceEnded,
        }
    }
}

/// The response body's side of the channel.
struct Output {
    chunks: mpsc::Sender<Bytes>,
    /// When the last chunk was handed to the connection; the heartbeat counts from here.
    last_output: Instant,
}

impl Output {
    /// Hands one chunk to the connection, waiting while the client is slow, but never past a
    /// shutdown or the namespace's end.
    async fn send(&mut self, stop: &mut Stop, chunk: Bytes) -> Result<(), End> {
        tokio::select! {
            biased;
            end = stop.wait() => Err(end),
            sent = self.chunks.send(chunk) => match sent {
                Ok(()) => {
                    self.last_output = Instant::now();
                    Ok(())
                }
                Err(_) => Err(End::ClientGone),
            },
        }
    }
}

impl Subscription {
    async fn run(mut self) {
        let end = self.serve().await;
        tracing::debug!(namespace = %self.ns, ?end, cursor = self.cursor, "subscription ended");
        drop(self.guard);
    }

    /// Replay, then live; after an overflow, replay from the cursor again.
    async fn serve(&mut self) -> End {
        if *self.stop.shutdown.borrow() {
            return End::ServerShutdown;
        }
        loop {
            if let Err(end) = self.replay().await {
                return end;
            }
            match self.live().await {
                Ok(Overflow) => {
                    // Discard the queue by registering afresh, then read what it lost.
                    self.receiver = self.receiver.resubscribe();
                    metrics::sse_caught_up();
                    self.state.notifier().caught_up();
                }
                Err(end) => return end,
            }
        }
    }

    /// Delivers everything in the store above the cursors: for a stream subscription its
    /// deletions first, then its messages by position; otherwise messages and deletions merged
    /// in gpos order.
    async fn replay(&mut self) -> Result<(), End> {
        match self.selection {
            Selection::Stream { .. } => {
                self.replay_stream_deletions().await?;
                self.replay_stream().await
            }
            _ => self.replay_log().await,
        }
    }

    /// A stream subscription's deletions (§18: "before its pokes"): the namespace's deletion
    /// log above the deletion cursor, filtered. Deletions are rare, so reading the log is cheap.
    async fn replay_stream_deletions(&mut self) -> Result<(), End> {
        loop {
            let from = self.deleted_cursor + 1;
            let page = self.read_deletions(from).await?;
            for deletion in &page {
                self.offer_deletion(deletion).await?;
                self.deleted_cursor = self.deleted_cursor.max(deletion.global_position);
            }
            if page.len() < MAX_DELETIONS_PAGE as usize {
                return Ok(());
            }
        }
    }

    /// Pokes a stream's messages above the cursor, page by page, until a page is short.
    async fn replay_stream(&mut self) -> Result<(), End> {
        // Pages start where the previous one ended, not at the cursor: a page whose messages
        // were all skipped still moves on.
        let mut from = self.next_position;
        loop {
            let page = self.committed_page(from).await?;
            for c in &page {
                self.offer_committed(c).await?;
            }
            let Some(last) = page.last() else {
                return Ok(());
            };
            from = last.position + 1;
            if page.len() < PAGE as usize {
                return Ok(());
            }
        }
    }

    /// A category or `all` subscription's replay: messages and deletions above the cursors, in
    /// gpos order. Each round first reads the head `h`, then a page of messages and the
    /// deletions, and delivers only what lies at or below `h` (and below the page's end when
    /// the page is full): everything there was committed before both reads, so nothing
    /// committed meanwhile can be delivered ahead of something older (it comes live, or in the
    /// next round).
    async fn replay_log(&mut self) -> Result<(), End> {
        let start = match &self.selection {
            Selection::Category {
                from_global_position,
                ..
            } => *from_global_position,
            Selection::All {
                from_global_position,
            } => from_global_position.unwrap_or(0),
            Selection::Stream { .. } => 0,
        };
        let mut from = (self.cursor.min(self.deleted_cursor) + 1).max(start);
        loop {
            let head = self.read_head().await?;
            let page = self.committed_page(from).await?;
            let full = page.len() >= PAGE as usize;
            let upper = match page.last() {
                Some(last) if full => last.global_position.min(head),
                _ => head,
            };
            let mut deletions = Vec::new();
            let mut next = from;
            while next <= upper {
                let more = self.read_deletions(next).await?;
                let short = more.len() < MAX_DELETIONS_PAGE as usize;
                next = more.last().map_or(upper + 1, |d| d.global_position + 1);
                deletions.extend(more.into_iter().filter(|d| d.global_position <= upper));
                if short {
                    break;
                }
            }
            let mut deletions = deletions.into_iter().peekable();
            for c in page.iter().filter(|c| c.global_position <= upper) {
                while let Some(d) = deletions.next_if(|d| d.global_position < c.global_position) {
                    self.offer_deletion(&d).await?;
                }
                self.offer_committed(c).await?;
            }
            for d in deletions {
                self.offer_deletion(&d).await?;
            }
            if !full {
                return Ok(());
            }
            from = upper.max(from - 1) + 1;
        }
    }

    /// One replay page of messages from `from` (a position for a stream, a gpos otherwise),
    /// keeping only what a poke needs: a client that stalls mid-page pins no payloads.
    async fn committed_page(&mut self, from: i64) -> Result<Vec<Committed>, End> {
        Ok(self
            .read_page(from)
            .await?
            .into_iter()
            .map(|m| Committed {
                global_position: m.global_position,
                stream_name: m.stream_name,
                position: m.position,
            })
            .collect())
    }

    /// The namespace's head, with the replay's retries.
    async fn read_head(&mut self) -> Result<i64, End> {
        let store = self.state.clone();
        let ns = self.ns.clone();
        retry(&mut self.stop, &self.ns, || store.store().head(&ns)).await
    }

    /// A page of the deletion log from gpos `from`, with the replay's retries.
    async fn read_deletions(&mut self, from: i64) -> Result<Vec<Deletion>, End> {
        let store = self.state.clone();
        let ns = self.ns.clone();
        retry(&mut self.stop, &self.ns, || {
            store.store().list_deletions(&ns, from, MAX_DELETIONS_PAGE)
        })
        .await
    }

    /// One replay page from `from`, retrying a failing read a few times before giving up on
    /// the response.
    async fn read_page(&mut self, from: i64) -> Result<Vec<Message>, End> {
        let state = self.state.clone();
        let ns = self.ns.clone();
        let selection = self.selection.clone();
        retry(&mut self.stop, &self.ns, || {
            read_once(&state, &ns, &selection, from)
        })
        .await
    }

    /// Pokes the batches queued since registration; returns on overflow or the end.
    async fn live(&mut self) -> Result<Overflow, End> {
        loop {
            let beat = heartbeat_due(self.heartbeat, self.out.last_output);
            tokio::select! {
                biased;
                end = self.stop.wait() => return Err(end),
                () = self.out.chunks.closed() => return Err(End::ClientGone),
                received = self.receiver.recv() => match received {
                    Ok(Notice::Committed(batch)) => {
                        for c in batch.iter() {
                            self.offer_committed(c).await?;
                        }
                    }
                    Ok(Notice::Deleted(deletion)) => self.offer_deletion(&deletion).await?,
                    // The store may have missed commits before this point: same remedy.
                    Ok(Notice::Resync) | Err(RecvError::Lagged(_)) => return Ok(Overflow),
                    Err(RecvError::Closed) => return Err(End::NamespaceEnded),
                },
                () = beat => {
                    self.out
                        .send(&mut self.stop, Bytes::from_static(KEEPALIVE))
                        .await?;
                }
            }
        }
    }

    /// Sends `event: deleted` for a deletion the subscription covers, once (its own cursor).
    async fn offer_deletion(&mut self, deletion: &Deletion) -> Result<(), End> {
        if deletion.global_position <= self.deleted_cursor
            || !self.selection.covers_deletion(
                &deletion.stream_name,
                deletion.before,
                deletion.global_position,
            )
        {
            return Ok(());
        }
        let chunk = deleted_chunk(
            &deletion.stream_name,
            deletion.before,
            deletion.global_position,
        );
        self.out.send(&mut self.stop, chunk).await?;
        self.deleted_cursor = deletion.global_position;
        Ok(())
    }

    async fn offer_committed(&mut self, c: &Committed) -> Result<(), End> {
        self.offer(&c.stream_name, c.position, c.global_position)
            .await
    }

    /// Pokes one message if it matches and lies above the cursor (the §8.5 rule).
    async fn offer(
        &mut self,
        stream_name: &str,
        position: i64,
        global_position: i64,
    ) -> Result<(), End> {
        if global_position <= self.cursor
            || !self
                .selection
                .matches(stream_name, position, global_position)
        {
            return Ok(());
        }
        let chunk = self.pokes.chunk(stream_name, position, global_position);
        self.out.send(&mut self.stop, chunk).await?;
        self.cursor = global_position;
        self.next_position = self.next_position.max(position + 1);
        metrics::sse_poked();
        Ok(())
    }
}

/// Runs a replay read, retrying a failing one a few times (with a growing pause) before
/// giving up on the response; a deleted namespace ends it at once.
async fn retry<T, F, Fut>(stop: &mut Stop, ns: &NamespaceId, mut op: F) -> Result<T, End>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut backoff = REPLAY_BACKOFF;
    let mut attempt = 1;
    loop {
        match op().await {
            Ok(value) => return Ok(value),
            Err(StoreError::NamespaceNotFound(_)) => return Err(End::NamespaceEnded),
            Err(e) if attempt >= REPLAY_ATTEMPTS => {
                tracing::error!(
                    namespace = %ns,
                    error = %e,
                    "subscription replay failed; ending the response"
                );
                return Err(End::ReplayFailed);
            }
            Err(e) => {
                tracing::warn!(
                    namespace = %ns,
                    error = %e,
                    attempt,
                    "subscription replay read failed; retrying"
                );
                tokio::select! {
                    end = stop.wait() => return Err(end),
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff *= 2;
                attempt += 1;
            }
        }
    }
}

/// Reads one page: stream messages from position `from`, or category / namespace messages
/// from gpos `from`.
async fn read_once(
    state: &AppState,
    ns: &NamespaceId,
    selection: &Selection,
    from: i64,
) -> Result<Vec<Message>, StoreError> {
    let store = state.store();
    let limit = Limit::AtMost(PAGE);
    let category_query = |category: &str, group: Option<ConsumerGroup>| CategoryQuery {
        category: category.to_owned(),
        from_global_position: from,
        limit,
        correlation: None,
        consumer_group: group,
    };
    match selection {
        Selection::Stream { name, .. } => {
            // A name with U+0000 cannot have messages; live delivery still compares it.
            let Ok(stream) = StreamName::parse(name.as_str()) else {
                return Ok(Vec::new());
            };
            let query = StreamQuery {
                start: StartAt::Position(from),
                limit,
            };
            store.read_stream(ns, &stream, &query).await
        }
        Selection::Category { name, group, .. } => {
            store.read_category(ns, &category_query(name, *group)).await
        }
        // `""` selects the whole namespace.
        Selection::All { .. } => store.read_category(ns, &category_query("", None)).await,
    }
}

/// Resolves when a keepalive is due: `interval` after the last output; never if disabled.
async fn heartbeat_due(interval: Option<Duration>, last_output: Instant) {
    match interval {
        Some(interval) => tokio::time::sleep_until(last_output + interval).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Result<Selection, String> {
        Selection::parse(Some(query)).map_err(|e| e.to_string())
    }

    #[test]
    fn validation_order_and_texts() {
        let cases = [
            (
                "",
                "Either 'stream', 'category', or 'all=true' parameter required",
            ),
            (
                "stream=&category=",
                "Either 'stream', 'category', or 'all=true' parameter required",
            ),
            (
                "all=TRUE",
                "Either 'stream', 'category', or 'all=true' parameter required",
            ),
            (
                "all=1&position=x",
                "Either 'stream', 'category', or 'all=true' parameter required",
            ),
            (
                "all=true&stream=a-1&category=b",
                "Cannot combine 'all' with 'stream' or 'category'",
            ),
            (
                "all=true&category=b",
                "Cannot combine 'all' with 'stream' or 'category'",
            ),
            (
                "stream=a-1&category=a&position=x",
                "Cannot specify both 'stream' and 'category'",
            ),
            ("stream=a-1&position=x", "Invalid position parameter"),
            ("stream=a-1&position=1.5", "Invalid position parameter"),
            ("stream=a-1&position=+", "Invalid position parameter"),
            (
                "stream=a-1&position=99999999999999999999",
                "Invalid position parameter",
            ),
            (
                "category=a&position=x&consumer=-1",
                "Invalid position parameter",
            ),
            (
                "category=a&consumer=-1&size=x",
                "Invalid consumer parameter",
            ),
            ("category=a&consumer=x", "Invalid consumer parameter"),
            ("category=a&size=-1", "Invalid size parameter"),
            ("category=a&size=2.0", "Invalid size parameter"),
            (
                "category=a&consumer=2&size=2",
                "Invalid consumer group: member must be < size",
            ),
            (
                "category=a&consumer=1",
                "Invalid consumer group: member must be < size",
            ),
            (
                "category=a&consumerGroupMember=3&consumerGroupSize=2",
                "Invalid consumer group: member must be < size",
            ),
        ];
        for (query, expected) in cases {
            assert_eq!(parse(query).unwrap_err(), expected, "{query}");
        }
    }

    #[test]
    fn names_are_limited_in_bytes_after_decoding() {
        let at = "a".repeat(1024);
        assert!(parse(&format!("stream={at}&position=x")).is_err_and(|e| e.contains("position")));
        assert_eq!(
            parse(&format!("stream={at}a&position=x")).unwrap_err(),
            "streamName must be at most 1024 bytes"
        );
        assert_eq!(
            parse(&format!("category={at}a&consumer=x")).unwrap_err(),
            "categoryName must be at most 1024 bytes"
        );
        // `%C3%A9` is one two-byte character: 512 fit, 513 do not.
        assert!(parse(&format!("category={}", "%C3%A9".repeat(512))).is_ok());
        assert_eq!(
            parse(&format!("stream={}", "%C3%A9".repeat(513))).unwrap_err(),
            "streamName must be at most 1024 bytes"
        );
    }

    #[test]
    fn group_parameters_are_ignored_outside_categories() {
        assert_eq!(
            parse("stream=a-1&consumer=-1&size=x").unwrap(),
            Selection::Stream {
                name: "a-1".into(),
                from_position: 0
            }
        );
        assert_eq!(
            parse("all=true&consumer=5&size=2&position=-3").unwrap(),
            Selection::All {
                from_global_position: Some(0)
            }
        );
        assert_eq!(
            parse("all=true&position=").unwrap(),
            Selection::All {
                from_global_position: None
            }
        );
    }

    #[test]
    fn values_are_form_decoded_and_the_first_occurrence_counts() {
        assert_eq!(
            parse("stream=entity-123%2Balice&stream=other-1&position=%2B2").unwrap(),
            Selection::Stream {
                name: "entity-123+alice".into(),
                from_position: 2
            }
        );
        assert_eq!(
            parse("stream=a+b-1").unwrap(),
            Selection::Stream {
                name: "a b-1".into(),
                from_position: 0
            }
        );
        // An empty first occurrence means absent; a later one is not consulted.
        assert_eq!(
            parse("stream=&stream=x-1").unwrap_err(),
            "Either 'stream', 'category', or 'all=true' parameter required"
        );
    }

    #[test]
    fn aliases_are_read_only_when_the_primary_is_absent() {
        let group = |member, size| Some(ConsumerGroup::new(member, size).unwrap());
        let category = |g| Selection::Category {
            name: "a".into(),
            group: g,
            from_global_position: 0,
        };
        assert_eq!(
            parse("category=a&consumerGroupMember=1&consumerGroupSize=2").unwrap(),
            category(group(1, 2))
        );
        assert_eq!(
            parse("category=a&consumer=0&consumerGroupMember=1&size=3&consumerGroupSize=2")
                .unwrap(),
            category(group(0, 3))
        );
        assert_eq!(
            parse("category=a&consumer=&consumerGroupMember=1&size=2").unwrap(),
            category(group(1, 2))
        );
        assert_eq!(parse("category=a&size=2").unwrap(), category(group(0, 2)));
        assert_eq!(
            parse("category=a&consumer=0&size=0").unwrap(),
            category(None)
        );
    }

    #[test]
    fn matching_follows_the_delivery_table() {
        let stream = parse("stream=account-1&position=2").unwrap();
        assert!(stream.matches("account-1", 2, 10));
        assert!(!stream.matches("account-1", 1, 11));
        assert!(!stream.matches("account-12", 5, 12));

        let category = parse("category=account&position=5").unwrap();
        assert!(category.matches("account-1", 0, 5));
        assert!(category.matches("account", 0, 6));
        assert!(!category.matches("account-1", 9, 4));
        assert!(!category.matches("accountLog-1", 0, 7));
        assert!(!category.matches("Account-1", 0, 7));
        assert!(!parse("category=a-b").unwrap().matches("a-b", 0, 1));

        let member = |m| parse(&format!("category=x&consumer={m}&size=3")).unwrap();
        assert!(member(2).matches("x-abc", 0, 1));
        assert!(!member(0).matches("x-abc", 0, 1));
        for m in 0..3 {
            assert!(
                !member(m).matches("x", 0, 1),
                "no member gets an empty cardinal id"
            );
            assert_eq!(
                member(m).matches("x-123+alice", 0, 1),
                member(m).matches("x-123+bob", 0, 1)
            );
        }

        let all = parse("all=true&position=3").unwrap();
        assert!(all.matches("anything", 0, 3) && !all.matches("anything", 0, 2));
        assert!(parse("all=true").unwrap().matches("x", 0, 1));
    }

    #[test]
    fn pokes_are_one_compact_event_with_an_escaped_name() {
        let mut pokes = PokeBuffer::default();
        let mut poke = |name, position, gpos| pokes.chunk(name, position, gpos);
        assert_eq!(
            &poke("account-123", 5, 1234)[..],
            b"event: poke\ndata: {\"stream\":\"account-123\",\"position\":5,\"globalPosition\":1234}\n\n"
        );
        assert_eq!(
            &poke("a\n\"b\"-\u{e9}", 0, 1)[..],
            "event: poke\ndata: {\"stream\":\"a\\n\\\"b\\\"-\u{e9}\",\"position\":0,\"globalPosition\":1}\n\n"
                .as_bytes()
        );
    }
}

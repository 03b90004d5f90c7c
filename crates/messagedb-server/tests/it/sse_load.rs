//! SSE under load (issue 4): subscriptions never skip a message.
//!
//! * **Gap-free under load.** Four concurrent writers append 20,000 messages over 50 streams in
//!   two categories. They call the store directly: the writer thread, commit and publication
//!   are those of `stream.write`, and skipping HTTP keeps the test to seconds in debug builds
//!   (the RPC-write-to-poke path is covered in `sse`). Subscriptions to one stream, one
//!   category, the three members of a group of 3, and the whole namespace are opened before,
//!   during and after the writes; each must receive every matching message exactly once, in
//!   ascending gpos, as `category.get` reports them. Run on the in-memory and on the
//!   file-backed store.
//! * **Slow consumer** (also checklist 113, with 10,000 messages instead of 100,000 to keep
//!   debug runs short). A client stops reading while 10,000 messages are written, then resumes
//!   and still gets every poke exactly once; writers never waited for it, the notifier's queue
//!   never held more than its capacity, and the subscription went through the overflow path.

use std::sync::Arc;
use std::time::Duration;

use messagedb_core::Store;
use messagedb_server::ServerConfig;
use messagedb_sqlite::SqliteStore;
use tokio::net::TcpSocket;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::{spawn_app, spawn_store, App, T};
use crate::sse_client::{
    append, assert_ascending, category_get, default_ns, gpos_set, Event, Poke, RawSse, Sse,
};

/// The guard on bulk phases (thousands of writes or pokes): generous, because debug builds on
/// a busy machine are slow, and it only exists to turn a hang into a failure.
const BULK_PATIENCE: Duration = Duration::from_secs(180);

async fn in_bulk<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(BULK_PATIENCE, f)
        .await
        .expect("a bulk phase finished in time")
}

const WRITERS: usize = 4;
const PER_WRITER: usize = 5_000;
const STREAMS: usize = 50;

/// Stream `i` of the 50: even ones in `alpha`, odd ones in `beta`; some with compound ids.
fn stream_name(i: usize) -> String {
    let category = if i.is_multiple_of(2) { "alpha" } else { "beta" };
    if i.is_multiple_of(5) {
        format!("{category}-{}+{i}", i / 5)
    } else {
        format!("{category}-{i}")
    }
}

/// What each subscription of a phase asks for.
fn queries(phase: Phase) -> Vec<String> {
    let position = match phase {
        Phase::Before => "",
        Phase::During | Phase::After => "&position=1",
    };
    let mut queries = vec![
        format!("stream={}", urlencode(&stream_name(10))),
        "category=beta".to_owned(),
    ];
    for member in 0..3 {
        queries.push(format!("category=alpha&consumer={member}&size=3"));
    }
    queries.push(format!("all=true{position}"));
    if phase == Phase::During {
        // Live-only while the writes run: must get a gap-free suffix.
        queries.push("all=true".to_owned());
    }
    queries
}

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Before,
    During,
    After,
}

/// A subscription read by its own task until it has seen the gpos it is told is its last.
struct Reader {
    query: String,
    last: watch::Sender<Option<i64>>,
    task: JoinHandle<Vec<Poke>>,
}

impl Reader {
    async fn start(app: &App, query: String) -> Reader {
        let mut sse = Sse::open(app, &query).await;
        let (last, mut target) = watch::channel(None::<i64>);
        let task = tokio::spawn(async move {
            let mut pokes: Vec<Poke> = Vec::new();
            loop {
                let done = match *target.borrow_and_update() {
                    Some(last) => pokes.last().map_or(0, |p| p.global_position) >= last,
                    None => false,
                };
                if done {
                    return pokes;
                }
                tokio::select! {
                    event = sse.next() => match event {
                        Some(Event::Poke(poke)) => pokes.push(poke),
                        Some(Event::Keepalive) => {}
                        other => panic!("unexpected {other:?}"),
                    },
                    _ = target.changed() => {}
                }
            }
        });
        Reader { query, last, task }
    }

    /// Tells the reader which gpos is its last, and collects what it received.
    async fn finish(self, expected: &[Poke]) -> (String, Vec<Poke>) {
        let last = expected.last().map_or(0, |p| p.global_position);
        self.last.send_replace(Some(last));
        let pokes = in_bulk(self.task).await.expect("reader task");
        (self.query, pokes)
    }
}

/// Appends `PER_WRITER` messages through the store, round-robin over the streams.
fn writer(app: &App, w: usize) -> JoinHandle<()> {
    let state = app.state.clone();
    tokio::spawn(async move {
        let ns = default_ns();
        for k in 0..PER_WRITER {
            let stream = stream_name((w * 7 + k) % STREAMS);
            let message = messagedb_core::NewMessage {
                id: None,
                stream_name: messagedb_core::StreamName::parse(stream).unwrap(),
                message_type: "Loaded".into(),
                data: format!("{{\"w\":{w},\"k\":{k}}}"),
                metadata: None,
                expected_version: None,
            };
            state.store().write(&ns, message).await.expect("write");
        }
    })
}

async fn gap_free_under_load(app: App) {
    let mut readers = Vec::new();
    for query in queries(Phase::Before) {
        readers.push(Reader::start(&app, query).await);
    }
    let writers: Vec<JoinHandle<()>> = (0..WRITERS).map(|w| writer(&app, w)).collect();
    // "During": once a fifth of the messages are in, while the writers keep going.
    let ns = default_ns();
    let started = in_bulk(async {
        loop {
            let head = app.state.store().head(&ns).await.unwrap();
            if head >= (WRITERS * PER_WRITER / 5) as i64 {
                return head;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    for query in queries(Phase::During) {
        readers.push(Reader::start(&app, query).await);
    }
    let opened_at = app.state.store().head(&ns).await.unwrap();
    for writer in writers {
        in_bulk(writer).await.expect("writer task");
    }
    let total = (WRITERS * PER_WRITER) as i64;
    assert_eq!(app.state.store().head(&ns).await.unwrap(), total);
    assert!(
        opened_at < total,
        "the 'during' subscriptions opened while the writes ran"
    );
    for query in queries(Phase::After) {
        readers.push(Reader::start(&app, query).await);
    }

    // What each selection must get, as category.get sees it.
    let everything = category_get(&app, "", None).await;
    assert_eq!(everything.len(), WRITERS * PER_WRITER);
    let beta = category_get(&app, "beta", None).await;
    let alpha = category_get(&app, "alpha", None).await;
    let members: Vec<Vec<Poke>> = {
        let mut members = Vec::new();
        for member in 0..3 {
            members.push(category_get(&app, "alpha", Some((member, 3))).await);
        }
        members
    };
    let one_stream: Vec<Poke> = everything
        .iter()
        .filter(|p| p.stream == stream_name(10))
        .cloned()
        .collect();
    assert_eq!(one_stream.len(), WRITERS * PER_WRITER / STREAMS);

    let mut member_sets = Vec::new();
    for reader in readers {
        let query = reader.query.clone();
        let expected: &[Poke] = if query.starts_with("stream=") {
            &one_stream
        } else if query == "category=beta" {
            &beta
        } else if let Some(rest) = query.strip_prefix("category=alpha&consumer=") {
            let member: usize = rest[..1].parse().unwrap();
            &members[member]
        } else {
            &everything
        };
        let (query, pokes) = reader.finish(expected).await;
        assert_ascending(&pokes);
        if query == "all=true" && pokes.len() != expected.len() {
            // The live-only subscription opened mid-write: a gap-free suffix of everything.
            let first = pokes.first().expect("pokes after opening").global_position;
            let suffix: Vec<Poke> = everything
                .iter()
                .filter(|p| p.global_position >= first)
                .cloned()
                .collect();
            assert_eq!(pokes, suffix, "{query}: a gap-free suffix");
            assert!(first > started, "{query}: nothing from before it opened");
            continue;
        }
        assert_eq!(pokes.len(), expected.len(), "{query}: every message");
        assert_eq!(pokes, expected, "{query}: the very messages, in order");
        if query.starts_with("category=alpha&consumer=") {
            member_sets.push(gpos_set(&pokes));
        }
    }
    // Three phases of three members: within each phase they partition the category.
    assert_eq!(member_sets.len(), 9);
    for phase in member_sets.chunks(3) {
        let total: usize = phase.iter().map(|s| s.len()).sum();
        assert_eq!(
            total,
            alpha.len(),
            "members are disjoint and cover the category"
        );
        let union: std::collections::HashSet<i64> = phase.iter().flatten().copied().collect();
        assert_eq!(union, gpos_set(&alpha));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gap_free_under_load_in_memory() {
    gap_free_under_load(spawn_app().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gap_free_under_load_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).unwrap());
    gap_free_under_load(spawn_store(Arc::clone(&store), ServerConfig::default()).await).await;
    store.close().await;
}

/// Issue 4 "slow consumer" and checklist 113 (10,000 messages).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_catches_up_without_gaps() {
    const MESSAGES: usize = 10_000;
    let app = spawn_app().await;
    // A small receive window and long stream names (about 2 KB per poke, 20 MB in all) make
    // sure the client cannot buffer its way out of being slow: the socket buffers fill, the
    // server's task blocks on it, and its queue in the notifier overflows.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(app.addr).await.unwrap();
    let mut slow = RawSse::over(stream, T, "category=slow").await;
    assert!(slow.head[0].starts_with("HTTP/1.1 200"));
    assert_eq!(slow.event().await, Some(Event::Ready));
    let padding = "x".repeat(2000);
    let ns = default_ns();

    // The client reads nothing while the writes run; the writers never wait for it.
    let mut written = Vec::with_capacity(MESSAGES);
    in_bulk(async {
        for i in 0..MESSAGES {
            let stream = format!("slow-{}{padding}", i % 10);
            let positions = append(&app, &ns, &stream).await;
            written.push(Poke {
                stream,
                position: positions.position,
                global_position: positions.global_position,
            });
        }
    })
    .await;

    // Resumed: every poke, once, in order.
    let mut received = Vec::with_capacity(MESSAGES);
    while received.len() < MESSAGES {
        match slow.event().await {
            Some(Event::Poke(poke)) => received.push(poke),
            Some(Event::Keepalive) => {}
            other => panic!("unexpected {other:?} after {} pokes", received.len()),
        }
    }
    assert_ascending(&received);
    assert_eq!(received, written);

    let notifier = app.state.notifier();
    assert!(
        notifier.catch_ups() >= 1,
        "the subscription went through the overflow path"
    );
    assert!(
        notifier.high_water() <= notifier.capacity(),
        "the queue never held more than its capacity ({} > {})",
        notifier.high_water(),
        notifier.capacity()
    );
    let metrics = app
        .send(reqwest::Method::GET, "/metrics", None, "")
        .await
        .body;
    let catchups = metrics
        .lines()
        .find_map(|l| l.strip_prefix("messagedb_sse_catchups_total "))
        .expect("the catch-up counter");
    assert!(catchups.parse::<f64>().unwrap() >= 1.0, "{catchups}");

    // And it is live again.
    let next = append(&app, &ns, "slow-0").await;
    match slow.event().await {
        Some(Event::Poke(poke)) => assert_eq!(poke.global_position, next.global_position),
        other => panic!("{other:?}"),
    }
}

//! Durability across a crash and a graceful shutdown (SPEC §10.2 I2, §11.3; checklist K97, K100):
//! every write the server acknowledged is there after a restart. For `stream.writeBatch`
//! (SPEC §17.2), also that a crash never leaves part of a batch behind.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use messagedb_client::{
    BatchEntry, BatchOptions, CategoryOptions, Client, ClientError, NewMessage, StreamOptions,
};
use messagedb_core::MessageId;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::support::{Launch, ADMIN};

/// One acknowledged write.
#[derive(Debug, Clone)]
struct Ack {
    stream: String,
    id: String,
    position: i64,
    global_position: i64,
}

/// Writers that loop over `streams` until their first failure (the server went away), recording
/// every acknowledged write. `progress` counts the acknowledgements.
fn start_writers(
    client: &Client,
    writers: usize,
    streams: usize,
    prefix: &str,
) -> (JoinSet<()>, Arc<Mutex<Vec<Ack>>>, watch::Receiver<usize>) {
    let acks = Arc::new(Mutex::new(Vec::new()));
    let (progress, progress_rx) = watch::channel(0usize);
    let mut tasks = JoinSet::new();
    for writer in 0..writers {
        let client = client.clone();
        let acks = Arc::clone(&acks);
        let progress = progress.clone();
        let prefix = prefix.to_owned();
        tasks.spawn(async move {
            // Bounded, so that a server that never fails cannot keep a writer alive forever.
            for seq in 0..100_000usize {
                let stream = format!("{prefix}-{}", (writer * 7 + seq) % streams);
                let id = MessageId::new_v7().to_string();
                let data = format!(r#"{{"writer":{writer},"seq":{seq}}}"#);
                let message = NewMessage::from_json_text("Written", data)
                    .unwrap()
                    .with_id(id.clone());
                match client.write_message(&stream, &message).await {
                    Ok(result) => {
                        acks.lock().unwrap().push(Ack {
                            stream,
                            id,
                            position: result.position,
                            global_position: result.global_position,
                        });
                        progress.send_modify(|n| *n += 1);
                    }
                    Err(_) => break,
                }
            }
        });
    }
    (tasks, acks, progress_rx)
}

/// Checks that every acknowledged write is stored as acknowledged, that stream positions are
/// gapless from 0, and that global positions increase strictly.
async fn verify(client: &Client, category: &str, acks: &[Ack]) {
    let all = client
        .get_category(
            category,
            &CategoryOptions {
                batch_size: Some(-1),
                ..CategoryOptions::default()
            },
        )
        .await
        .unwrap();
    assert!(
        all.len() >= acks.len(),
        "{} stored < {} acknowledged",
        all.len(),
        acks.len()
    );
    for pair in all.windows(2) {
        assert!(
            pair[0].global_position < pair[1].global_position,
            "global order"
        );
    }

    let mut by_stream: BTreeMap<&str, Vec<&Ack>> = BTreeMap::new();
    for ack in acks {
        by_stream.entry(ack.stream.as_str()).or_default().push(ack);
    }
    let mut stored_total = 0;
    let streams: std::collections::BTreeSet<&str> =
        all.iter().map(|m| m.stream_name.as_str()).collect();
    for stream in streams {
        let stored = client
            .get_stream(
                stream,
                &StreamOptions {
                    batch_size: Some(-1),
                    ..StreamOptions::default()
                },
            )
            .await
            .unwrap();
        stored_total += stored.len();
        for (expected, message) in stored.iter().enumerate() {
            assert_eq!(message.position, expected as i64, "{stream} has a gap");
        }
        for pair in stored.windows(2) {
            assert!(
                pair[0].global_position < pair[1].global_position,
                "{stream}: gpos order"
            );
        }
        for ack in by_stream.get(stream).into_iter().flatten() {
            let message = stored
                .get(ack.position as usize)
                .unwrap_or_else(|| panic!("acknowledged write lost: {ack:?}"));
            assert_eq!(message.id, ack.id, "{ack:?}");
            assert_eq!(message.global_position, ack.global_position, "{ack:?}");
        }
    }
    assert_eq!(stored_total, all.len());
    for ack in acks {
        assert!(
            all.iter()
                .any(|m| m.id == ack.id && m.stream_name == ack.stream),
            "acknowledged write lost: {ack:?}"
        );
    }
}

fn restart(data_dir: &Path) -> crate::support::Server {
    Launch::serve(data_dir, &[] as &[&str])
        .start()
        .unwrap_or_else(|exited| panic!("restart failed: {exited:?}"))
}

/// K97 and more: SIGKILL under concurrent write load loses no acknowledged write.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let server = Launch::serve(dir.path(), &["--token", ADMIN])
        .start()
        .unwrap();
    let client = server.client(Some(ADMIN));
    let (mut writers, acks, mut progress) = start_writers(&client, 8, 10, "crash");

    // Kill mid-load: once enough writes were acknowledged, while all writers are still running.
    progress
        .wait_for(|n| *n >= 300)
        .await
        .expect("the writers stopped before 300 acknowledged writes");
    server.kill();
    while writers.join_next().await.is_some() {}
    let acks = acks.lock().unwrap().clone();
    assert!(acks.len() >= 300);
    eprintln!("{} writes acknowledged before SIGKILL", acks.len());

    let server = restart(dir.path());
    let client = server.client(Some(ADMIN));
    verify(&client, "crash", &acks).await;
    // The store keeps going after recovery: the next write lands after everything before it.
    let max = acks.iter().map(|a| a.global_position).max().unwrap();
    let next = client
        .write_message(
            "crash-0",
            &NewMessage::from_json_text("After", "{}").unwrap(),
        )
        .await
        .unwrap();
    assert!(next.global_position > max);
    server.stop();
}

/// One acknowledged `stream.writeBatch`: its id (in every message's `data`) and its messages
/// as the server acknowledged them, in entry order.
#[derive(Debug, Clone)]
struct BatchAck {
    batch: String,
    messages: Vec<Ack>,
}

/// Writers that send `stream.writeBatch` calls of 3–5 messages over 2 or 3 of `streams` streams
/// until their first failure, recording every acknowledged batch. Each message's `data` names
/// its batch, its index in it and the batch's size, so that what is stored can be grouped by
/// batch afterwards, acknowledged or not. `progress` counts acknowledged batches.
fn start_batch_writers(
    client: &Client,
    writers: usize,
    streams: usize,
    prefix: &str,
) -> (
    JoinSet<()>,
    Arc<Mutex<Vec<BatchAck>>>,
    watch::Receiver<usize>,
) {
    let acks = Arc::new(Mutex::new(Vec::new()));
    let (progress, progress_rx) = watch::channel(0usize);
    let mut tasks = JoinSet::new();
    for writer in 0..writers {
        let client = client.clone();
        let acks = Arc::clone(&acks);
        let progress = progress.clone();
        let prefix = prefix.to_owned();
        tasks.spawn(async move {
            // Bounded, so that a server that never fails cannot keep a writer alive forever.
            for seq in 0..100_000usize {
                let batch = format!("w{writer}-b{seq}");
                let size = 3 + seq % 3;
                let spread = 2 + seq % 2;
                let entries: Vec<BatchEntry> = (0..size)
                    .map(|index| {
                        let stream =
                            format!("{prefix}-{}", (writer * 7 + seq + index % spread) % streams);
                        let data =
                            format!(r#"{{"batch":"{batch}","index":{index},"size":{size}}}"#);
                        BatchEntry::from_json_text(stream, "Batched", data).unwrap()
                    })
                    .collect();
                match client.write_batch(&entries, &BatchOptions::default()).await {
                    Ok(results) => {
                        assert_eq!(results.len(), size, "one result per entry");
                        let messages = results
                            .into_iter()
                            .map(|r| Ack {
                                stream: r.stream,
                                id: r.id,
                                position: r.position,
                                global_position: r.global_position,
                            })
                            .collect();
                        acks.lock().unwrap().push(BatchAck { batch, messages });
                        progress.send_modify(|n| *n += 1);
                    }
                    Err(_) => break,
                }
            }
        });
    }
    (tasks, acks, progress_rx)
}

/// What a stored message's `data` says about its batch.
#[derive(Debug, serde::Deserialize)]
struct Tag {
    batch: String,
    index: usize,
    size: usize,
}

/// SPEC §17.2 after a crash: every acknowledged batch is stored exactly as acknowledged (by
/// [`verify`], message by message), and every batch that is stored at all is stored whole, its
/// messages at consecutive global positions in entry order, acknowledged or not.
async fn verify_batches(client: &Client, category: &str, acks: &[BatchAck]) {
    let messages: Vec<Ack> = acks.iter().flat_map(|b| b.messages.clone()).collect();
    verify(client, category, &messages).await;

    let all = client
        .get_category(
            category,
            &CategoryOptions {
                batch_size: Some(-1),
                ..CategoryOptions::default()
            },
        )
        .await
        .unwrap();
    let mut stored: BTreeMap<String, Vec<(Tag, i64)>> = BTreeMap::new();
    for message in &all {
        let tag: Tag = serde_json::from_str(message.data.get()).unwrap();
        stored
            .entry(tag.batch.clone())
            .or_default()
            .push((tag, message.global_position));
    }
    for (batch, group) in &stored {
        let size = group[0].0.size;
        // Read in gpos order: a whole batch is its entries 0..size at consecutive positions.
        let indices: Vec<usize> = group.iter().map(|(tag, _)| tag.index).collect();
        assert_eq!(
            indices,
            (0..size).collect::<Vec<_>>(),
            "batch {batch} is partially present: {group:?}"
        );
        for pair in group.windows(2) {
            assert_eq!(
                pair[0].1 + 1,
                pair[1].1,
                "batch {batch}: gpos not consecutive"
            );
        }
    }
    for ack in acks {
        let group = stored
            .get(&ack.batch)
            .unwrap_or_else(|| panic!("acknowledged batch lost: {ack:?}"));
        let positions: Vec<i64> = group.iter().map(|(_, g)| *g).collect();
        let acknowledged: Vec<i64> = ack.messages.iter().map(|m| m.global_position).collect();
        assert_eq!(positions, acknowledged, "{ack:?}");
    }
    let unacknowledged = stored.len() - acks.len();
    eprintln!(
        "{} batches stored whole ({} acknowledged, {unacknowledged} committed but unanswered)",
        stored.len(),
        acks.len()
    );
}

/// SPEC §17.2 and I2: SIGKILL under concurrent `stream.writeBatch` load loses no acknowledged
/// batch and leaves no batch partially written.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batches_survive_sigkill_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let server = Launch::serve(dir.path(), &["--token", ADMIN])
        .start()
        .unwrap();
    let client = server.client(Some(ADMIN));
    let (mut writers, acks, mut progress) = start_batch_writers(&client, 8, 10, "crashbatch");

    // Kill mid-load: once enough batches were acknowledged, while all writers are still running.
    progress
        .wait_for(|n| *n >= 150)
        .await
        .expect("the writers stopped before 150 acknowledged batches");
    server.kill();
    while writers.join_next().await.is_some() {}
    let acks = acks.lock().unwrap().clone();
    assert!(acks.len() >= 150);
    eprintln!("{} batches acknowledged before SIGKILL", acks.len());

    let server = restart(dir.path());
    let client = server.client(Some(ADMIN));
    verify_batches(&client, "crashbatch", &acks).await;
    server.stop();
}

/// SPEC §16.3: with two open slots and four namespaces written at once, namespaces are closed
/// and reopened all the time under load; a SIGKILL in the middle still loses no acknowledged
/// write in any of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_sigkill_while_namespaces_are_evicted() {
    let dir = tempfile::tempdir().unwrap();
    let server = Launch::serve(
        dir.path(),
        &["--token", ADMIN, "--max-open-namespaces", "2"],
    )
    .start()
    .unwrap();
    let admin = server.client(Some(ADMIN));
    let mut tenants = Vec::new();
    for i in 0..4 {
        let created = admin
            .ns_create(&format!("evicted-{i}"), &Default::default())
            .await
            .unwrap();
        let client = server.client(Some(&created.token));
        let (writers, acks, progress) = start_writers(&client, 2, 5, "crash");
        tenants.push((created.token, writers, acks, progress));
    }
    for (_, _, _, progress) in &mut tenants {
        progress
            .wait_for(|n| *n >= 60)
            .await
            .expect("the writers stopped before 60 acknowledged writes");
    }
    server.kill();

    let server = restart(dir.path());
    for (token, mut writers, acks, _) in tenants {
        while writers.join_next().await.is_some() {}
        let acks = acks.lock().unwrap().clone();
        assert!(acks.len() >= 60);
        verify(&server.client(Some(&token)), "crash", &acks).await;
    }
    server.stop();
}

/// One deletion the server acknowledged (SPEC §18): every message of `stream` below `before`
/// is gone for good.
#[derive(Debug, Clone)]
struct DeletionAck {
    stream: String,
    before: i64,
    deleted: i64,
}

/// What the deleter knows about its calls: the acknowledged ones, and the one in flight when
/// the server went away, with the highest `before` it can have had.
#[derive(Debug, Default)]
struct Deletions {
    acknowledged: Vec<DeletionAck>,
    in_flight: Option<(String, i64)>,
}

/// One task that, until the server goes away, reads a stream's version and then either truncates
/// the stream before that version or deletes it whole with that `expectedVersion` (a conflict
/// with a concurrent writer is answered 409 and skipped). Both kinds bound what the call can
/// remove, so that an unanswered call still bounds what a restart may show.
fn start_deleter(
    client: &Client,
    streams: usize,
    prefix: &str,
) -> (
    tokio::task::JoinHandle<()>,
    Arc<Mutex<Deletions>>,
    watch::Receiver<usize>,
) {
    let deletions = Arc::new(Mutex::new(Deletions::default()));
    let (progress, progress_rx) = watch::channel(0usize);
    let client = client.clone();
    let prefix = prefix.to_owned();
    let record = Arc::clone(&deletions);
    let task = tokio::spawn(async move {
        for seq in 0..100_000usize {
            let stream = format!("{prefix}-{}", seq % streams);
            let version = match client.stream_version(&stream).await {
                Ok(Some(version)) => version,
                Ok(None) => continue,
                Err(_) => break,
            };
            let (request, before) = if seq % 2 == 0 {
                let request = serde_json::json!(["stream.truncate", stream, {"before": version}]);
                (request, version)
            } else {
                let request =
                    serde_json::json!(["stream.delete", stream, {"expectedVersion": version}]);
                (request, version + 1)
            };
            record.lock().unwrap().in_flight = Some((stream.clone(), before));
            match client.call(&request).await {
                Ok(result) => {
                    let result: serde_json::Value = serde_json::from_str(result.get()).unwrap();
                    let deleted = result["deleted"].as_i64().unwrap();
                    let mut record = record.lock().unwrap();
                    record.in_flight = None;
                    record.acknowledged.push(DeletionAck {
                        stream,
                        before,
                        deleted,
                    });
                    if deleted > 0 {
                        progress.send_modify(|n| *n += 1);
                    }
                }
                Err(ClientError::Api(err)) if err.status == 409 => {
                    record.lock().unwrap().in_flight = None;
                }
                Err(_) => break,
            }
        }
    });
    (task, deletions, progress_rx)
}

/// After a crash with deletions in the load: per stream, what remains is one run of consecutive
/// positions ending at the stream's version (a deletion removes from the oldest end), starting
/// at or above every acknowledged deletion's `before` (nothing deleted comes back) and at or
/// below what the calls could have removed; every acknowledged write in that run is stored as
/// acknowledged, none below it is; every effective acknowledged deletion is in `ns.deletions`.
async fn verify_with_deletions(
    client: &Client,
    streams: usize,
    prefix: &str,
    acks: &[Ack],
    deletions: &Deletions,
) {
    let listed = client
        .call(&serde_json::json!(["ns.deletions", {"batchSize": 10000}]))
        .await
        .unwrap();
    let listed: Vec<serde_json::Value> = serde_json::from_str(listed.get()).unwrap();
    for deletion in deletions.acknowledged.iter().filter(|d| d.deleted > 0) {
        assert!(
            listed
                .iter()
                .any(|l| l["stream"] == deletion.stream.as_str()
                    && l["before"].as_i64() == Some(deletion.before)),
            "acknowledged deletion not listed: {deletion:?}"
        );
    }
    let all = client
        .get_category(
            prefix,
            &CategoryOptions {
                batch_size: Some(-1),
                ..CategoryOptions::default()
            },
        )
        .await
        .unwrap();
    let mut message_positions: std::collections::BTreeSet<i64> = Default::default();
    for pair in all.windows(2) {
        assert!(
            pair[0].global_position < pair[1].global_position,
            "global order"
        );
    }
    for message in &all {
        message_positions.insert(message.global_position);
    }
    for record in &listed {
        let gpos = record["globalPosition"].as_i64().unwrap();
        assert!(
            !message_positions.contains(&gpos),
            "deletion {record} shares a gpos"
        );
    }

    for index in 0..streams {
        let stream = format!("{prefix}-{index}");
        let acked: Vec<&Ack> = acks.iter().filter(|a| a.stream == stream).collect();
        let floor = deletions
            .acknowledged
            .iter()
            .filter(|d| d.stream == stream)
            .map(|d| d.before)
            .max()
            .unwrap_or(0);
        // The most the calls can have removed: the unanswered one may have run, in whole or in part.
        let ceiling = match &deletions.in_flight {
            Some((s, before)) if *s == stream => floor.max(*before),
            _ => floor,
        };
        let version = client.stream_version(&stream).await.unwrap().unwrap_or(-1);
        let highest_acked = acked.iter().map(|a| a.position).max().unwrap_or(-1);
        assert!(
            version >= highest_acked,
            "{stream}: version {version} went back"
        );
        assert!(
            version >= floor - 1,
            "{stream}: version {version} below a deletion"
        );
        let stored = client
            .get_stream(
                &stream,
                &StreamOptions {
                    batch_size: Some(-1),
                    ..StreamOptions::default()
                },
            )
            .await
            .unwrap();
        let start = stored.first().map_or(version + 1, |m| m.position);
        assert!(
            start >= floor,
            "{stream}: position {start} was deleted (before {floor}) and came back"
        );
        assert!(
            start <= ceiling.max(floor),
            "{stream}: starts at {start}, but no deletion removed below {ceiling}"
        );
        for (offset, message) in stored.iter().enumerate() {
            assert_eq!(
                message.position,
                start + offset as i64,
                "{stream} has a gap"
            );
        }
        if let Some(last) = stored.last() {
            assert_eq!(
                last.position, version,
                "{stream}: version is not the last message"
            );
        }
        for ack in acked {
            match stored.iter().find(|m| m.position == ack.position) {
                Some(message) => {
                    assert_eq!(message.id, ack.id, "{ack:?}");
                    assert_eq!(message.global_position, ack.global_position, "{ack:?}");
                }
                None => assert!(ack.position < start, "acknowledged write lost: {ack:?}"),
            }
        }
    }
}

/// SPEC §18 and I2: SIGKILL while writers write and a deleter truncates and deletes the same
/// streams: no acknowledged write is lost unless an acknowledged or unanswered deletion covered
/// it, nothing an acknowledged deletion removed comes back, versions never go back, and the
/// store keeps going after recovery.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deletions_mixed_into_the_load_survive_sigkill() {
    const STREAMS: usize = 6;
    let dir = tempfile::tempdir().unwrap();
    let server = Launch::serve(dir.path(), &["--token", ADMIN])
        .start()
        .unwrap();
    let client = server.client(Some(ADMIN));
    let (mut writers, acks, mut progress) = start_writers(&client, 6, STREAMS, "crashdel");
    let (deleter, deletions, mut deleted) = start_deleter(&client, STREAMS, "crashdel");

    progress
        .wait_for(|n| *n >= 300)
        .await
        .expect("the writers stopped before 300 acknowledged writes");
    deleted
        .wait_for(|n| *n >= 10)
        .await
        .expect("the deleter stopped before 10 effective deletions");
    // Kill at a moment unrelated to the deleter's calls, so that one may be in flight.
    let written = *progress.borrow();
    progress
        .wait_for(|n| *n >= written + 100)
        .await
        .expect("the writers stopped");
    server.kill();
    while writers.join_next().await.is_some() {}
    deleter.await.unwrap();
    let acks = acks.lock().unwrap().clone();
    let deletions = std::mem::take(&mut *deletions.lock().unwrap());
    eprintln!(
        "{} writes and {} deletions acknowledged before SIGKILL, one in flight: {:?}",
        acks.len(),
        deletions.acknowledged.len(),
        deletions.in_flight
    );

    let server = restart(dir.path());
    let client = server.client(Some(ADMIN));
    verify_with_deletions(&client, STREAMS, "crashdel", &acks, &deletions).await;
    // Recovery keeps going: a write to a deleted stream continues after its old version.
    let version = client.stream_version("crashdel-1").await.unwrap().unwrap();
    let next = client
        .write_message(
            "crashdel-1",
            &NewMessage::from_json_text("After", "{}").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(next.position, version + 1);
    server.stop();
}

/// K100: SIGTERM with 50 writes in flight exits 0 within `--shutdown-timeout` + 1 s, and every
/// write answered 200 is present after the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_drains_in_flight_writes() {
    let dir = tempfile::tempdir().unwrap();
    let timeout = Duration::from_secs(5);
    let mut server = Launch::serve(dir.path(), &["--token", ADMIN, "--shutdown-timeout", "5s"])
        .start()
        .unwrap();
    let client = server.client(Some(ADMIN));
    let (mut writers, acks, mut progress) = start_writers(&client, 50, 25, "term");
    progress
        .wait_for(|n| *n >= 100)
        .await
        .expect("the writers stopped before 100 acknowledged writes");

    server.send_sigterm();
    let signalled = Instant::now();
    let exited = tokio::task::block_in_place(|| server.wait_exit(timeout + Duration::from_secs(1)))
        .unwrap_or_else(|| panic!("still running {:?} after SIGTERM", signalled.elapsed()));
    assert_eq!(exited.status.code(), Some(0), "{}", exited.stderr);
    assert!(
        exited.stderr.contains("Shutdown signal received"),
        "{}",
        exited.stderr
    );
    assert!(
        exited.stderr.contains("Server stopped"),
        "{}",
        exited.stderr
    );
    while writers.join_next().await.is_some() {}
    drop(server);
    let acks = acks.lock().unwrap().clone();
    eprintln!(
        "{} writes acknowledged; exited {:?} after SIGTERM",
        acks.len(),
        signalled.elapsed()
    );

    let server = restart(dir.path());
    verify(&server.client(Some(ADMIN)), "term", &acks).await;
    server.stop();
}

/// §11.3: a request that never completes does not hold the shutdown beyond `--shutdown-timeout`.
///
/// The request announces a 100-byte body with `Expect: 100-continue` and sends none of it. The
/// server answers `100 Continue` only when the handler starts reading the body, so once that line
/// has arrived the request is certainly in flight, and it stays so until the deadline.
#[test]
fn shutdown_deadline_closes_stuck_requests() {
    use std::io::{BufRead, BufReader, Write};

    let dir = tempfile::tempdir().unwrap();
    let mut server = Launch::serve(dir.path(), &["--token", ADMIN, "--shutdown-timeout=1s"])
        .start()
        .unwrap();
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST /rpc HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {ADMIN}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n"
    )
    .unwrap();
    let mut status = String::new();
    BufReader::new(&stream).read_line(&mut status).unwrap();
    assert!(status.starts_with("HTTP/1.1 100"), "{status:?}");

    server.send_sigterm();
    let signalled = Instant::now();
    let exited = server
        .wait_exit(Duration::from_secs(2))
        .unwrap_or_else(|| panic!("still running {:?} after SIGTERM", signalled.elapsed()));
    assert_eq!(exited.status.code(), Some(0), "{}", exited.stderr);
    assert!(
        exited.stderr.contains("Shutdown timeout reached"),
        "{}",
        exited.stderr
    );
    assert!(
        exited.stderr.contains("Server stopped"),
        "{}",
        exited.stderr
    );
}

//! Many namespaces on a bounded set of open databases (SPEC §16.3): namespaces are opened on
//! demand, the least recently used idle one is closed to make room, and a request that finds
//! every slot in use waits instead of failing. Nothing acknowledged is lost by closing.

use std::sync::Arc;

use messagedb_conformance::support::{append_to, read_stream, whole_stream};
use messagedb_core::{NamespaceId, Store, TokenHash};
use messagedb_sqlite::{Limits, SqliteStore};

fn tiny(max_open_namespaces: usize) -> Limits {
    Limits {
        max_open_namespaces,
        writer_threads: 2,
        reader_threads: 4,
    }
}

/// The sizes of the namespace files ending in `suffix`, smallest first.
fn sizes_of(dir: &std::path::Path, suffix: &str) -> Vec<u64> {
    let mut sizes: Vec<u64> = std::fs::read_dir(dir.join("ns"))
        .unwrap()
        .map(Result::unwrap)
        .filter(|e| e.file_name().to_string_lossy().ends_with(suffix))
        .map(|e| e.metadata().unwrap().len())
        .collect();
    sizes.sort_unstable();
    sizes
}

async fn create_many(store: &SqliteStore, count: usize) -> Vec<NamespaceId> {
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let ns = NamespaceId::parse(format!("tenant-{i}")).unwrap();
        store
            .create_namespace(&ns, "", &TokenHash::from_bytes([1; 32]))
            .await
            .unwrap();
        ids.push(ns);
    }
    ids
}

/// 200 namespaces written and read concurrently through 8 slots: every request succeeds, never
/// more than 8 databases are open, and everything written is there after a reopen.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_namespaces_through_eight_slots() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open_with(dir.path(), tiny(8)).unwrap());
    let ids = create_many(&store, 200).await;
    assert_eq!(
        store.open_namespaces(),
        0,
        "creation leaves databases closed"
    );

    for round in 0..3 {
        let tasks: Vec<_> = ids
            .iter()
            .cloned()
            .map(|ns| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    let written = append_to(store.as_ref(), &ns, "account-1").await;
                    let messages =
                        read_stream(store.as_ref(), &ns, "account-1", whole_stream()).await;
                    assert_eq!(written.position, round);
                    assert_eq!(messages.len(), round as usize + 1, "{ns}");
                })
            })
            .collect();
        for task in tasks {
            // A hang guard, not a speed target: a lost wake-up would otherwise stall CI.
            tokio::time::timeout(std::time::Duration::from_secs(120), task)
                .await
                .expect("no request waits forever for a slot")
                .expect("no request failed");
        }
        assert!(store.open_namespaces() <= 8, "{}", store.open_namespaces());
    }
    assert!(
        store.peak_open_namespaces() <= 8,
        "at most 8 open at once, saw {}",
        store.peak_open_namespaces()
    );
    assert!(store.peak_open_namespaces() >= 2, "the slots were used");
    store.close().await;

    let store = SqliteStore::open_with(dir.path(), tiny(8)).unwrap();
    for ns in &ids {
        let info = store.namespace_info(ns).await.unwrap();
        assert_eq!(info.message_count, 3, "{ns}");
    }
    store.close().await;
}

/// With one slot, two namespaces used in turn evict each other on every request; positions stay
/// gapless and nothing is lost.
#[tokio::test]
async fn one_slot_alternating_namespaces() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_with(dir.path(), tiny(1)).unwrap();
    let ids = create_many(&store, 2).await;
    for i in 0..20 {
        for ns in &ids {
            let written = append_to(&store, ns, "s-1").await;
            assert_eq!(written.position, i);
            assert_eq!(written.global_position, i + 1);
        }
    }
    assert_eq!(store.peak_open_namespaces(), 1);
    for ns in &ids {
        let messages = read_stream(&store, ns, "s-1", whole_stream()).await;
        assert_eq!(messages.len(), 20);
    }
    store.close().await;
}

/// A namespace whose storage is closed can be deleted, and its files go.
#[tokio::test]
async fn a_closed_namespace_is_deleted_with_its_count() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_with(dir.path(), tiny(1)).unwrap();
    let ids = create_many(&store, 2).await;
    append_to(&store, &ids[0], "s-1").await;
    append_to(&store, &ids[0], "s-1").await;
    // Using the second namespace closes the first.
    append_to(&store, &ids[1], "s-1").await;
    assert_eq!(store.delete_namespace(&ids[0]).await.unwrap(), 2);
    assert_eq!(store.delete_namespace(&ids[1]).await.unwrap(), 1);
    let left = std::fs::read_dir(dir.path().join("ns")).unwrap().count();
    assert_eq!(left, 0);
    store.close().await;
}

/// An evicted namespace is closed without SQLite's last-connection checkpoint, so its WAL stays
/// on disk (no fsync on the path of the request that needed the slot) and its messages are read
/// back from it on reopen; closing the store checkpoints and removes every WAL.
#[tokio::test]
async fn eviction_keeps_the_wal_and_close_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let wal_files = || {
        std::fs::read_dir(dir.path().join("ns"))
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().ends_with(".sqlite-wal")
            })
            .count()
    };
    let store = SqliteStore::open_with(dir.path(), tiny(1)).unwrap();
    let ids = create_many(&store, 2).await;
    append_to(&store, &ids[0], "s-1").await;
    append_to(&store, &ids[1], "s-1").await;
    assert!(!store.is_namespace_open(&ids[0]), "evicted");
    assert_eq!(wal_files(), 2, "the evicted namespace kept its WAL");
    let messages = read_stream(&store, &ids[0], "s-1", whole_stream()).await;
    assert_eq!(messages.len(), 1);
    store.close().await;
    assert_eq!(wal_files(), 0, "a closed store leaves no WAL behind");
}

/// An evicted namespace's WAL index (`-shm`) is emptied once its connections are closed: it is
/// rebuilt from the WAL on reopen anyway, and left alone its 32 KiB stayed dirty in the page
/// cache for the kernel to write back, for every namespace reopened (PROFILING.md, "Three costs
/// found in the request log"). The messages are all read back through the rebuilt index.
#[tokio::test]
async fn an_evicted_namespace_leaves_an_empty_wal_index() {
    let dir = tempfile::tempdir().unwrap();
    let shm_sizes = || sizes_of(dir.path(), ".sqlite-shm");
    let store = SqliteStore::open_with(dir.path(), tiny(1)).unwrap();
    let ids = create_many(&store, 2).await;
    for round in 0..3 {
        for ns in &ids {
            append_to(&store, ns, "s-1").await;
            let messages = read_stream(&store, ns, "s-1", whole_stream()).await;
            assert_eq!(
                messages.len(),
                round + 1,
                "every message, read back after reopen"
            );
        }
        assert!(!store.is_namespace_open(&ids[0]), "evicted");
        let sizes = shm_sizes();
        assert_eq!(
            sizes.len(),
            2,
            "both WAL indexes are still there: {sizes:?}"
        );
        assert_eq!(
            sizes[0], 0,
            "the evicted namespace's index is empty: {sizes:?}"
        );
        assert!(
            sizes[1] > 0,
            "the open namespace's index is in use: {sizes:?}"
        );
    }
    store.close().await;
}

/// A namespace evicted with a long WAL has it checkpointed and truncated first, so the next open
/// has nothing to read back; a short WAL is kept as it is (no fsync for a small eviction).
/// Without the checkpoint every reopen read the whole WAL, up to 2 MB, and a visit's CPU doubled
/// as the WALs grew (PROFILING.md, "Three costs found in the request log").
#[tokio::test]
async fn eviction_checkpoints_a_long_wal_and_keeps_a_short_one() {
    let dir = tempfile::tempdir().unwrap();
    let wal_sizes = || sizes_of(dir.path(), ".sqlite-wal");
    let store = SqliteStore::open_with(dir.path(), tiny(1)).unwrap();
    let ids = create_many(&store, 2).await;
    for _ in 0..200 {
        append_to(&store, &ids[0], "s-1").await;
    }
    let long = wal_sizes();
    assert!(
        long[1] > 300 * 1024,
        "200 commits make a long WAL: {long:?}"
    );
    append_to(&store, &ids[1], "s-1").await;
    assert!(!store.is_namespace_open(&ids[0]), "evicted");
    let sizes = wal_sizes();
    assert_eq!(sizes.len(), 2, "{sizes:?}");
    assert_eq!(
        sizes[0], 0,
        "the long WAL was checkpointed and truncated: {sizes:?}"
    );
    let short = sizes[1];
    assert!(short > 0);
    let messages = read_stream(&store, &ids[0], "s-1", whole_stream()).await;
    assert_eq!(messages.len(), 200, "every message is in the database");
    assert!(!store.is_namespace_open(&ids[1]), "evicted");
    assert!(
        wal_sizes().contains(&short),
        "the short WAL was kept as it was: {:?}",
        wal_sizes()
    );
    store.close().await;
}

/// Creating a namespace leaves the files its first visit needs: the database and its WAL, closed
/// without a checkpoint as an eviction closes it. So the first write creates no file and pays
/// no directory sync; before, each first visit after a mass creation created the WAL again and
/// the first pass over 10,000 new namespaces ran at a third of the later passes' rate
/// (PROFILING.md). Closing the store still leaves one file per namespace.
#[tokio::test]
async fn a_new_namespace_keeps_its_wal_for_the_first_visit() {
    let dir = tempfile::tempdir().unwrap();
    let names = || {
        let mut names: Vec<String> = std::fs::read_dir(dir.path().join("ns"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort_unstable();
        names
    };
    let store = SqliteStore::open_with(dir.path(), tiny(1)).unwrap();
    let ids = create_many(&store, 1).await;
    let created = names();
    assert!(
        created.iter().any(|n| n.ends_with(".sqlite-wal")),
        "the WAL is kept: {created:?}"
    );
    append_to(&store, &ids[0], "s-1").await;
    assert_eq!(names(), created, "the first visit created no file");
    store.close().await;
    let closed = names();
    assert_eq!(
        closed.len(),
        1,
        "one file per namespace once closed: {closed:?}"
    );
    let store = SqliteStore::open_with(dir.path(), tiny(1)).unwrap();
    assert_eq!(
        read_stream(&store, &ids[0], "s-1", whole_stream())
            .await
            .len(),
        1
    );
    store.close().await;
}

/// Startup opens every namespace to migrate it before listening and closes each with SQLite's
/// checkpoint, unlike creation: the data directory stays one file per namespace until a
/// namespace is visited. Keeping the WAL there too made a restart with 10,000 namespaces take
/// 10.7 s to listen instead of 4.75 s (PROFILING.md).
#[tokio::test]
async fn a_restart_leaves_one_file_per_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_with(dir.path(), tiny(1)).unwrap();
    let ids = create_many(&store, 2).await;
    append_to(&store, &ids[0], "s-1").await;
    store.close().await;
    let store = SqliteStore::open_with(dir.path(), tiny(1)).unwrap();
    let files: Vec<String> = std::fs::read_dir(dir.path().join("ns"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        files.len(),
        2,
        "one file per namespace after startup: {files:?}"
    );
    assert_eq!(
        read_stream(&store, &ids[0], "s-1", whole_stream())
            .await
            .len(),
        1
    );
    store.close().await;
}

/// Visiting more namespaces than there are slots, one request at a time, opens each namespace
/// once per visit: a namespace just opened is leased until its request has run, so the
/// background trim (which keeps 2 of these 32 slots free) and other openers never close it
/// first. Before that, a fresh namespace carried its old least-recently-used stamp and was
/// the trim's first victim: 2.3 opens per visit here, 20 in a longer run, 10× the time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visit_opens_its_namespace_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_with(dir.path(), tiny(32)).unwrap();
    let ids = create_many(&store, 48).await;
    let mut visits = 0;
    for round in 0..3 {
        for ns in &ids {
            let written = append_to(&store, ns, "account-1").await;
            assert_eq!(written.position, round);
            let messages = read_stream(&store, ns, "account-1", whole_stream()).await;
            assert_eq!(messages.len(), round as usize + 1);
            visits += 1;
        }
    }
    // Round-robin over more namespaces than slots misses every time: one open per visit,
    // none for the read that follows the write.
    assert_eq!(store.namespace_opens(), visits);
    assert!(store.peak_open_namespaces() <= 32);
    store.close().await;
}

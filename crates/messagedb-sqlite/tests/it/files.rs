//! The on-disk layout (SPEC §10.4, §10.6): the data-directory lock, durability across a reopen,
//! namespace files named from keys, deletion and orphan cleanup, schema versions.

use std::collections::BTreeSet;
use std::path::Path;

use messagedb_conformance::support::{append_to, message, read_stream, whole_stream};
use messagedb_core::{NamespaceId, Store, TokenHash};
use messagedb_sqlite::{OpenError, SqliteStore};

fn id(text: &str) -> NamespaceId {
    NamespaceId::parse(text).unwrap()
}

async fn create(store: &SqliteStore, name: &str) -> NamespaceId {
    let ns = id(name);
    store
        .create_namespace(&ns, "files", &TokenHash::from_bytes([1; 32]))
        .await
        .unwrap();
    ns
}

/// The names of the files in `<dir>/ns`.
fn namespace_files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir.join("ns"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect()
}

/// The keys of the namespace databases in `<dir>/ns`.
fn namespace_keys(dir: &Path) -> BTreeSet<String> {
    namespace_files(dir)
        .iter()
        .filter_map(|name| name.strip_suffix(".sqlite").map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = SqliteStore::open(dir.path()).unwrap();
    let second = SqliteStore::open(dir.path()).unwrap_err();
    assert!(matches!(second, OpenError::InUse { .. }), "{second:?}");
    assert_eq!(
        second.to_string(),
        format!(
            "data directory {} is in use by another messagedb process",
            dir.path().display()
        )
    );
    first.close().await;
    let third = SqliteStore::open(dir.path()).expect("close releases the lock");
    third.close().await;
}

#[tokio::test]
async fn data_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let tenant = create(&store, "tenant").await;
    let record = store.namespace(&tenant).await.unwrap().unwrap();
    for _ in 0..3 {
        append_to(&store, &tenant, "account-1").await;
    }
    let written = read_stream(&store, &tenant, "account-1", whole_stream()).await;
    store.close().await;
    let files = namespace_files(dir.path());
    assert!(
        files.iter().all(|f| f.ends_with(".sqlite")),
        "a clean close checkpoints and removes the WAL: {files:?}"
    );

    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.namespace(&tenant).await.unwrap(), Some(record));
    assert_eq!(
        read_stream(&store, &tenant, "account-1", whole_stream()).await,
        written
    );
    let next = append_to(&store, &tenant, "account-1").await;
    assert_eq!(
        (next.position, next.global_position),
        (3, 4),
        "the counter continues"
    );
    let later = create(&store, "later").await;
    let listed: Vec<_> = store
        .list_namespaces()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.id)
        .collect();
    assert_eq!(
        listed,
        [later, tenant],
        "createdAt keeps increasing across a reopen"
    );
    store.close().await;
}

#[tokio::test]
async fn operations_after_close_fail_without_panicking() {
    let store = SqliteStore::open_in_memory().unwrap();
    let tenant = create(&store, "tenant").await;
    store.close().await;
    assert!(store.write(&tenant, message("a-1")).await.is_err());
    assert!(store.list_namespaces().await.is_err());
    assert!(store
        .create_namespace(&id("new"), "", &TokenHash::from_bytes([0; 32]))
        .await
        .is_err());
    store.close().await;
}

#[tokio::test]
async fn each_namespace_has_its_own_file_and_deletion_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    assert!(dir.path().join("registry.sqlite").is_file());
    assert!(dir.path().join(".lock").is_file());
    let a = create(&store, "a").await;
    let keys_a = namespace_keys(dir.path());
    let b = create(&store, "b").await;
    append_to(&store, &a, "s-1").await;
    append_to(&store, &b, "s-1").await;
    let keys = namespace_keys(dir.path());
    assert_eq!(keys.len(), 2);
    for key in &keys {
        assert_eq!(key.len(), 32, "files are named from a random key: {key}");
        assert!(key.chars().all(|c| c.is_ascii_hexdigit()), "{key}");
    }

    assert_eq!(store.delete_namespace(&a).await.unwrap(), 1);
    let remaining = namespace_files(dir.path());
    for key in &keys_a {
        assert!(
            remaining.iter().all(|file| !file.starts_with(key.as_str())),
            "the deleted namespace's files are gone: {remaining:?}"
        );
    }
    assert_eq!(namespace_keys(dir.path()).len(), 1);

    // Re-created with the same id: a new key, an empty database.
    create(&store, "a").await;
    let keys_now = namespace_keys(dir.path());
    assert_eq!(keys_now.len(), 2);
    assert!(keys_now.is_disjoint(&keys_a), "a key is never reused");
    assert!(read_stream(&store, &a, "s-1", whole_stream())
        .await
        .is_empty());
    store.close().await;
}

#[tokio::test]
async fn orphan_namespace_files_are_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let tenant = create(&store, "tenant").await;
    append_to(&store, &tenant, "s-1").await;
    store.close().await;
    let kept = namespace_keys(dir.path());

    let orphan = "0123456789abcdef0123456789abcdef";
    for suffix in [".sqlite", ".sqlite-wal", ".sqlite-shm"] {
        std::fs::write(
            dir.path().join("ns").join(format!("{orphan}{suffix}")),
            b"left behind",
        )
        .unwrap();
    }
    std::fs::write(dir.path().join("ns").join("README"), b"not ours").unwrap();

    let store = SqliteStore::open(dir.path()).unwrap();
    let files = namespace_files(dir.path());
    assert!(files.iter().all(|f| !f.starts_with(orphan)), "{files:?}");
    assert!(
        files.contains("README"),
        "files that are not namespace databases are left alone"
    );
    assert_eq!(namespace_keys(dir.path()), kept);
    assert_eq!(
        read_stream(&store, &tenant, "s-1", whole_stream())
            .await
            .len(),
        1
    );
    store.close().await;
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let tenant = create(&store, "tenant").await;
    store.close().await;

    let registry = rusqlite::Connection::open(dir.path().join("registry.sqlite")).unwrap();
    registry.pragma_update(None, "user_version", 99).unwrap();
    drop(registry);
    let error = SqliteStore::open(dir.path()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "store schema version 99 is newer than this messagedb supports (1)"
    );
    let registry = rusqlite::Connection::open(dir.path().join("registry.sqlite")).unwrap();
    registry.pragma_update(None, "user_version", 1).unwrap();
    drop(registry);

    // A namespace database from the future is refused the same way.
    let key = namespace_keys(dir.path()).into_iter().next().unwrap();
    let namespace_db =
        rusqlite::Connection::open(dir.path().join("ns").join(format!("{key}.sqlite"))).unwrap();
    namespace_db.pragma_update(None, "user_version", 4).unwrap();
    drop(namespace_db);
    let error = SqliteStore::open(dir.path()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "store schema version 4 is newer than this messagedb supports (3)"
    );
    let namespace_db =
        rusqlite::Connection::open(dir.path().join("ns").join(format!("{key}.sqlite"))).unwrap();
    namespace_db.pragma_update(None, "user_version", 3).unwrap();
    drop(namespace_db);

    let store = SqliteStore::open(dir.path()).expect("the lock was released by the failed opens");
    assert!(store.namespace(&tenant).await.unwrap().is_some());
    store.close().await;
}

#[tokio::test]
async fn in_memory_stores_are_independent_and_touch_no_disk() {
    let cwd_before: BTreeSet<_> = std::fs::read_dir(".")
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let one = SqliteStore::open_in_memory().unwrap();
    let two = SqliteStore::open_in_memory().unwrap();
    let a = create(&one, "same").await;
    create(&two, "same").await;
    append_to(&one, &a, "s-1").await;
    assert_eq!(one.namespace_info(&a).await.unwrap().message_count, 1);
    assert_eq!(two.namespace_info(&a).await.unwrap().message_count, 0);
    assert_eq!(one.backend_name(), "sqlite");
    one.close().await;
    two.close().await;
    let cwd_after: BTreeSet<_> = std::fs::read_dir(".")
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(cwd_before, cwd_after);
}

/// 152: after `stream.delete`, a byte search of the namespace's database and WAL files finds
/// none of the deleted payloads' unique strings (secure_delete and a TRUNCATE checkpoint),
/// while a kept message's payload is still there.
#[tokio::test]
async fn deleted_payloads_leave_the_files() {
    use messagedb_core::{DeleteKind, DeleteRequest, NewMessage, StreamName};
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let ns = NamespaceId::parse("erasure").unwrap();
    store
        .create_namespace(&ns, "", &TokenHash::from_bytes([1; 32]))
        .await
        .unwrap();
    let write = |stream: &str, secret: String| NewMessage {
        id: None,
        stream_name: StreamName::parse(stream).unwrap(),
        message_type: "Personal".to_owned(),
        data: format!(r#"{{"secret":"{secret}"}}"#),
        metadata: Some(format!(r#"{{"note":"{secret}-meta"}}"#)),
        expected_version: None,
    };
    let secrets: Vec<String> = (0..50).map(|i| format!("Zq7xSecret{i:03}Kw")).collect();
    for secret in &secrets {
        store
            .write(&ns, write("person-1", secret.clone()))
            .await
            .unwrap();
    }
    store
        .write(&ns, write("person-2", "KeptPayload9Xy".to_owned()))
        .await
        .unwrap();
    let removed = store
        .delete_messages(
            &ns,
            &DeleteRequest {
                stream: StreamName::parse("person-1").unwrap(),
                kind: DeleteKind::Delete {
                    expected_version: None,
                },
            },
        )
        .await
        .unwrap();
    assert_eq!(removed.deleted, 50);
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir.path().join("ns")).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(contains("KeptPayload9Xy"), "the search sees live data");
    for secret in &secrets {
        assert!(!contains(secret), "{secret} is still in the files");
    }
    store.close().await;
}

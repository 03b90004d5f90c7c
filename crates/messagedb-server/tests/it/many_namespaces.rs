//! SPEC §16.3 through the server: a namespace's storage may be closed to make room for others,
//! and its live subscriptions do not notice.

use std::sync::Arc;

use messagedb_core::{NamespaceId, Store, TokenHash};
use messagedb_server::ServerConfig;
use messagedb_sqlite::{Limits, SqliteStore};

use crate::app::spawn_store;
use crate::sse_client::{append, default_ns, Sse};

/// With one open slot, writing to another namespace closes the subscribed one's database; the
/// subscription still gets every poke, in order, as its namespace is reopened again and again.
#[tokio::test]
async fn subscriptions_survive_their_namespace_being_closed() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_open_namespaces: 1,
        writer_threads: 2,
        reader_threads: 4,
    };
    let store = SqliteStore::open_with(dir.path(), limits).unwrap();
    let app = spawn_store(Arc::new(store.clone()), ServerConfig::default()).await;
    let other = NamespaceId::parse("other").unwrap();
    store
        .create_namespace(&other, "", &TokenHash::from_bytes([2; 32]))
        .await
        .unwrap();
    let watched = default_ns();
    let first = append(&app, &watched, "watched-1").await;
    let mut sse = Sse::open(&app, "category=watched").await;
    assert_eq!(sse.pokes(1).await[0].global_position, first.global_position);

    for round in 0..5 {
        append(&app, &other, "elsewhere-1").await;
        assert!(
            !store.is_namespace_open(&watched),
            "round {round}: the watched namespace was closed to make room"
        );
        let written = append(&app, &watched, "watched-1").await;
        let poke = sse.pokes(1).await.remove(0);
        assert_eq!(
            poke.global_position, written.global_position,
            "round {round}"
        );
        assert_eq!(poke.position, written.position, "round {round}");
    }
    assert_eq!(store.peak_open_namespaces(), 1);
}

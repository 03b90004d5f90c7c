//! The database layout (SPEC §10.5) and schema versions (§10.6), checked with SQL from outside.

use messagedb_conformance::support::{append, message, namespace};
use messagedb_core::{hash_64, DeleteKind, DeleteRequest, NewMessage, Store};
use messagedb_postgres::{OpenError, PostgresOptions, PostgresStore};
use tokio_postgres::Client;

use crate::support::{open, sql};

/// Schema `messagedb` plus one schema per namespace named from its key (never its id);
/// payloads in text columns (never jsonb), names in COLLATE "C", the correlation category and the
/// cardinal-id hash extracted at write time.
#[tokio::test]
async fn layout_follows_the_spec() {
    let Some(db) = messagedb_testpg::database("layout_follows_the_spec").await else {
        return;
    };
    let store = open(&db).await;
    let ns = namespace(&store, "tenant").await;
    append(
        &store,
        &ns,
        NewMessage {
            data: r#"{"b":1,"a":2.50}"#.to_owned(),
            metadata: Some(r#"{"correlationStreamName":"workflow-7"}"#.to_owned()),
            ..message("account-123+x")
        },
    )
    .await;
    let client = sql(db.url()).await;
    let schemas: Vec<String> = client
        .query(
            "SELECT schema_name::text FROM information_schema.schemata \
             WHERE schema_name LIKE 'messagedb%' ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(schemas.len(), 2, "{schemas:?}");
    assert_eq!(schemas[0], "messagedb");
    let key = schemas[1]
        .strip_prefix("messagedb_ns_")
        .expect("a namespace schema");
    assert!(
        key.len() == 32 && key.bytes().all(|b| b.is_ascii_hexdigit()),
        "{key}"
    );
    let registered: String = client
        .query_one(
            "SELECT key FROM messagedb.namespaces WHERE id = 'tenant'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(registered, key);

    let columns: Vec<(String, String, Option<String>)> = client
        .query(
            "SELECT column_name::text, data_type::text, collation_name::text \
             FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'messages'",
            &[&schemas[1]],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let column = |name: &str| {
        columns
            .iter()
            .find(|c| c.0 == name)
            .unwrap_or_else(|| panic!("no column {name}: {columns:?}"))
            .clone()
    };
    for payload in ["data", "metadata"] {
        assert_eq!(column(payload).1, "text");
    }
    for name in ["stream_name", "category", "type", "correlation_category"] {
        assert_eq!(column(name).2.as_deref(), Some("C"), "{name}");
    }
    assert!(columns.iter().all(|c| c.1 != "jsonb"));

    let row = client
        .query_one(
            &format!(
                "SELECT data, metadata, category, correlation_category, cardinal_hash, \
                        ('x' || left(md5('123'), 16))::bit(64)::bigint \
                 FROM {}.messages",
                schemas[1]
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), r#"{"b":1,"a":2.50}"#);
    assert_eq!(
        row.get::<_, String>(1),
        r#"{"correlationStreamName":"workflow-7"}"#
    );
    assert_eq!(row.get::<_, String>(2), "account");
    assert_eq!(row.get::<_, String>(3), "workflow");
    let stored: i64 = row.get(4);
    assert_eq!(stored, hash_64("123"));
    assert_eq!(
        stored,
        row.get::<_, i64>(5),
        "Message DB's SQL hash_64 agrees"
    );
    store.close().await;
}

/// The stored hash equals Message DB's SQL formula for every vector of SPEC §7.1.
#[tokio::test]
async fn stored_hashes_match_message_db_sql() {
    let Some(db) = messagedb_testpg::database("stored_hashes_match_message_db_sql").await else {
        return;
    };
    let client = sql(db.url()).await;
    for cid in ["123", "456", "abc", "1", "2", "alice", "ü", ""] {
        let row = client
            .query_one(
                "SELECT ('x' || left(md5($1), 16))::bit(64)::bigint",
                &[&cid],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, i64>(0), hash_64(cid), "{cid:?}");
    }
}

/// The schema versions recorded in `messagedb.migrations`, in order.
async fn migration_versions(client: &Client) -> Vec<i64> {
    client
        .query("SELECT version FROM messagedb.migrations ORDER BY 1", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Migrations are recorded once, reopening is a no-op, and a newer schema is refused.
#[tokio::test]
async fn schema_versions() {
    let Some(db) = messagedb_testpg::database("schema_versions").await else {
        return;
    };
    open(&db).await.close().await;
    open(&db).await.close().await;
    let client = sql(db.url()).await;
    assert_eq!(migration_versions(&client).await, [1, 2, 3, 4]);
    client
        .execute(
            "INSERT INTO messagedb.migrations (version, applied_at) VALUES (7, 0)",
            &[],
        )
        .await
        .unwrap();
    let refused = PostgresStore::open(PostgresOptions::new(db.url()))
        .await
        .expect_err("a newer schema is refused");
    assert!(
        matches!(
            refused,
            OpenError::SchemaTooNew {
                found: 7,
                supported: 4
            }
        ),
        "{refused:?}"
    );
    assert_eq!(
        refused.to_string(),
        "store schema version 7 is newer than this messagedb supports (4)"
    );
}

/// The namespace schema of `ns` and whether it has its append function.
async fn append_function(client: &Client, ns: &str) -> (String, bool) {
    let key: String = client
        .query_one("SELECT key FROM messagedb.namespaces WHERE id = $1", &[&ns])
        .await
        .unwrap()
        .get(0);
    let schema = format!("messagedb_ns_{key}");
    let found: bool = client
        .query_one(
            "SELECT EXISTS (SELECT FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname = $1 AND p.proname = 'append')",
            &[&schema],
        )
        .await
        .unwrap()
        .get(0);
    (schema, found)
}

/// Migration 2 gives every namespace of a version-1 database its append function, and writes
/// then go on from where they were.
#[tokio::test]
async fn version_1_databases_get_append_functions() {
    let Some(db) = messagedb_testpg::database("version_1_databases_get_append_functions").await
    else {
        return;
    };
    let store = open(&db).await;
    let ns = namespace(&store, "tenant").await;
    append(&store, &ns, message("account-1")).await;
    store.close().await;
    // Back to version 1, as a database last opened by an older messagedb.
    let client = sql(db.url()).await;
    let (schema, found) = append_function(&client, "tenant").await;
    assert!(found, "new namespaces have the function");
    client
        .batch_execute(&format!(
            "DROP FUNCTION {schema}.append; {VERSION_2_COUNTERS} \
             DROP TABLE {schema}.categories; DELETE FROM messagedb.migrations WHERE version >= 2"
        ))
        .await
        .unwrap();
    assert!(!append_function(&client, "tenant").await.1);

    let store = open(&db).await;
    assert!(append_function(&client, "tenant").await.1, "migrated");
    assert_eq!(migration_versions(&client).await, [1, 2, 3, 4]);
    let positions = append(&store, &ns, message("account-1")).await;
    assert_eq!((positions.position, positions.global_position), (1, 2));
    store.close().await;
}

/// A namespace without the function, the category counters and the deletion tables (created
/// by an older messagedb running beside this one, after the migration) is written all the
/// same: its writer fills the counters and creates the tables and the function first.
#[tokio::test]
async fn namespaces_without_the_append_function_are_written() {
    let Some(db) =
        messagedb_testpg::database("namespaces_without_the_append_function_are_written").await
    else {
        return;
    };
    let store = open(&db).await;
    let ns = namespace(&store, "tenant").await;
    let client = sql(db.url()).await;
    let (schema, _) = append_function(&client, "tenant").await;
    client
        .batch_execute(&format!(
            "DROP FUNCTION {schema}.append; DROP TABLE {schema}.categories; \
             DROP TABLE {schema}.deletions, {schema}.stream_floors"
        ))
        .await
        .unwrap();
    let first = append(&store, &ns, message("account-1")).await;
    assert_eq!((first.position, first.global_position), (0, 1));
    assert!(append_function(&client, "tenant").await.1, "created again");
    let second = append(&store, &ns, message("account-1")).await;
    assert_eq!((second.position, second.global_position), (1, 2));
    // Its counters were created and filled with the function, and count from there.
    let info = store.namespace_info(&ns).await.unwrap();
    assert_eq!((info.message_count, info.stream_count), (2, 1));
    let categories = store.list_categories(&ns).await.unwrap();
    assert_eq!(
        (
            categories.len(),
            categories[0].message_count,
            categories[0].stream_count
        ),
        (1, 2, 1)
    );
    // And its deletion tables are back.
    let removed = store.delete_messages(&ns, &delete_all("account-1")).await;
    assert_eq!(removed.unwrap().deleted, 2);
    let third = append(&store, &ns, message("account-1")).await;
    assert_eq!((third.position, third.global_position), (2, 4));
    store.close().await;
}

/// `stream.delete` of every message of `stream`.
fn delete_all(stream: &str) -> DeleteRequest {
    DeleteRequest {
        stream: messagedb_core::StreamName::parse(stream).unwrap(),
        kind: DeleteKind::Delete {
            expected_version: None,
        },
    }
}

/// Drops the counter columns that version 3 added.
const VERSION_2_COUNTERS: &str = "ALTER TABLE messagedb.counters DROP COLUMN stream_count, \
     DROP COLUMN last_global_position, DROP COLUMN last_time;";

/// Migration 3 gives the namespaces of a version-2 database exact counters, filled from their
/// messages, and append functions that keep them.
#[tokio::test]
async fn version_2_databases_get_exact_counters() {
    let Some(db) = messagedb_testpg::database("version_2_databases_get_exact_counters").await
    else {
        return;
    };
    let store = open(&db).await;
    let ns = namespace(&store, "tenant").await;
    let empty = namespace(&store, "empty").await;
    for s in ["account-1", "account-2", "account-1", "order-1", "solo"] {
        append(&store, &ns, message(s)).await;
    }
    store.close().await;
    // Back to version 2, as a database last opened by an older messagedb (whose function did
    // not count streams).
    let client = sql(db.url()).await;
    for id in ["tenant", "empty"] {
        let (schema, _) = append_function(&client, id).await;
        client
            .batch_execute(&format!("DROP TABLE {schema}.categories"))
            .await
            .unwrap();
    }
    client
        .batch_execute(&format!(
            "{VERSION_2_COUNTERS} DELETE FROM messagedb.migrations WHERE version >= 3"
        ))
        .await
        .unwrap();

    let store = open(&db).await;
    assert_eq!(migration_versions(&client).await, [1, 2, 3, 4]);
    let info = store.namespace_info(&ns).await.unwrap();
    assert_eq!((info.message_count, info.stream_count), (5, 4));
    let last = store
        .last_message(
            &ns,
            &messagedb_core::StreamName::parse("solo").unwrap(),
            None,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.last_activity, Some(last.time));
    let categories: Vec<_> = store
        .list_categories(&ns)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.category, c.message_count, c.stream_count))
        .collect();
    assert_eq!(
        categories,
        [
            ("account".to_owned(), 3, 2),
            ("order".to_owned(), 1, 1),
            ("solo".to_owned(), 1, 1)
        ]
    );
    let info = store.namespace_info(&empty).await.unwrap();
    assert_eq!(
        (info.message_count, info.stream_count, info.last_activity),
        (0, 0, None)
    );
    // The recreated function counts: a new stream in the fast path.
    append(&store, &ns, message("order-2")).await;
    let info = store.namespace_info(&ns).await.unwrap();
    assert_eq!((info.message_count, info.stream_count), (6, 5));
    store.close().await;
}

/// Migration 4 gives the namespaces of a version-3 database their deletion tables (SPEC §18)
/// and append functions that continue a stream after its floor: delete, then write through the
/// one-statement path, continues after the old version and counts the stream again.
#[tokio::test]
async fn version_3_databases_get_deletion_tables() {
    let Some(db) = messagedb_testpg::database("version_3_databases_get_deletion_tables").await
    else {
        return;
    };
    let store = open(&db).await;
    let ns = namespace(&store, "tenant").await;
    for _ in 0..3 {
        append(&store, &ns, message("account-1")).await;
    }
    store.close().await;
    // Back to version 3, as a database last opened by an older messagedb, whose append
    // function (here one that fails) knew no floors: the migration must replace it.
    let client = sql(db.url()).await;
    let (schema, _) = append_function(&client, "tenant").await;
    let old_append = format!(
        "CREATE OR REPLACE FUNCTION {schema}.append(text, text[], text[], text[], uuid[], \
             text[], text[], text[], bigint[], bigint[], text[]) \
         RETURNS TABLE (appended_ord bigint, appended_global_position bigint, \
             appended_position bigint) \
         LANGUAGE plpgsql AS $f$ BEGIN RAISE EXCEPTION 'version 3'; END $f$;"
    );
    client
        .batch_execute(&format!(
            "DROP TABLE {schema}.deletions, {schema}.stream_floors; \
             DELETE FROM messagedb.migrations WHERE version = 4; {old_append}"
        ))
        .await
        .unwrap();

    let store = open(&db).await;
    assert_eq!(migration_versions(&client).await, [1, 2, 3, 4]);
    let removed = store
        .delete_messages(&ns, &delete_all("account-1"))
        .await
        .unwrap();
    assert_eq!((removed.deleted, removed.version), (3, 2));
    let info = store.namespace_info(&ns).await.unwrap();
    assert_eq!((info.message_count, info.stream_count), (0, 0));
    let next = append(&store, &ns, message("account-1")).await;
    assert_eq!((next.position, next.global_position), (3, 5));
    let info = store.namespace_info(&ns).await.unwrap();
    assert_eq!((info.message_count, info.stream_count), (1, 1));
    let floors: i64 = client
        .query_one(
            &format!("SELECT version FROM {schema}.stream_floors WHERE stream_name = 'account-1'"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(floors, 2);
    store.close().await;
}

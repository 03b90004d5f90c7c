//! SPEC §4.6: bootstrap of `default`, straight against a store.

use messagedb_core::{NamespaceId, Store, Token};
use messagedb_server::{bootstrap_default, Bootstrap, BootstrapError};
use messagedb_sqlite::SqliteStore;

use crate::app::T;

async fn stored_hash(store: &dyn Store) -> messagedb_core::TokenHash {
    let id = NamespaceId::default_namespace();
    store
        .namespace(&id)
        .await
        .unwrap()
        .expect("default exists")
        .token_hash
}

#[tokio::test]
async fn supplied_token_creates_then_is_unchanged_then_rotates() {
    let store = SqliteStore::open_in_memory().unwrap();
    assert_eq!(
        bootstrap_default(&store, Some(T)).await.unwrap(),
        Bootstrap::Created { generated: None }
    );
    let record = store
        .namespace(&NamespaceId::default_namespace())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.description, "Default namespace");
    assert_eq!(
        record.token_hash.to_hex(),
        "6fefedfc989ca8bea8ce1b63672607c06fbd0d8b3c0667164cf4f5a02911fb52"
    );

    assert_eq!(
        bootstrap_default(&store, Some(T)).await.unwrap(),
        Bootstrap::Unchanged
    );
    assert_eq!(
        bootstrap_default(&store, None).await.unwrap(),
        Bootstrap::Kept
    );
    assert_eq!(stored_hash(&store).await, Token::parse(T).unwrap().hash());

    let rotated = T.replace("ZGVmYXVsdA_0", "ZGVmYXVsdA_1");
    assert_eq!(
        bootstrap_default(&store, Some(&rotated)).await.unwrap(),
        Bootstrap::Rotated
    );
    assert_eq!(
        stored_hash(&store).await,
        Token::parse(&rotated).unwrap().hash()
    );
}

#[tokio::test]
async fn no_token_generates_one_that_works() {
    let store = SqliteStore::open_in_memory().unwrap();
    let Bootstrap::Created {
        generated: Some(token),
    } = bootstrap_default(&store, None).await.unwrap()
    else {
        panic!("expected a generated token");
    };
    assert_eq!(token.namespace(), "default");
    assert_eq!(stored_hash(&store).await, token.hash());
    assert_eq!(
        bootstrap_default(&store, None).await.unwrap(),
        Bootstrap::Kept
    );
}

#[tokio::test]
async fn bad_tokens_fail_with_the_spec_messages() {
    let store = SqliteStore::open_in_memory().unwrap();
    let e = bootstrap_default(&store, Some("abc")).await.unwrap_err();
    assert!(matches!(e, BootstrapError::InvalidToken(_)));
    assert_eq!(e.to_string(), "invalid token format: missing 'ns_' prefix");
    let other = Token::generate(&NamespaceId::parse("tenant-a").unwrap());
    let e = bootstrap_default(&store, Some(other.expose()))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "provided token is for namespace 'tenant-a', expected 'default'"
    );
    assert!(
        store
            .namespace(&NamespaceId::default_namespace())
            .await
            .unwrap()
            .is_none(),
        "nothing was created"
    );
}

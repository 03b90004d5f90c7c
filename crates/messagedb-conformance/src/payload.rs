//! Payload fidelity (SPEC §2.6): `data` and `metadata` come back as the exact text written, from
//! every read path. The store receives already-minified text; it must not re-encode it.

use std::sync::Arc;

use messagedb_core::{NewMessage, Store};

use crate::support::{
    append, message, namespace, read_category, read_stream, whole_category, whole_stream,
};

/// Texts a JSON round trip through a parsed tree would change.
fn tricky_objects() -> Vec<String> {
    let mut texts: Vec<String> = [
        r#"{"n":12345678901234567890,"f":1.50}"#,
        r#"{"b":1,"a":{"z":[1,2.50,1e3]},"big":12345678901234567890}"#,
        r#"{"a":1,"a":2,"a":{"a":3}}"#,
        r#"{"s":"<&>","e":"é","emoji":"😀","empty":"","escaped":"\u00e9","q":"\"\\\/\b\f\n\r\t","ls":"\u2028"}"#,
        r#"{"t":true,"f":false,"n":null,"nested":[[1,[2,[]]],{}],"o":{},"neg":-0,"exp":-1.5E-7}"#,
        r#"{"nul":"\u0000","surrogates":"\ud83d\ude00"}"#,
        "{}",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    // A 60 KB object.
    let mut big = String::from("{");
    for i in 0..2000 {
        if i > 0 {
            big.push(',');
        }
        big.push_str(&format!(r#""key{i:04}":"value {i:010} ...........""#));
    }
    big.push('}');
    assert!(big.len() > 60_000);
    texts.push(big);
    texts
}

pub async fn data_and_metadata_round_trip_byte_identical(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "fidelity").await;
    let texts = tricky_objects();
    for text in &texts {
        let written = NewMessage {
            data: text.clone(),
            metadata: Some(text.clone()),
            ..message("payload-1")
        };
        append(store, &ns, written).await;
    }
    let by_stream = read_stream(store, &ns, "payload-1", whole_stream()).await;
    let by_category = read_category(store, &ns, whole_category("payload")).await;
    assert_eq!(by_stream.len(), texts.len());
    for ((text, s), c) in texts.iter().zip(&by_stream).zip(&by_category) {
        assert_eq!(&s.data, text, "stream read data");
        assert_eq!(s.metadata.as_ref(), Some(text), "stream read metadata");
        assert_eq!(&c.data, text, "category read data");
        assert_eq!(c.metadata.as_ref(), Some(text), "category read metadata");
    }
    let stream = crate::support::stream("payload-1");
    let last = store
        .last_message(&ns, &stream, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(Some(&last.data), texts.last(), "last-message data");
}

pub async fn no_metadata_and_empty_metadata_differ(store: Arc<dyn Store>) {
    let store = &*store;
    let ns = namespace(store, "metadata").await;
    append(store, &ns, message("meta-1")).await;
    append(
        store,
        &ns,
        NewMessage {
            metadata: Some("{}".to_owned()),
            ..message("meta-1")
        },
    )
    .await;
    let stored = read_stream(store, &ns, "meta-1", whole_stream()).await;
    assert_eq!(stored[0].metadata, None);
    assert_eq!(stored[1].metadata.as_deref(), Some("{}"));
    assert_eq!(stored[0].data, "{}");
}

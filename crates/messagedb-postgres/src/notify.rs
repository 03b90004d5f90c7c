//! The `NOTIFY` payloads on channel [`CHANNEL`] (SPEC §10.5), and their decoding.
//!
//! Writes queue one notification per appended message inside their transaction; PostgreSQL
//! delivers them after the commit, in commit order, which for one namespace is global-position
//! order. Namespace deletion and token rotation travel on the same channel. Namespaces are named
//! by their internal key, as storage is; events that outlive the registry row (deletion) also
//! carry the namespace id.
//!
//! ```text
//! {"key":"<key>","gpos":41,"stream":"account-1","position":5}   a committed message
//! {"key":"<key>","gpos":41}                                      the same, when the above would
//!                                                                exceed 8000 bytes: listeners
//!                                                                read the row
//! {"key":"<key>","event":"deleted","namespace":"<id>"}          ns.delete
//! {"key":"<key>","event":"token","namespace":"<id>"}            token rotation
//! {"key":"<key>","event":"cleared","namespace":"<id>"}          forced import: messages removed
//! {"key":"<key>","event":"deletion","gpos":42,"stream":"account-1","before":6,"time":1700…}
//!                                                                a stream.delete/truncate (§18)
//! {"key":"<key>","event":"deletion","gpos":42}                   the same, when the above would
//!                                                                exceed 8000 bytes: listeners
//!                                                                read the deletion log
//! ```
//!
//! A deletion travels as an `event` (not as a message payload with a `gpos`), so an instance
//! that predates deletion ignores it instead of taking it for a commit.

use messagedb_core::{Deletion, Positions, Timestamp};
use serde::Deserialize;

/// The one channel every instance listens on.
pub(crate) const CHANNEL: &str = "messagedb";

/// PostgreSQL refuses payloads of 8000 bytes or more.
const MAX_PAYLOAD: usize = 7999;

/// Queues every payload of `$1` (a text array) in array order.
pub(crate) const NOTIFY_ALL: &str = "SELECT pg_notify('messagedb', p) \
     FROM unnest($1::text[]) WITH ORDINALITY AS t(p, i) ORDER BY i";

/// Queues one payload, `$1`.
pub(crate) const NOTIFY_ONE: &str = "SELECT pg_notify('messagedb', $1)";

/// The payload for a committed message.
pub(crate) fn message_payload(key: &str, positions: Positions, stream: &str) -> String {
    let stream_json = serde_json::to_string(stream).unwrap_or_else(|_| "\"\"".to_owned());
    let full = format!(
        r#"{{"key":"{key}","gpos":{},"stream":{stream_json},"position":{}}}"#,
        positions.global_position, positions.position
    );
    if full.len() <= MAX_PAYLOAD {
        full
    } else {
        format!(r#"{{"key":"{key}","gpos":{}}}"#, positions.global_position)
    }
}

/// The JSON string of `stream` when [`message_payload`] will carry it whatever the global
/// position and position turn out to be (both counted at their widest), else `None`: for
/// payloads that PostgreSQL completes itself (see `writer`). Matches `message_payload`, except
/// that within 40 bytes of the limit it may leave the stream out where that one would not;
/// either payload decodes to the same commit.
pub(crate) fn stream_json_if_it_fits(key: &str, stream: &str) -> Option<String> {
    let widest = Positions {
        position: i64::MIN,
        global_position: i64::MIN,
    };
    let stream_json = serde_json::to_string(stream).ok()?;
    let full = format!(
        r#"{{"key":"{key}","gpos":{},"stream":{stream_json},"position":{}}}"#,
        widest.global_position, widest.position
    );
    (full.len() <= MAX_PAYLOAD).then_some(stream_json)
}

/// The SQL expression of a committed message's payload built by PostgreSQL, byte for byte what
/// [`message_payload`] makes; `key` is a text parameter, `gpos` and `position` bigint columns,
/// `stream_json` a text column from [`stream_json_if_it_fits`] (NULL: the short form).
pub(crate) fn payload_sql(key: &str, gpos: &str, stream_json: &str, position: &str) -> String {
    format!(
        r#"CASE WHEN {stream_json} IS NULL THEN '{{"key":"' || {key} || '","gpos":' || {gpos} || '}}' ELSE '{{"key":"' || {key} || '","gpos":' || {gpos} || ',"stream":' || {stream_json} || ',"position":' || {position} || '}}' END"#
    )
}

/// The payload for a committed deletion.
pub(crate) fn deletion_payload(key: &str, deletion: &Deletion) -> String {
    let stream_json =
        serde_json::to_string(&deletion.stream_name).unwrap_or_else(|_| "\"\"".to_owned());
    let full = format!(
        r#"{{"key":"{key}","event":"deletion","gpos":{},"stream":{stream_json},"before":{},"time":{}}}"#,
        deletion.global_position,
        deletion.before,
        deletion.time.as_micros()
    );
    if full.len() <= MAX_PAYLOAD {
        full
    } else {
        format!(
            r#"{{"key":"{key}","event":"deletion","gpos":{}}}"#,
            deletion.global_position
        )
    }
}

/// What happened to a namespace as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NamespaceEvent {
    Deleted,
    TokenChanged,
    /// A forced import removed every message: subscriptions end, the namespace stays.
    Cleared,
}

impl NamespaceEvent {
    fn as_str(self) -> &'static str {
        match self {
            NamespaceEvent::Deleted => "deleted",
            NamespaceEvent::TokenChanged => "token",
            NamespaceEvent::Cleared => "cleared",
        }
    }
}

pub(crate) fn namespace_payload(key: &str, event: NamespaceEvent, namespace: &str) -> String {
    format!(
        r#"{{"key":"{key}","event":"{}","namespace":"{namespace}"}}"#,
        event.as_str()
    )
}

/// A decoded notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    Committed {
        key: String,
        global_position: i64,
        /// The stream and position, unless the payload was too large to carry them.
        stream: Option<(String, i64)>,
    },
    Namespace {
        key: String,
        event: NamespaceEvent,
        namespace: String,
    },
    /// A deletion (SPEC §18) at `global_position`; the record itself, unless the payload was
    /// too large to carry it.
    Deleted {
        key: String,
        global_position: i64,
        deletion: Option<Deletion>,
    },
}

#[derive(Deserialize)]
struct Wire {
    key: String,
    gpos: Option<i64>,
    stream: Option<String>,
    position: Option<i64>,
    event: Option<String>,
    namespace: Option<String>,
    before: Option<i64>,
    time: Option<i64>,
}

/// Decodes a payload; `None` for anything this version does not understand (a newer instance
/// may send more kinds).
pub(crate) fn decode(payload: &str) -> Option<Event> {
    let wire: Wire = serde_json::from_str(payload).ok()?;
    match (wire.event.as_deref(), wire.gpos) {
        (None, Some(global_position)) => Some(Event::Committed {
            key: wire.key,
            global_position,
            stream: wire.stream.zip(wire.position),
        }),
        (Some("deletion"), Some(global_position)) => {
            let deletion = match (wire.stream, wire.before, wire.time) {
                (Some(stream_name), Some(before), Some(time)) => Some(Deletion {
                    global_position,
                    stream_name,
                    before,
                    time: Timestamp::from_micros(time),
                }),
                _ => None,
            };
            Some(Event::Deleted {
                key: wire.key,
                global_position,
                deletion,
            })
        }
        (Some(event), _) => {
            let event = match event {
                "deleted" => NamespaceEvent::Deleted,
                "token" => NamespaceEvent::TokenChanged,
                "cleared" => NamespaceEvent::Cleared,
                _ => return None,
            };
            Some(Event::Namespace {
                key: wire.key,
                event,
                namespace: wire.namespace?,
            })
        }
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn message_payloads_round_trip() {
        let p = Positions {
            position: 5,
            global_position: 41,
        };
        let payload = message_payload(KEY, p, "account-1 \"é\"");
        assert_eq!(
            payload,
            format!(r#"{{"key":"{KEY}","gpos":41,"stream":"account-1 \"é\"","position":5}}"#)
        );
        assert_eq!(
            decode(&payload),
            Some(Event::Committed {
                key: KEY.to_owned(),
                global_position: 41,
                stream: Some(("account-1 \"é\"".to_owned(), 5)),
            })
        );
    }

    #[test]
    fn long_stream_names_leave_the_stream_out() {
        let p = Positions {
            position: 0,
            global_position: 7,
        };
        let long = "x".repeat(8000);
        let payload = message_payload(KEY, p, &long);
        assert!(payload.len() < 8000);
        assert_eq!(
            decode(&payload),
            Some(Event::Committed {
                key: KEY.to_owned(),
                global_position: 7,
                stream: None,
            })
        );
        // Escapes count: 4000 quotes become 8000 bytes of JSON.
        let quotes = "\"".repeat(4000);
        assert!(message_payload(KEY, p, &quotes).len() < 8000);
    }

    #[test]
    fn streams_that_fit_at_any_position_fit_at_every_position() {
        assert_eq!(
            stream_json_if_it_fits(KEY, "account-1 \"é\"").as_deref(),
            Some(r#""account-1 \"é\"""#)
        );
        let widest = Positions {
            position: i64::MAX,
            global_position: i64::MAX,
        };
        for n in [7000, 7890, 7900, 7950, 8000] {
            let stream = "x".repeat(n);
            match stream_json_if_it_fits(KEY, &stream) {
                Some(json) => {
                    let payload = message_payload(KEY, widest, &stream);
                    assert!(payload.contains(&json), "{n}");
                }
                None => assert!(n > 7880, "{n} should fit"),
            }
        }
        assert_eq!(stream_json_if_it_fits(KEY, &"\"".repeat(4000)), None);
    }

    #[test]
    fn deletion_payloads_round_trip() {
        let deletion = Deletion {
            global_position: 42,
            stream_name: "account-1 \"é\"".to_owned(),
            before: 6,
            time: Timestamp::from_micros(1_700_000_000_123_456),
        };
        let payload = deletion_payload(KEY, &deletion);
        assert_eq!(
            payload,
            format!(
                r#"{{"key":"{KEY}","event":"deletion","gpos":42,"stream":"account-1 \"é\"","before":6,"time":1700000000123456}}"#
            )
        );
        assert_eq!(
            decode(&payload),
            Some(Event::Deleted {
                key: KEY.to_owned(),
                global_position: 42,
                deletion: Some(deletion.clone()),
            })
        );
        // Too long to carry the stream: the listener reads the record back.
        let long = Deletion {
            stream_name: "\"".repeat(4000),
            ..deletion
        };
        let payload = deletion_payload(KEY, &long);
        assert!(payload.len() < 8000);
        assert_eq!(
            decode(&payload),
            Some(Event::Deleted {
                key: KEY.to_owned(),
                global_position: 42,
                deletion: None,
            })
        );
    }

    #[test]
    fn namespace_events_round_trip() {
        for event in [
            NamespaceEvent::Deleted,
            NamespaceEvent::TokenChanged,
            NamespaceEvent::Cleared,
        ] {
            let payload = namespace_payload(KEY, event, "tenant-a");
            assert_eq!(
                decode(&payload),
                Some(Event::Namespace {
                    key: KEY.to_owned(),
                    event,
                    namespace: "tenant-a".to_owned(),
                })
            );
        }
        assert_eq!(decode(r#"{"key":"k","event":"later"}"#), None);
        assert_eq!(decode("not json"), None);
    }
}

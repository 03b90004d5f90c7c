//! Atomic batches (SPEC §17): several messages over any streams, appended all or nothing, guarded
//! by per-stream expected versions and by an append condition (a dynamic consistency boundary).
//!
//! These are the validated forms; the server builds them from the wire (§17.1) and the write rule
//! (`write::decide`) executes them (§17.2). A `stream.write` is a batch of one whose only expected
//! version, if any, is its own stream's.

use crate::message::Positions;
use crate::stream::StreamName;
use crate::write::WriteRequest;

/// The most entries one batch may hold.
pub const MAX_BATCH_ENTRIES: usize = 1000;

/// A validated `stream.writeBatch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRequest {
    /// 1..=[`MAX_BATCH_ENTRIES`] entries, in array order; no two share a supplied id.
    pub entries: Vec<WriteRequest>,
    /// Streams that must be at exactly this version, checked in this order (the order of the
    /// keys in the request). A stream here need not have an entry.
    pub expected_versions: Vec<(StreamName, i64)>,
    pub condition: Option<AppendCondition>,
}

/// "Fail if anything matching `query` was written after global position `after`."
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendCondition {
    /// ≥ 0.
    pub after: i64,
    pub query: ConditionQuery,
}

/// Which messages an [`AppendCondition`] looks at. A message matches when (its stream is in
/// `streams` or its category is in `categories`) and (no `types`, or its type is in `types`)
/// and (no `correlation`, or its correlation category equals it). `streams` and `categories`
/// are not both empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConditionQuery {
    pub streams: Vec<String>,
    pub categories: Vec<String>,
    pub types: Vec<String>,
    pub correlation: Option<String>,
}

impl ConditionQuery {
    /// Whether a message with these attributes matches.
    pub fn matches(
        &self,
        stream: &str,
        category: &str,
        message_type: &str,
        correlation: Option<&str>,
    ) -> bool {
        (self.streams.iter().any(|s| s == stream) || self.categories.iter().any(|c| c == category))
            && (self.types.is_empty() || self.types.iter().any(|t| t == message_type))
            && self
                .correlation
                .as_deref()
                .is_none_or(|wanted| correlation == Some(wanted))
    }
}

/// What a batch did: where each entry is, in entry order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    pub positions: Vec<Positions>,
    /// `false` for an idempotent retry: the entries were stored before, nothing was written.
    pub appended: bool,
}

/// The lowest stored message that made a condition fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionMatch {
    pub global_position: i64,
    pub stream: String,
    pub message_type: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_match_needs_a_stream_or_category_and_every_other_filter() {
        let query = ConditionQuery {
            streams: vec!["order-7".into()],
            categories: vec!["stock".into()],
            types: vec!["Reserved".into(), "Released".into()],
            correlation: None,
        };
        assert!(query.matches("stock-3", "stock", "Reserved", None));
        assert!(query.matches("order-7", "order", "Released", Some("x")));
        assert!(!query.matches("stock-3", "stock", "Counted", None));
        assert!(!query.matches("order-8", "order", "Reserved", None));
        let correlated = ConditionQuery {
            correlation: Some("saga".into()),
            types: Vec::new(),
            ..query
        };
        assert!(correlated.matches("stock-3", "stock", "Anything", Some("saga")));
        assert!(!correlated.matches("stock-3", "stock", "Anything", Some("other")));
        assert!(!correlated.matches("stock-3", "stock", "Anything", None));
    }
}

//! The commit-publishing hook: where the store keeps the server's [`CommitListener`].
//!
//! One [`Publisher`] is shared by the store and every namespace's writer. The writer
//! reports a batch right after its durable `COMMIT` and before it starts the next transaction,
//! while it still holds the namespace's gate (see `writer`), so each namespace's commits reach
//! the listener in global-position order and none can follow the namespace's `ended`
//! (SPEC §10.3). The listener is looked up per batch, under a read lock that is only ever
//! written at startup, so the write path never waits on it.

use std::sync::{Arc, PoisonError, RwLock};

use messagedb_core::{CommitListener, Committed, Deletion, NamespaceId};

/// The installed listener, if any.
#[derive(Default)]
pub(crate) struct Publisher {
    listener: RwLock<Option<Arc<dyn CommitListener>>>,
}

impl Publisher {
    pub(crate) fn set(&self, listener: Arc<dyn CommitListener>) {
        *self
            .listener
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(listener);
    }

    /// Whether anyone listens; lets the writer skip building a report nobody reads.
    pub(crate) fn is_listening(&self) -> bool {
        self.listener
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    pub(crate) fn committed(&self, ns: &NamespaceId, messages: &[Committed]) {
        if messages.is_empty() {
            return;
        }
        if let Some(listener) = self.current() {
            listener.committed(ns, messages);
        }
    }

    pub(crate) fn deleted(&self, ns: &NamespaceId, deletion: &Deletion) {
        if let Some(listener) = self.current() {
            listener.deleted(ns, deletion);
        }
    }

    pub(crate) fn ended(&self, ns: &NamespaceId) {
        if let Some(listener) = self.current() {
            listener.ended(ns);
        }
    }

    /// A clone of the listener, so it is called without the lock held.
    fn current(&self) -> Option<Arc<dyn CommitListener>> {
        self.listener
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

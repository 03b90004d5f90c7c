//! The notifier: the in-process pub/sub between the store's commits and the SSE subscriptions.
//!
//! It implements [`CommitListener`], so the store reports every committed message to it,
//! namespace by namespace, in global-position order (SPEC §10.3). Each namespace that has
//! subscribers gets one `tokio::sync::broadcast` channel of commit batches. A subscription
//! registers by taking a receiver ([`Notifier::register`]) *before* it reads anything from the
//! store, which is what makes the replay/live handover gap-free (§8.5).
//!
//! Publishing never waits: a broadcast send only overwrites the oldest batch when the ring is
//! full, so a stalled subscriber cannot block writers, and the memory held is bounded by the
//! capacity (shared by all subscribers of the namespace). The subscriber that fell behind gets
//! `RecvError::Lagged` and takes the overflow path: it re-registers and replays from the store
//! from its cursor.
//!
//! When the backend may have missed commits (`resync`: PostgreSQL lost its `LISTEN`
//! connection), every channel gets a [`Notice::Resync`] marker, in order with the batches: a
//! subscription sees it before any batch reported after it, and catches up from the store
//! exactly as after an overflow.
//!
//! When a namespace ends (deleted, or cleared by a forced import) its entry is removed: the
//! broadcast sender and the `alive` watch sender are dropped, which every registered
//! subscription observes, and a namespace re-created with the same id starts with a fresh
//! channel. Channels whose last subscriber has gone are removed at the next commit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use messagedb_core::{CommitListener, Committed, Deletion, NamespaceId};
use tokio::sync::{broadcast, watch};

/// What a namespace's channel carries, in the order the store reported it.
#[derive(Debug, Clone)]
pub enum Notice {
    /// A batch of commits as one store transaction reported them, in ascending gpos.
    Committed(Arc<[Committed]>),
    /// A deletion (SPEC §18), in gpos order with the batches.
    Deleted(Arc<Deletion>),
    /// Commits before this point may be missing: catch up from the store.
    Resync,
}

/// How many batches a namespace's channel keeps for subscribers that have not read them yet.
/// A writer batch holds at most a few hundred messages (usually one), so this bounds the
/// memory a namespace's subscribers can pin, whatever they do, while giving a briefly slow
/// client about a second of slack at 1,000 writes/s before it has to catch up from the store.
pub const DEFAULT_CAPACITY: usize = 1024;

/// The commit fan-out for every namespace of this server instance.
pub struct Notifier {
    capacity: usize,
    channels: RwLock<HashMap<NamespaceId, Channel>>,
    /// Subscriptions that overflowed and replayed from the store (per instance, for tests and
    /// diagnostics; `/metrics` counts them process-wide).
    catch_ups: AtomicU64,
    /// The most batches any channel has held at once since start.
    high_water: AtomicUsize,
}

/// One namespace's channel.
struct Channel {
    sender: broadcast::Sender<Notice>,
    /// Never sent on: dropping it tells subscriptions that the namespace ended, even while
    /// they are busy elsewhere (replaying, or blocked on a slow client).
    alive: watch::Sender<()>,
}

/// A subscription's place in its namespace's channel.
pub struct Registration {
    /// The batches committed since registration. On overflow, `resubscribe()` discards the
    /// queue and registers afresh at the end of the channel (§8.5 step 6).
    pub receiver: broadcast::Receiver<Notice>,
    /// Resolves when the namespace ends.
    pub ended: NamespaceEnded,
}

/// The end of a namespace, as one subscription observes it.
pub struct NamespaceEnded {
    alive: watch::Receiver<()>,
}

impl NamespaceEnded {
    /// Resolves once the namespace has ended (at once if it ended before registration).
    pub async fn wait(&mut self) {
        // The sender never sends, so `changed` only ever returns when it is dropped.
        while self.alive.changed().await.is_ok() {}
    }
}

impl Notifier {
    pub fn new() -> Notifier {
        Notifier::with_capacity(DEFAULT_CAPACITY)
    }

    /// A notifier whose channels hold `capacity` batches (at least 1).
    pub fn with_capacity(capacity: usize) -> Notifier {
        Notifier {
            capacity: capacity.max(1),
            channels: RwLock::new(HashMap::new()),
            catch_ups: AtomicU64::new(0),
            high_water: AtomicUsize::new(0),
        }
    }

    /// The capacity of each namespace's channel, in batches.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Registers a subscription to `ns`: every batch the store reports from now on is queued
    /// for it.
    pub fn register(&self, ns: &NamespaceId) -> Registration {
        let mut channels = self
            .channels
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let channel = channels.entry(ns.clone()).or_insert_with(|| Channel {
            sender: broadcast::channel(self.capacity).0,
            alive: watch::channel(()).0,
        });
        Registration {
            receiver: channel.sender.subscribe(),
            ended: NamespaceEnded {
                alive: channel.alive.subscribe(),
            },
        }
    }

    /// Counts one overflow catch-up (see [`Notifier::catch_ups`]).
    pub fn caught_up(&self) {
        self.catch_ups.fetch_add(1, Ordering::Relaxed);
    }

    /// How many times a subscription of this instance fell behind and replayed from the store.
    pub fn catch_ups(&self) -> u64 {
        self.catch_ups.load(Ordering::Relaxed)
    }

    /// The largest number of batches any channel has queued at once: never above
    /// [`Notifier::capacity`], however slow the subscribers.
    pub fn high_water(&self) -> usize {
        self.high_water.load(Ordering::Relaxed)
    }

    /// How many subscriptions are registered with `ns`.
    pub fn registered(&self, ns: &NamespaceId) -> usize {
        let channels = self.channels.read().unwrap_or_else(PoisonError::into_inner);
        channels
            .get(ns)
            .map_or(0, |channel| channel.sender.receiver_count())
    }

    /// Removes `ns`'s channel if nobody listens any more. The check and the removal happen under
    /// the write lock, which `register` also takes, so a new registration is never lost.
    fn prune(&self, ns: &NamespaceId) {
        let mut channels = self
            .channels
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if channels
            .get(ns)
            .is_some_and(|channel| channel.sender.receiver_count() == 0)
        {
            channels.remove(ns);
        }
    }
}

impl Default for Notifier {
    fn default() -> Notifier {
        Notifier::new()
    }
}

impl Notifier {
    /// Queues a notice for `ns`'s subscribers, if it has any (built only then).
    fn publish(&self, ns: &NamespaceId, notice: impl FnOnce() -> Notice) {
        let unheard = {
            let channels = self.channels.read().unwrap_or_else(PoisonError::into_inner);
            let Some(channel) = channels.get(ns) else {
                // Nobody subscribes to this namespace: nothing to build or keep.
                return;
            };
            match channel.sender.send(notice()) {
                Ok(_) => {
                    self.high_water
                        .fetch_max(channel.sender.len(), Ordering::Relaxed);
                    false
                }
                Err(_) => true,
            }
        };
        if unheard {
            self.prune(ns);
        }
    }
}

impl CommitListener for Notifier {
    fn committed(&self, ns: &NamespaceId, messages: &[Committed]) {
        self.publish(ns, || Notice::Committed(Arc::from(messages)));
    }

    fn deleted(&self, ns: &NamespaceId, deletion: &Deletion) {
        self.publish(ns, || Notice::Deleted(Arc::new(deletion.clone())));
    }

    fn resync(&self) {
        let channels = self.channels.read().unwrap_or_else(PoisonError::into_inner);
        for channel in channels.values() {
            // No receivers: nobody to catch up, and the next commit prunes the channel.
            let _ = channel.sender.send(Notice::Resync);
        }
    }

    fn ended(&self, ns: &NamespaceId) {
        let removed = self
            .channels
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(ns);
        // Dropped outside the lock: receivers see `Closed` once they have read what is queued,
        // and `NamespaceEnded::wait` resolves at once.
        drop(removed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::broadcast::error::{RecvError, TryRecvError};

    fn ns(id: &str) -> NamespaceId {
        NamespaceId::parse(id).unwrap()
    }

    /// The first gpos of a committed notice.
    fn gpos(notice: Notice) -> i64 {
        match notice {
            Notice::Committed(batch) => batch[0].global_position,
            Notice::Resync | Notice::Deleted(_) => panic!("not a batch"),
        }
    }

    fn batch(gpos: i64) -> Vec<Committed> {
        vec![Committed {
            global_position: gpos,
            stream_name: format!("s-{gpos}"),
            position: 0,
        }]
    }

    #[test]
    fn registered_subscriptions_receive_batches_in_order() {
        let notifier = Notifier::new();
        let a = ns("a");
        // Before anyone registers, commits are dropped without creating a channel.
        notifier.committed(&a, &batch(1));
        assert_eq!(notifier.registered(&a), 0);
        let mut r = notifier.register(&a);
        notifier.committed(&a, &batch(2));
        notifier.committed(&ns("b"), &batch(1));
        notifier.committed(&a, &batch(3));
        let got: Vec<i64> = std::iter::from_fn(|| r.receiver.try_recv().ok())
            .map(gpos)
            .collect();
        assert_eq!(got, [2, 3]);
    }

    #[test]
    fn a_slow_receiver_lags_instead_of_blocking_and_memory_stays_bounded() {
        let notifier = Notifier::with_capacity(4);
        let a = ns("a");
        let mut r = notifier.register(&a);
        for gpos in 1..=10 {
            notifier.committed(&a, &batch(gpos));
        }
        assert_eq!(notifier.high_water(), 4);
        assert!(matches!(
            r.receiver.try_recv(),
            Err(TryRecvError::Lagged(6))
        ));
        r.receiver = r.receiver.resubscribe();
        assert!(matches!(r.receiver.try_recv(), Err(TryRecvError::Empty)));
        notifier.committed(&a, &batch(11));
        assert_eq!(gpos(r.receiver.try_recv().unwrap()), 11);
    }

    #[tokio::test]
    async fn ending_a_namespace_closes_its_registrations_and_a_new_one_starts_fresh() {
        let notifier = Notifier::new();
        let a = ns("a");
        let mut old = notifier.register(&a);
        notifier.committed(&a, &batch(1));
        notifier.ended(&a);
        old.ended.wait().await;
        assert_eq!(gpos(old.receiver.recv().await.unwrap()), 1);
        assert!(matches!(old.receiver.recv().await, Err(RecvError::Closed)));
        // Registering afresh through an ended registration cannot revive it.
        old.receiver = old.receiver.resubscribe();
        assert!(matches!(old.receiver.recv().await, Err(RecvError::Closed)));

        let mut new = notifier.register(&a);
        notifier.committed(&a, &batch(1));
        assert_eq!(gpos(new.receiver.recv().await.unwrap()), 1);
    }

    #[test]
    fn resync_is_a_marker_in_order_on_every_channel() {
        let notifier = Notifier::new();
        let (a, b) = (ns("a"), ns("b"));
        let mut ra = notifier.register(&a);
        let mut rb = notifier.register(&b);
        notifier.committed(&a, &batch(1));
        notifier.resync();
        notifier.committed(&a, &batch(3));
        assert_eq!(gpos(ra.receiver.try_recv().unwrap()), 1);
        assert!(matches!(ra.receiver.try_recv(), Ok(Notice::Resync)));
        assert_eq!(gpos(ra.receiver.try_recv().unwrap()), 3);
        assert!(matches!(rb.receiver.try_recv(), Ok(Notice::Resync)));
        assert!(matches!(rb.receiver.try_recv(), Err(TryRecvError::Empty)));
    }

    #[test]
    fn channels_without_subscribers_are_pruned_at_the_next_commit() {
        let notifier = Notifier::new();
        let a = ns("a");
        let r = notifier.register(&a);
        assert_eq!(notifier.registered(&a), 1);
        drop(r);
        notifier.committed(&a, &batch(1));
        assert!(notifier.channels.read().unwrap().get(&a).is_none());
    }
}

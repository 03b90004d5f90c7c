//! The bounded set of open namespaces and the fixed pools of storage threads (SPEC §16.3).
//!
//! A namespace costs storage, not standing resources: its registry record and a few atomics
//! stay in memory, but its database connections (its file descriptors) are open only while it
//! holds one of at most [`Limits::max_open_namespaces`] slots. Every operation takes a *lease*
//! on its namespace (`Shared::lease`), which opens the namespace's storage first if needed; a
//! slot whose namespace has no lease is idle, and when a namespace needs a slot and none is free
//! the least recently used idle one is closed. When every slot is leased, the opener waits for
//! one to turn idle (the request's deadline bounds the wait; nothing fails for lack of
//! descriptors).
//!
//! Threads are bounded the same way: storage work (a writer's group commit, opening and closing
//! a namespace) runs on tokio's blocking pool only while holding one of
//! [`Limits::writer_threads`] permits, reads while holding one of [`Limits::reader_threads`],
//! so the number of threads never depends on the number of namespaces.
//!
//! In memory (`memdb`) closing a database would discard it, so there is no limit on open
//! namespaces there (and no file descriptors to save).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Notify, Semaphore};

use crate::namespace::Shared;

/// How many namespaces may be open and how many threads storage work may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Namespaces whose databases are open at once (on disk; unlimited in memory).
    pub max_open_namespaces: usize,
    /// Threads that run group commits, opens and closes at once.
    pub writer_threads: usize,
    /// Threads that run reads at once.
    pub reader_threads: usize,
}

impl Limits {
    /// File descriptors one open namespace holds: the writer's database, WAL and shared-memory
    /// files, and one read connection's database and WAL. Readers beyond the first of a
    /// namespace are bounded by `reader_threads` for the whole store, not per namespace.
    pub const DESCRIPTORS_PER_NAMESPACE: u64 = 5;

    /// The largest default for `max_open_namespaces`.
    pub const MAX_DEFAULT_OPEN: usize = 1024;

    /// Defaults for a machine with `cores` cores whose soft file-descriptor limit was
    /// `soft_limit` when the process started: half of that limit is left to sockets and
    /// everything else, the other half is shared by the open namespaces and the extra readers.
    pub fn for_machine(cores: usize, soft_limit: u64) -> Limits {
        let cores = cores.max(1);
        let reader_threads = (2 * cores).clamp(4, 16);
        let budget = (soft_limit / 2).saturating_sub(2 * reader_threads as u64);
        let max_open = usize::try_from(budget / Limits::DESCRIPTORS_PER_NAMESPACE)
            .unwrap_or(usize::MAX)
            .clamp(8, Limits::MAX_DEFAULT_OPEN);
        Limits {
            max_open_namespaces: max_open,
            // A storage job spends most of its time waiting for an fsync, so more jobs than
            // cores keep the disk and the cores busy when many namespaces write at once (a
            // single namespace's writes are one job at a time whatever this is). Measured with
            // `bench --workload many-namespaces` on 2 cores: 2 → 8 permits took the throughput
            // from 1,671 to 2,680 ops/s and the first request's p99 from 20 to 15 ms.
            writer_threads: (4 * cores).clamp(4, 16),
            reader_threads,
        }
    }

    /// The most threads the storage can keep busy at once: every writer and reader permit,
    /// plus a few for the rest of the process's blocking work. A runtime whose blocking pool is
    /// capped at this never grows with the namespaces or the load.
    pub fn blocking_threads(&self) -> usize {
        self.writer_threads + self.reader_threads + 4
    }
}

impl Default for Limits {
    /// For this machine's cores and the most common soft limit, 1,024 descriptors.
    fn default() -> Limits {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Limits::for_machine(cores, 1024)
    }
}

/// The open-namespace slots and the thread permits of one store.
pub(crate) struct Cache {
    max_open: usize,
    slots: Mutex<Slots>,
    /// Woken when a lease ends on a namespace nobody else holds, or a slot is given back.
    idle: Notify,
    /// Openers waiting in [`Cache::reserve`]; lease ends only notify when someone waits.
    waiters: AtomicUsize,
    /// The permits of storage jobs (group commits, opens, closes).
    pub(crate) jobs: Arc<Semaphore>,
    /// The permits of reads.
    pub(crate) reads: Arc<Semaphore>,
    /// A logical clock for least-recently-used order.
    tick: AtomicU64,
    /// The most namespaces open (or being opened) at once since the store opened.
    peak: AtomicUsize,
    /// Whether a background trim (see [`Cache::trim`]) is running.
    trimming: AtomicBool,
    /// Namespaces opened since the store opened (reopens included).
    opens: AtomicU64,
    /// Read connections opened since the store opened.
    readers_opened: AtomicU64,
}

#[derive(Default)]
struct Slots {
    /// The namespaces whose storage is open.
    open: Vec<Arc<Shared>>,
    /// Slots taken by namespaces being opened.
    reserved: usize,
}

impl Cache {
    pub(crate) fn new(limits: Limits, evictable: bool) -> Cache {
        Cache {
            max_open: if evictable {
                limits.max_open_namespaces.max(1)
            } else {
                usize::MAX
            },
            slots: Mutex::new(Slots::default()),
            idle: Notify::new(),
            waiters: AtomicUsize::new(0),
            jobs: Arc::new(Semaphore::new(limits.writer_threads.max(1))),
            reads: Arc::new(Semaphore::new(limits.reader_threads.max(1))),
            tick: AtomicU64::new(0),
            peak: AtomicUsize::new(0),
            trimming: AtomicBool::new(false),
            opens: AtomicU64::new(0),
            readers_opened: AtomicU64::new(0),
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A fresh value of the least-recently-used clock.
    pub(crate) fn tick(&self) -> u64 {
        self.tick.fetch_add(1, Ordering::Relaxed)
    }

    /// How many namespaces are open now.
    pub(crate) fn open_count(&self) -> usize {
        self.slots().open.len()
    }

    /// Takes a slot for a namespace about to be opened: a free one, or the one of the least
    /// recently used idle namespace, which is closed first. Waits while every slot is leased.
    pub(crate) async fn reserve(&self) {
        let _waiting = self.waiting();
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            // Registered (and counted in `waiters`) before looking, so a lease that ends in
            // between still wakes us.
            notified.as_mut().enable();
            let victim = {
                let mut slots = self.slots();
                if slots.open.len() + slots.reserved < self.max_open {
                    slots.reserved += 1;
                    self.peak
                        .fetch_max(slots.open.len() + slots.reserved, Ordering::Relaxed);
                    return;
                }
                let victim = take_victim(&mut slots.open);
                if victim.is_some() {
                    // The victim's slot passes to the caller.
                    slots.reserved += 1;
                }
                victim
            };
            if let Some((victim, guard)) = victim {
                victim.close_storage().await;
                drop(guard);
                return;
            }
            notified.await;
        }
    }

    /// Counts the caller in `waiters` until the guard drops: lease ends only notify when
    /// someone waits, and the count must be visible before the waiter looks at the slots.
    fn waiting(&self) -> Waiting<'_> {
        self.waiters.fetch_add(1, Ordering::SeqCst);
        Waiting(&self.waiters)
    }

    /// Turns a reservation into an open namespace.
    pub(crate) fn opened(&self, shared: Arc<Shared>) {
        let mut slots = self.slots();
        slots.reserved = slots.reserved.saturating_sub(1);
        slots.open.push(shared);
    }

    /// Slots a background trim keeps free, so that an opener rarely waits for a close: one in
    /// sixteen (at least one), when there are more than four slots.
    fn headroom(&self) -> usize {
        if self.max_open == usize::MAX || self.max_open <= 4 {
            0
        } else {
            (self.max_open / 16).max(1)
        }
    }

    /// Starts closing least recently used idle namespaces in the background when fewer than
    /// [`Cache::headroom`] slots are free, until that many are. Closing is cheap (a checkpoint
    /// only for a long WAL, see `Shared::evict_connections`) but it is I/O; done here, it is off
    /// the request path.
    pub(crate) fn trim(self: &Arc<Cache>) {
        let headroom = self.headroom();
        if headroom == 0 || self.free_slots() >= headroom {
            return;
        }
        if self.trimming.swap(true, Ordering::AcqRel) {
            return;
        }
        let cache = Arc::clone(self);
        tokio::spawn(async move {
            while cache.free_slots() < headroom {
                let victim = {
                    let mut slots = cache.slots();
                    let victim = take_victim(&mut slots.open);
                    if victim.is_some() {
                        // Its slot stays taken until its files are closed.
                        slots.reserved += 1;
                    }
                    victim
                };
                let Some((victim, guard)) = victim else { break };
                victim.close_storage().await;
                drop(guard);
                cache.unreserve();
            }
            cache.trimming.store(false, Ordering::Release);
        });
    }

    fn free_slots(&self) -> usize {
        let slots = self.slots();
        self.max_open
            .saturating_sub(slots.open.len() + slots.reserved)
    }

    /// Registers a namespace opened without a reservation (in memory, where nothing is limited).
    pub(crate) fn opened_unreserved(&self, shared: Arc<Shared>) {
        let mut slots = self.slots();
        slots.open.push(shared);
        self.peak
            .fetch_max(slots.open.len() + slots.reserved, Ordering::Relaxed);
    }

    /// Counts an open of a namespace's storage.
    pub(crate) fn count_open(&self) {
        self.opens.fetch_add(1, Ordering::Relaxed);
    }

    /// How many times a namespace's storage was opened (reopens included).
    pub(crate) fn opens(&self) -> u64 {
        self.opens.load(Ordering::Relaxed)
    }

    /// Counts a read connection opened.
    pub(crate) fn count_reader(&self) {
        self.readers_opened.fetch_add(1, Ordering::Relaxed);
    }

    /// How many read connections were opened.
    pub(crate) fn readers_opened(&self) -> u64 {
        self.readers_opened.load(Ordering::Relaxed)
    }

    /// The most namespaces that were open (or being opened) at once.
    pub(crate) fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// Gives back a reservation that did not lead to an open namespace.
    pub(crate) fn unreserve(&self) {
        self.slots().reserved -= 1;
        self.idle.notify_waiters();
    }

    /// Forgets an open namespace that is being closed for good (deletion, store close).
    pub(crate) fn remove(&self, shared: &Arc<Shared>) {
        let removed = {
            let mut slots = self.slots();
            let before = slots.open.len();
            slots.open.retain(|open| !Arc::ptr_eq(open, shared));
            before != slots.open.len()
        };
        if removed {
            self.idle.notify_waiters();
        }
    }

    /// Called when the last lease of a namespace ends.
    pub(crate) fn became_idle(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.idle.notify_waiters();
        }
    }

    /// Waits until `ready` holds, re-checking whenever a lease ends or a slot is given back.
    pub(crate) async fn wait_until(&self, ready: impl Fn() -> bool) {
        let _waiting = self.waiting();
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if ready() {
                return;
            }
            notified.await;
        }
    }
}

/// A waiter counted in [`Cache::waiters`].
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Removes and returns the least recently used open namespace that nobody holds, marked
/// closing, with its open lock held (so nobody reopens it before its close has finished).
fn take_victim(
    open: &mut Vec<Arc<Shared>>,
) -> Option<(Arc<Shared>, tokio::sync::OwnedMutexGuard<()>)> {
    let mut candidates: Vec<(u64, usize)> = open
        .iter()
        .enumerate()
        .filter(|(_, shared)| shared.is_idle())
        .map(|(index, shared)| (shared.last_used(), index))
        .collect();
    candidates.sort_unstable();
    for (_, index) in candidates {
        if let Some(guard) = open[index].try_begin_close() {
            let victim = open.swap_remove(index);
            return Some((victim, guard));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_descriptor_limit() {
        let small = Limits::for_machine(2, 1024);
        assert_eq!(small.reader_threads, 4);
        assert_eq!(small.writer_threads, 8);
        assert_eq!(small.blocking_threads(), 16);
        // (512 - 8) / 5
        assert_eq!(small.max_open_namespaces, 100);
        let fds = small.max_open_namespaces as u64 * Limits::DESCRIPTORS_PER_NAMESPACE
            + 2 * small.reader_threads as u64;
        assert!(fds <= 512, "{fds}");
        assert_eq!(
            Limits::for_machine(64, 1 << 20).max_open_namespaces,
            Limits::MAX_DEFAULT_OPEN
        );
        assert_eq!(Limits::for_machine(64, 1 << 20).writer_threads, 16);
        assert_eq!(Limits::for_machine(1, 16).max_open_namespaces, 8);
    }
}

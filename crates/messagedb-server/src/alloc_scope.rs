//! Heap allocations per RPC method, for profiling (`/debug/pprof/allocs?format=json`).
//!
//! While allocation counting is on (the binary's counting allocator, enabled only by `messagedb
//! profile`), [`instrument`] wraps each request future: around every poll it reads the worker
//! thread's allocation counters, so what the request allocates while it runs (routing, auth, body,
//! parsing, the store call's async part, the response) is added to the request's own tally, and
//! nothing that other tasks allocate on the same thread between polls is. The `/rpc` handler names
//! the method once it has parsed it ([`set_method`]); when the request finishes, its tally goes to
//! that method's counters. Work on other threads (the storage writer threads, blocking read
//! threads, hyper's socket I/O) is not attributed here; the process totals still include it.
//!
//! While counting is off, the wrapper's poll is one relaxed atomic load plus the inner poll.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use crate::rpc::Method;

/// One slot per RPC method, plus one for every other request (health, metrics, debug, invalid).
const SLOTS: usize = Method::ALL.len() + 1;
const OTHER: u8 = Method::ALL.len() as u8;

/// What requests of one kind allocated in total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MethodAllocations {
    /// Requests that finished.
    pub calls: u64,
    pub allocations: u64,
    pub bytes: u64,
}

struct Slot {
    calls: AtomicU64,
    allocations: AtomicU64,
    bytes: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)] // only used to initialise `TABLE`
const EMPTY: Slot = Slot {
    calls: AtomicU64::new(0),
    allocations: AtomicU64::new(0),
    bytes: AtomicU64::new(0),
};

static TABLE: [Slot; SLOTS] = [EMPTY; SLOTS];

thread_local! {
    /// The method of the request being polled on this thread, set by [`set_method`].
    static CURRENT: Cell<u8> = const { Cell::new(OTHER) };
}

/// Records that the request being polled on this thread is a call of `method`.
pub fn set_method(method: Method) {
    if messagedb_alloc::is_enabled() {
        CURRENT.with(|c| c.set(method_slot(method)));
    }
}

fn method_slot(method: Method) -> u8 {
    Method::ALL.iter().position(|m| *m == method).unwrap_or(0) as u8
}

/// Wraps a request future so its allocations are attributed (see the module documentation).
pub fn instrument<F: Future>(inner: F) -> Instrumented<F> {
    Instrumented {
        inner,
        slot: OTHER,
        tally: messagedb_alloc::Counts::default(),
    }
}

pin_project_lite::pin_project! {
    /// A request future whose allocations are counted; see [`instrument`].
    pub struct Instrumented<F> {
        #[pin]
        inner: F,
        slot: u8,
        tally: messagedb_alloc::Counts,
    }
}

impl<F: Future> Future for Instrumented<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        if !messagedb_alloc::is_enabled() {
            return this.inner.poll(cx);
        }
        let outer = CURRENT.with(|c| c.replace(*this.slot));
        let before = messagedb_alloc::thread_counts();
        let poll = this.inner.poll(cx);
        let used = messagedb_alloc::thread_counts() - before;
        *this.slot = CURRENT.with(|c| c.replace(outer));
        this.tally.allocations += used.allocations;
        this.tally.bytes += used.bytes;
        if poll.is_ready() {
            let slot = &TABLE[usize::from(*this.slot)];
            slot.calls.fetch_add(1, Ordering::Relaxed);
            slot.allocations
                .fetch_add(this.tally.allocations, Ordering::Relaxed);
            slot.bytes.fetch_add(this.tally.bytes, Ordering::Relaxed);
        }
        poll
    }
}

/// Totals per method name since the process started, in `Method::ALL` order, then `"other"`.
pub fn snapshot() -> Vec<(&'static str, MethodAllocations)> {
    let names = Method::ALL.iter().map(|m| m.name()).chain(["other"]);
    names
        .zip(TABLE.iter())
        .map(|(name, slot)| {
            let counts = MethodAllocations {
                calls: slot.calls.load(Ordering::Relaxed),
                allocations: slot.allocations.load(Ordering::Relaxed),
                bytes: slot.bytes.load(Ordering::Relaxed),
            };
            (name, counts)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The server's unit-test binary counts with the real allocator, so attribution is tested on
    // real allocations. Counting stays off unless a test enables it.
    #[global_allocator]
    static GLOBAL: messagedb_alloc::CountingAllocator = messagedb_alloc::CountingAllocator;

    #[tokio::test]
    async fn a_request_is_charged_to_the_method_it_names() {
        messagedb_alloc::enable();
        let slot = usize::from(method_slot(Method::StreamLast));
        let calls_before = TABLE[slot].calls.load(Ordering::Relaxed);
        let allocations_before = TABLE[slot].allocations.load(Ordering::Relaxed);
        let request = async {
            let early = std::hint::black_box(vec![0u8; 10]);
            tokio::task::yield_now().await;
            set_method(Method::StreamLast);
            tokio::task::yield_now().await;
            let late = std::hint::black_box(vec![0u8; 10]);
            early.len() + late.len()
        };
        assert_eq!(instrument(request).await, 20);
        assert_eq!(TABLE[slot].calls.load(Ordering::Relaxed), calls_before + 1);
        let allocations = TABLE[slot].allocations.load(Ordering::Relaxed) - allocations_before;
        assert!(allocations >= 2, "{allocations}");
        // The method does not leak to whatever this thread polls next.
        assert_eq!(CURRENT.with(Cell::get), OTHER);
    }

    #[test]
    fn every_method_has_its_own_slot() {
        let slots: std::collections::HashSet<u8> =
            Method::ALL.iter().map(|m| method_slot(*m)).collect();
        assert_eq!(slots.len(), Method::ALL.len());
        assert!(!slots.contains(&OTHER));
        let names: Vec<&str> = snapshot().into_iter().map(|(name, _)| name).collect();
        assert_eq!(names.len(), SLOTS);
        assert_eq!(
            names[usize::from(method_slot(Method::StreamWrite))],
            "stream.write"
        );
        assert_eq!(names.last(), Some(&"other"));
    }
}

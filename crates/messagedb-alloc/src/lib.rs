//! A counting global allocator: the system allocator plus counters that profiling reads.
//!
//! The binary installs [`CountingAllocator`] as its `#[global_allocator]` unconditionally, and
//! counting starts only when something calls [`enable`] (the `messagedb profile` command starts its
//! server with [`ENV_VAR`] set). While counting is off, every allocation costs one relaxed atomic
//! load and a predictable branch on top of the system allocator, so production pays nothing worth
//! measuring. While it is on, each allocation also bumps process-wide totals ([`totals`]) and this
//! thread's own counters ([`thread_counts`]); the thread counters let a caller attribute the
//! allocations of one piece of code (a test, one poll of a request future) without interference
//! from other threads.
//!
//! A `realloc` counts as one allocation of the new size (it may move the block), which is how
//! allocation profilers usually count it; `alloc_zeroed` counts like `alloc`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ops::Sub;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Setting this environment variable to `1` makes [`enable_from_env`] turn counting on.
pub const ENV_VAR: &str = "MESSAGEDB_COUNT_ALLOCATIONS";

/// The system allocator with allocation counters; see the crate documentation.
pub struct CountingAllocator;

static ENABLED: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static DEALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES_ALLOCATED: AtomicU64 = AtomicU64::new(0);
static BYTES_FREED: AtomicU64 = AtomicU64::new(0);

thread_local! {
    // Const-initialised `Cell`s without a destructor: reading them never allocates and never
    // registers a thread-exit hook, which code running inside the allocator must not do.
    static THREAD_ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static THREAD_BYTES: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract is exactly `System`'s; the counting around it touches only atomics and
// const-initialised thread-locals, which neither allocate nor unwind.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_allocation(layout.size());
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_allocation(layout.size());
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count_deallocation(layout.size());
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ENABLED.load(Ordering::Relaxed) {
            count_deallocation(layout.size());
            count_allocation(new_size);
        }
        System.realloc(ptr, layout, new_size)
    }
}

#[inline(always)]
fn count_allocation(size: usize) {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    BYTES_ALLOCATED.fetch_add(size as u64, Ordering::Relaxed);
    // `try_with` fails only while this thread's locals are being torn down; those allocations
    // still count in the totals.
    let _ = THREAD_ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    let _ = THREAD_BYTES.try_with(|n| n.set(n.get() + size as u64));
}

#[inline(always)]
fn count_deallocation(size: usize) {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    DEALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    BYTES_FREED.fetch_add(size as u64, Ordering::Relaxed);
}

/// Turns counting on for the whole process. Counters only grow; read them twice and subtract.
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Turns counting on if [`ENV_VAR`] is `1`; returns whether counting is on.
pub fn enable_from_env() -> bool {
    if std::env::var_os(ENV_VAR).is_some_and(|v| v == "1") {
        enable();
    }
    is_enabled()
}

/// Whether counting is on. Counting also needs [`CountingAllocator`] to be the global
/// allocator; otherwise every counter stays 0.
pub fn is_enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Process-wide counters since counting was enabled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub allocations: u64,
    pub deallocations: u64,
    pub bytes_allocated: u64,
    pub bytes_freed: u64,
}

/// The process-wide counters now.
pub fn totals() -> Totals {
    Totals {
        allocations: ALLOCATIONS.load(Ordering::Relaxed),
        deallocations: DEALLOCATIONS.load(Ordering::Relaxed),
        bytes_allocated: BYTES_ALLOCATED.load(Ordering::Relaxed),
        bytes_freed: BYTES_FREED.load(Ordering::Relaxed),
    }
}

/// Allocations made by one thread (or, as a difference, by one piece of code on it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub allocations: u64,
    pub bytes: u64,
}

impl Sub for Counts {
    type Output = Counts;

    fn sub(self, earlier: Counts) -> Counts {
        Counts {
            allocations: self.allocations.wrapping_sub(earlier.allocations),
            bytes: self.bytes.wrapping_sub(earlier.bytes),
        }
    }
}

/// The calling thread's counters (allocations made on it while counting was on).
pub fn thread_counts() -> Counts {
    Counts {
        allocations: THREAD_ALLOCATIONS.try_with(Cell::get).unwrap_or(0),
        bytes: THREAD_BYTES.try_with(Cell::get).unwrap_or(0),
    }
}

/// Runs `f` and returns what it allocated on this thread. Counting must be on.
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, Counts) {
    let before = thread_counts();
    let result = f();
    (result, thread_counts() - before)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[global_allocator]
    static GLOBAL: CountingAllocator = CountingAllocator;

    #[test]
    fn counts_this_threads_allocations() {
        enable();
        let (boxed, counts) = measure(|| std::hint::black_box(Box::new([0u8; 100])));
        assert_eq!(
            counts,
            Counts {
                allocations: 1,
                bytes: 100
            }
        );
        drop(boxed);
        let (_, none) = measure(|| std::hint::black_box(1 + 1));
        assert_eq!(none, Counts::default());
    }

    #[test]
    fn realloc_counts_as_an_allocation_of_the_new_size() {
        enable();
        let mut v: Vec<u8> = Vec::with_capacity(8);
        let (_, counts) = measure(|| v.reserve_exact(64));
        assert_eq!(counts.allocations, 1);
        assert_eq!(counts.bytes, 64);
    }

    #[test]
    fn totals_see_other_threads() {
        enable();
        let before = totals();
        std::thread::spawn(|| std::hint::black_box(vec![1u8; 1000]))
            .join()
            .unwrap();
        let after = totals();
        assert!(after.allocations > before.allocations);
        assert!(after.bytes_allocated >= before.bytes_allocated + 1000);
        assert!(after.deallocations > before.deallocations);
    }
}

//! A global allocator that counts allocations per thread, so tests can
//! prove a hot path allocates nothing.
//!
//! Install it in a test crate and measure a closure:
//!
//! ```text
//! #[global_allocator]
//! static ALLOC: anchorage_alloc_count::CountingAlloc = anchorage_alloc_count::CountingAlloc;
//!
//! assert_eq!(anchorage_alloc_count::allocations(|| parse(QUERY)), 0);
//! ```
//!
//! Counts are per thread, so tests running in parallel do not disturb each
//! other. Deallocations are not counted: freeing is never the problem.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// The system allocator, counting each allocation and reallocation.
pub struct CountingAlloc;

#[allow(unsafe_code)]
// SAFETY: every method forwards to `System` with the caller's arguments,
// so `System`'s guarantees hold; the counter touches no allocated memory.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

fn count() {
    // `try_with`: the thread-local may already be gone while a thread exits.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

/// Allocations made on this thread so far.
pub fn allocation_count() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// Runs `f` and returns how many allocations it made on this thread.
///
/// Meaningful only where [`CountingAlloc`] is the global allocator.
pub fn allocations<T>(f: impl FnOnce() -> T) -> u64 {
    let before = allocation_count();
    let out = f();
    let after = allocation_count();
    drop(std::hint::black_box(out));
    after - before
}

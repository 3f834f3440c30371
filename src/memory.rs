//! Giving memory back to the system after a burst of connections.
//!
//! glibc's `free` returns memory to the system only from the top of a heap; what a burst of
//! thousands of connections allocated stays mapped once anything long-lived was allocated
//! above it (a snapshot published meanwhile, say), so the resident set stays near its peak.
//! `malloc_trim(0)` releases the free pages inside every heap as well. It walks the heaps
//! with their locks held, so it is called rarely: by the HTTP server once a burst has ended
//! (`serve::listener`), on a blocking thread. Lowering `glibc.malloc.mmap_threshold` to
//! 8 KiB instead (every connection buffer in a mapping of its own) also returns the memory,
//! but it cost 40–45 % of the mirror list's throughput. Figures: BENCHMARKS.md, "Memory
//! after a flood of connections".

/// Give free heap memory back to the system; how much was released is not known.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn release_free_memory() {
    // SAFETY: malloc_trim has no preconditions: it only returns free pages of the
    // allocator's own heaps to the system, under the allocator's locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Other allocators return memory on their own terms: nothing to do.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free_memory() {}

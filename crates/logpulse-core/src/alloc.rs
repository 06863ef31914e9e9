//! The binaries' allocator: mimalloc (v3), told to keep the memory it frees.
//!
//! Every batch builds hash tables of tens of thousands of groups that die once merged, on
//! other threads than the ones that made them. With mimalloc's default purging (a second's
//! delay) the next batches still page-fault fresh, zeroed pages for the same tables: measured
//! on the H200 host, 40M CLF lines through the GPU path, builders took 8-11 ms a batch by
//! default and 6 ms with purging off (25.3 vs 41.7 GB/s end to end). So purging is off: the
//! process keeps its high-water mark, which the pipeline's bounded queues and pools bound.

pub use mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (not exported as a constant by `libmimalloc-sys`).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// Its documented default, used to check that [`PURGE_DELAY`] is the option meant.
const PURGE_DELAY_DEFAULT: std::os::raw::c_long = 1000;
/// Milliseconds freed memory stays mapped before mimalloc returns it: never.
pub const KEEP_FREED_MS: std::os::raw::c_long = -1;

/// Sets mimalloc's purge delay to [`KEEP_FREED_MS`], unless the user set one
/// (`MIMALLOC_PURGE_DELAY`) or the option does not hold its documented default (another
/// mimalloc version). Call it first thing in `main`, before threads start.
pub fn keep_freed_memory() {
    let user_set = ["MIMALLOC_PURGE_DELAY", "MIMALLOC_RESET_DELAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
    // SAFETY: plain option reads/writes; mimalloc documents them as not thread safe, and
    // this runs before the program starts any thread.
    unsafe {
        if !user_set && libmimalloc_sys::mi_option_get(PURGE_DELAY) == PURGE_DELAY_DEFAULT {
            libmimalloc_sys::mi_option_set(PURGE_DELAY, KEEP_FREED_MS);
        }
    }
}

/// The purge delay in force, in milliseconds.
pub fn purge_delay_ms() -> std::os::raw::c_long {
    // SAFETY: a plain option read.
    unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_is_the_option_meant_and_is_set() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return; // the user's value wins, by design
        }
        assert_eq!(purge_delay_ms(), PURGE_DELAY_DEFAULT, "mimalloc's default");
        keep_freed_memory();
        assert_eq!(purge_delay_ms(), KEEP_FREED_MS);
    }
}

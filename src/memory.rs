//! The C allocator's arenas, bounded before the first thread starts.
//!
//! glibc gives a thread that finds its arena locked a new one, up to eight per core, and an
//! arena keeps the pages it once held. Database calls hop between a worker's blocking threads,
//! so under a mixed load nearly every thread ended with an arena of its own: 15 besides the
//! main one, 1-4.5 MiB each, about 25 MiB of the service's resident memory on SQLite (issue 10).
//! Two per core measured no slower (`docs/PERFORMANCE.md`) and peaks 9 MiB lower.

/// Arenas per core, where the operator has not chosen (`MALLOC_ARENA_MAX`, `GLIBC_TUNABLES`).
const ARENAS_PER_CORE: usize = 2;

/// Bounds glibc's malloc arenas; elsewhere (musl, other systems) there is nothing to bound.
pub fn bound_malloc_arenas() {
    let chosen = std::env::var_os("MALLOC_ARENA_MAX").is_some()
        || std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("glibc.malloc.arena_max"));
    if chosen {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    set_arena_max(i32::try_from(cores * ARENAS_PER_CORE).unwrap_or(i32::MAX));
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // The one foreign call of the crate: a C function with no safe wrapper.
fn set_arena_max(arenas: i32) {
    // SAFETY: `mallopt` takes the allocator's own lock and only sets a limit; it reads no
    // memory of ours and is sound to call at any time. It returns 0 only for an unknown
    // option, which M_ARENA_MAX is not on glibc.
    let known = unsafe { libc::mallopt(libc::M_ARENA_MAX, arenas) };
    debug_assert_eq!(known, 1, "glibc knows M_ARENA_MAX");
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_arena_max(_arenas: i32) {}

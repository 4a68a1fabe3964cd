// How a process running a microlith system treats the heap memory it frees (docs/benchmarks.md,
// "Jobs").
#pragma once

namespace microlith {

/// Makes glibc keep up to 64 MiB of freed heap for later allocations instead of giving the top
/// of a heap back to the OS as soon as 128 KiB of it is free (its M_TRIM_THRESHOLD default).
/// Each give-back is a system call that unmaps pages, which a virtual machine pays with a TLB
/// shootdown across its cores, and SQLite frees that much around each write transaction of the
/// job store: on a 2-core virtual machine the store ran 1,329 jobs per second with glibc's
/// default and 4,546 with this (jobs_bench, synchronous=NORMAL, the same run).
///
/// `microlith run` calls it before it starts a system; a program of one's own that runs a host
/// may call it first thing too. A setting given by the environment (MALLOC_TRIM_THRESHOLD_, or
/// glibc.malloc.trim_threshold in GLIBC_TUNABLES) is left in force. Answers whether it changed
/// the setting.
bool keep_freed_heap();

} // namespace microlith

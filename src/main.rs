//! The `statewall` binary: everything lives in the library (`statewall::cli`).

fn main() -> std::process::ExitCode {
    keep_freed_memory();
    statewall::cli::main()
}

/// A command lives for milliseconds, and an apply of a 100,000-line list allocates and
/// frees buffers of megabytes one after another (the list, its networks, the set elements,
/// the set cache). glibc hands each one back to the kernel and the next one faults its pages
/// in again, which here costs more than the work on them: memory freed is kept for reuse
/// until the process exits.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before any thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

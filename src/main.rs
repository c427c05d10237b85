//! The `hotline` binary: a shim over [`hotline::cli`].

/// Every webhook allocates and frees dozens of small buffers across the runtime's threads, the
/// writer's and the blocking pool's; mimalloc's per-thread free lists serve that pattern with a
/// fraction of glibc's CPU (BENCHMARKS.md, "The allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    hotline::cli::main()
}

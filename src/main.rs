//! The `hotline` binary: a shim over [`hotline::cli`].

fn main() -> std::process::ExitCode {
    hotline::cli::main()
}

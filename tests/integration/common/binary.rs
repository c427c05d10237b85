//! The `hotline` binary run as a person runs it from a shell: in a folder of its own, with
//! none of this process's `HOTLINE_` variables (the machine running the tests must not change
//! what a test sees), and what it printed read back as one text.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

/// The built `hotline`, to run in `dir`, without `RUST_LOG` or any `HOTLINE_` variable
/// (in any case: the hotline also notices a lower-case one).
pub fn hotline(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hotline"));
    command.current_dir(dir).env_remove("RUST_LOG");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().to_ascii_uppercase().starts_with("HOTLINE_") {
            command.env_remove(name);
        }
    }
    command
}

/// What a command printed: standard output, then standard error.
pub fn printed(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A loopback port free a moment ago, for a server started as a separate process.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

//! `hotline migrate-db --from SRC --to DST`: the database moved between SQLite and PostgreSQL,
//! with a line per table, the time it took, and where the data keys must go.

use std::io::{self, Write};
use std::process::ExitCode;

use crate::app::migrate_db::{DataKeys, TransferError, TransferReport, data_keys, migrate_db};

/// Runs the copy and prints what it did.
pub fn run(from: &str, to: &str) -> ExitCode {
    match migrate_db(from, to) {
        Ok(report) => {
            let _ = print(&report, from, to);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("hotline migrate-db: {error}");
            match error {
                // The data is what is wrong, not the command.
                TransferError::Unrepresentable { .. }
                | TransferError::Differs { .. }
                | TransferError::SchemaDiffers { .. } => ExitCode::from(1),
                _ => ExitCode::from(2),
            }
        }
    }
}

/// The rows per table, the time, and the data keys.
fn print(report: &TransferReport, from: &str, to: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    let width = report.tables.iter().map(|t| t.table.len()).max().unwrap_or(0);
    for table in &report.tables {
        writeln!(out, "  {:<width$}  {:>10} rows", table.table, table.rows)?;
    }
    let rows = report.rows();
    // A copy of an empty database may take no measurable time.
    let rate = if report.seconds > 0.0 { rows as f64 / report.seconds } else { 0.0 };
    writeln!(
        out,
        "copied and checked {rows} rows of {} tables in {:.1} s ({rate:.0} rows/s)",
        report.tables.len(),
        report.seconds
    )?;
    match data_keys(from, to) {
        Some(DataKeys::CopyFrom(keys)) => writeln!(
            out,
            "notes, messages, recording URLs and numbers stay sealed and open only with the \
             data keys in {}: copy that file along (mode 0600) into the data folder of each \
             server that will run the hotline on PostgreSQL",
            keys.display()
        ),
        Some(DataKeys::PutAt(keys)) => writeln!(
            out,
            "notes, messages, recording URLs and numbers stay sealed and open only with the \
             data keys they were sealed under: copy the data-keys file that belongs with the \
             PostgreSQL database to {} (mode 0600) before starting the hotline on {to}",
            keys.display()
        ),
        None => Ok(()),
    }
}

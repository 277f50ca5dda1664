//! Logs go to a file in the data directory, never to the terminal (the console owns it).
//! When the log directory cannot be written, commands go on: the headless ones log warnings
//! to stderr instead, the console logs nothing, and `doctor` reports the problem.

use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// Why the log file could not be opened, when it could not.
static PROBLEM: OnceLock<String> = OnceLock::new();

/// The reason logging fell back from its file, if it did.
pub fn problem() -> Option<&'static str> {
    PROBLEM.get().map(String::as_str)
}

/// Opens `<dir>/soc-copilot.log` for appending, creating the directory.
fn open_log(dir: &Path) -> std::io::Result<std::fs::File> {
    std::fs::create_dir_all(dir)?;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("soc-copilot.log"))
}

/// Starts logging to `<data_dir>/logs/soc-copilot.log`. Keep the guard alive for the
/// program's life: dropping it flushes the log. `SOC_COPILOT_LOG` sets the filter
/// (default `info`). If the file cannot be opened, a warning says so on stderr and logs go
/// to stderr (`stderr_ok`, warnings only) or nowhere (the console, which owns the terminal).
pub fn init(data_dir: &Path, stderr_ok: bool) -> Option<WorkerGuard> {
    let dir = data_dir.join("logs");
    let filter =
        EnvFilter::try_from_env("SOC_COPILOT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    match open_log(&dir) {
        Ok(file) => {
            let (writer, guard) = tracing_appender::non_blocking(file);
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(writer)
                .with_ansi(false)
                .try_init()
                .ok()?;
            Some(guard)
        }
        Err(e) => {
            let why = format!(
                "cannot write the log in {}: {e}",
                crate::alert::sanitize::sanitize(&dir.display().to_string())
            );
            let _ = writeln!(
                std::io::stderr(),
                "warning: {why}; {}",
                if stderr_ok {
                    "warnings go to stderr instead"
                } else {
                    "the console runs without a log"
                }
            );
            let _ = PROBLEM.set(why);
            if stderr_ok {
                tracing_subscriber::fmt()
                    .with_env_filter(EnvFilter::new("warn"))
                    .with_writer(std::io::stderr)
                    .with_ansi(false)
                    .try_init()
                    .ok()?;
            }
            None
        }
    }
}

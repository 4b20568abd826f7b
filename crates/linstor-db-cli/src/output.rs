//! Printing: progress bars on a terminal, text or JSON results, logging setup.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use linstor_db_core::engine::{Progress, ProgressFn};

use crate::cli::Output;

pub fn init_logging(verbose: u8, quiet: bool) {
    let default = match verbose {
        0 if quiet => "error",
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("LINSTOR_DB_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// A spinner with table name and row count, shown only when stderr is a terminal.
pub fn progress(quiet: bool, verb: &str) -> (Option<ProgressFn>, Option<ProgressBar>) {
    if quiet || !std::io::stderr().is_terminal() {
        return (None, None);
    }
    let bar = ProgressBar::new_spinner();
    let style = ProgressStyle::with_template("{spinner} {prefix} {msg} [{elapsed}] {pos} rows ({per_sec})")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    bar.set_style(style);
    bar.set_prefix(verb.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    let handle = bar.clone();
    let callback: ProgressFn = Arc::new(move |p: &Progress| match p {
        Progress::Table { name, index, total } => handle.set_message(format!("{name} ({}/{total})", index + 1)),
        Progress::Rows(rows) => handle.set_position(*rows),
        Progress::Step(step) => {
            handle.set_prefix(*step);
            handle.set_position(0);
        }
    });
    (Some(callback), Some(bar))
}

/// Prints a result: `text` for humans, `json` as one document.
pub fn print_result(output: Output, quiet: bool, text: &str, json: &serde_json::Value) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match output {
        Output::Json => writeln!(stdout, "{}", serde_json::to_string_pretty(json)?)?,
        Output::Text if !quiet => write!(stdout, "{text}")?,
        Output::Text => {}
    }
    Ok(())
}

//! LINSTOR export-db JSON files as a [`Source`] and a [`Target`].
//!
//! Reading runs the streaming parser on a blocking thread that hands batches over a bounded channel.
//! Writing goes to a hidden temporary file with owner-only permissions that replaces the target
//! path only once complete, so a failed export never leaves a partial file behind.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::{Event, Source, Target};
use crate::error::{Error, Result};
use crate::export::{read_export, ExportMeta, ExportWriter, Flow, ReadEvent};
use crate::row::Row;
use crate::schema::{Table, NEVER_EXPORTED, SPACE_TRACKING};

/// Rows per batch handed from the parser thread.
const BATCH_ROWS: usize = 1024;

enum Message {
    Meta(ExportMeta),
    Event(Event),
}

/// Reads an export file.
pub struct ExportFileSource {
    path: PathBuf,
    rx: Option<mpsc::Receiver<Result<Message>>>,
}

impl ExportFileSource {
    /// A source for the file at `path` (nothing is read until [`Source::open`]).
    pub fn new(path: impl Into<PathBuf>) -> ExportFileSource {
        ExportFileSource { path: path.into(), rx: None }
    }
}

#[async_trait]
impl Source for ExportFileSource {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    async fn open(&mut self) -> Result<ExportMeta> {
        let file =
            File::open(&self.path).map_err(|source| Error::File { action: "open", path: self.path.clone(), source })?;
        let (tx, mut rx) = mpsc::channel::<Result<Message>>(16);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || parse_into_channel(file, &path, &tx));
        let first = rx.recv().await.ok_or_else(|| Error::Internal("export reader stopped".into()))??;
        self.rx = Some(rx);
        match first {
            Message::Meta(meta) => Ok(meta),
            Message::Event(_) => Err(Error::Internal("export reader sent rows before metadata".into())),
        }
    }

    async fn next_event(&mut self) -> Result<Option<Event>> {
        let Some(rx) = self.rx.as_mut() else {
            return Err(Error::Internal("next_event before open".into()));
        };
        match rx.recv().await {
            None => Ok(None),
            Some(Ok(Message::Event(event))) => Ok(Some(event)),
            Some(Ok(Message::Meta(_))) => Err(Error::Internal("metadata twice".into())),
            Some(Err(e)) => Err(e),
        }
    }
}

fn parse_into_channel(file: File, path: &Path, tx: &mpsc::Sender<Result<Message>>) {
    let mut batch: Vec<Row> = Vec::with_capacity(BATCH_ROWS);
    let send = |message: Message| tx.blocking_send(Ok(message)).map_err(|_| Error::Cancelled);
    let outcome = read_export(BufReader::with_capacity(256 * 1024, file), path, |event| {
        match event {
            ReadEvent::Meta(meta) => send(Message::Meta(meta.clone()))?,
            ReadEvent::TableStart(table) => send(Message::Event(Event::TableStart(table)))?,
            ReadEvent::Row(row) => {
                batch.push(row);
                if batch.len() >= BATCH_ROWS {
                    send(Message::Event(Event::Rows(std::mem::take(&mut batch))))?;
                }
            }
            ReadEvent::TableEnd => {
                if !batch.is_empty() {
                    send(Message::Event(Event::Rows(std::mem::take(&mut batch))))?;
                }
                send(Message::Event(Event::TableEnd))?;
            }
        }
        Ok(Flow::Continue)
    });
    if let Err(e) = outcome {
        if !matches!(e, Error::Cancelled) {
            let _ = tx.blocking_send(Err(e));
        }
    }
}

/// Writes an export file the way `linstor-database export-db` does.
pub struct ExportFileTarget {
    path: PathBuf,
    partial: Option<PathBuf>,
    writer: Option<ExportWriter<BufWriter<File>>>,
    /// A table whose header is written with its first row (empty space-tracking tables are left out).
    pending_table: Option<&'static Table>,
    rows_in_table: u64,
}

impl ExportFileTarget {
    /// A target writing `path`.
    pub fn new(path: impl Into<PathBuf>) -> ExportFileTarget {
        ExportFileTarget { path: path.into(), partial: None, writer: None, pending_table: None, rows_in_table: 0 }
    }

    fn io_error(&self, source: std::io::Error) -> Error {
        Error::File { action: "write", path: self.path.clone(), source }
    }

    fn writer(&mut self) -> Result<&mut ExportWriter<BufWriter<File>>> {
        self.writer.as_mut().ok_or_else(|| Error::Internal("export target written before begin".into()))
    }

    fn open_pending_table(&mut self) -> Result<()> {
        if let Some(table) = self.pending_table.take() {
            let result = self.writer()?.begin_table(table);
            result.map_err(|e| self.io_error(e))?;
        }
        Ok(())
    }
}

/// Refuses a file target whose directory is missing or that names a directory.
pub fn check_writable_path(path: &Path) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(Error::File {
            action: "create",
            path: path.to_owned(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("directory {} does not exist", dir.display()),
            ),
        });
    }
    if path.is_dir() {
        return Err(Error::File {
            action: "create",
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::IsADirectory, "it is a directory; name a file"),
        });
    }
    Ok(())
}

/// Creates the hidden owner-only file `.NAME.partial-PID` beside `path`, which replaces `path` by a
/// rename only once complete (so a failed write never leaves a partial file under the real name).
/// Partial files of earlier runs for the same name whose process is gone (killed) are removed first:
/// they hold database content and nothing else would ever clean them up.
pub fn create_partial_file(path: &Path) -> Result<(PathBuf, File)> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    remove_stale_partials(path, &name);
    let partial = path.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let file = create_private_file(&partial).map_err(|source| Error::File {
        action: "create",
        path: partial.clone(),
        source,
    })?;
    Ok((partial, file))
}

/// Removes `.NAME.partial-PID` files beside `path` whose process no longer runs (Linux: no
/// `/proc/PID`). Only regular files of exactly that name pattern are touched; errors are ignored, as
/// the new write does not depend on them.
fn remove_stale_partials(path: &Path, name: &str) {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let prefix = format!(".{name}.partial-");
    let Ok(entries) = std::fs::read_dir(&dir) else { return };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)) else { continue };
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        let gone = pid.bytes().all(|b| b.is_ascii_digit()) && pid.parse().is_ok_and(super::lock::process_gone);
        if is_file && gone {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Creates a new file readable and writable by its owner only.
pub fn create_private_file(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

#[async_trait]
impl Target for ExportFileTarget {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    async fn preflight(&mut self, meta: &ExportMeta, _replace: bool) -> Result<()> {
        if let Some(job) = &meta.interrupted {
            // LINSTOR's format has no way to say so: the file would import as a complete database.
            return Err(Error::Refused(format!(
                "the data is an interrupted write ({job}), which an export-db file cannot mark as incomplete; \
                 `linstor-db restore` writes it back marked incomplete, as it was (nothing was written)"
            )));
        }
        check_writable_path(&self.path)
    }

    async fn begin(&mut self, meta: &ExportMeta) -> Result<()> {
        let (partial, file) = create_partial_file(&self.path)?;
        self.partial = Some(partial);
        let writer =
            ExportWriter::new(BufWriter::with_capacity(256 * 1024, file), meta).map_err(|e| self.io_error(e))?;
        self.writer = Some(writer);
        Ok(())
    }

    async fn begin_table(&mut self, table: &'static Table) -> Result<()> {
        self.rows_in_table = 0;
        self.pending_table = (!NEVER_EXPORTED.contains(&table.name)).then_some(table);
        Ok(())
    }

    async fn write_rows(&mut self, table: &'static Table, rows: Vec<Row>) -> Result<u64> {
        if NEVER_EXPORTED.contains(&table.name) {
            return Ok(0);
        }
        self.open_pending_table()?;
        let writer = self.writer.as_mut().ok_or_else(|| Error::Internal("write before begin".into()))?;
        let mut result = Ok(());
        for row in &rows {
            result = writer.write_row(table, row);
            if result.is_err() {
                break;
            }
        }
        self.rows_in_table += rows.len() as u64;
        result.map_err(|e| self.io_error(e))?;
        Ok(rows.len() as u64)
    }

    async fn end_table(&mut self, table: &'static Table) -> Result<bool> {
        if NEVER_EXPORTED.contains(&table.name) || (self.rows_in_table == 0 && SPACE_TRACKING.contains(&table.name)) {
            self.pending_table = None;
            return Ok(false);
        }
        self.open_pending_table()?;
        let result = self.writer()?.end_table();
        result.map_err(|e| self.io_error(e))?;
        Ok(true)
    }

    async fn commit(&mut self, _meta: &ExportMeta) -> Result<()> {
        let writer = self.writer.take().ok_or_else(|| Error::Internal("commit before begin".into()))?;
        let buffered = writer.finish().map_err(|e| self.io_error(e))?;
        let file = buffered.into_inner().map_err(|e| self.io_error(e.into_error()))?;
        file.sync_all().map_err(|e| self.io_error(e))?;
        let partial = self.partial.take().ok_or_else(|| Error::Internal("no partial file".into()))?;
        std::fs::rename(&partial, &self.path).map_err(|e| self.io_error(e))?;
        Ok(())
    }

    fn recovery(&self) -> String {
        format!(
            "Nothing was written to {}: the partial file was removed. Run the same command again.",
            self.path.display()
        )
    }

    async fn mark_incomplete(&mut self, _reason: &str) -> Result<()> {
        // Files are renamed into place only when complete, and no job verifies one after writing.
        Err(Error::Internal(format!(
            "{} is a file, which is never marked as an incomplete import",
            self.path.display()
        )))
    }
}

impl Drop for ExportFileTarget {
    fn drop(&mut self) {
        // An export that did not commit leaves nothing behind.
        if let Some(partial) = self.partial.take() {
            let _ = std::fs::remove_file(partial);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_partials_of_dead_writers_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("db.json");
        // No process has a PID this large (Linux caps PIDs at 2^22).
        let dead = dir.path().join(".db.json.partial-999999999");
        let alive = dir.path().join(format!(".db.json.partial-{}", std::process::id()));
        let other = dir.path().join(".other.json.partial-999999999");
        let not_a_pid = dir.path().join(".db.json.partial-x");
        for path in [&dead, &other, &not_a_pid] {
            std::fs::write(path, "rows").unwrap();
        }
        // A live writer's partial (another process: the init process, PID 1) must stay.
        let live = dir.path().join(".db.json.partial-1");
        std::fs::write(&live, "rows").unwrap();
        let (partial, _file) = create_partial_file(&target).unwrap();
        assert_eq!(partial, alive);
        assert!(!dead.exists(), "the dead writer's partial file stayed");
        assert!(live.exists(), "a live writer's partial file was removed");
        assert!(other.exists() && not_a_pid.exists(), "files of other names were touched");
    }
}

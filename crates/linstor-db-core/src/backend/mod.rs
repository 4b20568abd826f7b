//! The two traits every store implements, and their adapters. A copy is one data flow:
//! a [`Source`] emits tables and row batches, a [`Target`] takes them (see [`crate::engine`]).

pub mod file;

#[cfg(feature = "etcd")]
pub mod etcd;

use async_trait::async_trait;

use crate::error::Result;
use crate::export::ExportMeta;
use crate::row::Row;
use crate::schema::Table;

/// One step of a stream of tables and rows.
#[derive(Debug)]
pub enum Event {
    /// The rows that follow belong to this table.
    TableStart(&'static Table),
    /// Some rows of the current table.
    Rows(Vec<Row>),
    /// The current table is complete.
    TableEnd,
}

/// A store that can be read as a consistent point-in-time stream of tables.
#[async_trait]
pub trait Source: Send {
    /// The store, for messages (never contains secrets).
    fn describe(&self) -> String;

    /// Pins a consistent view and returns the versions of the data (the LINSTOR release it belongs to).
    async fn open(&mut self) -> Result<ExportMeta>;

    /// The next event; `None` after the last table.
    async fn next_event(&mut self) -> Result<Option<Event>>;
}

/// A store that can be written.
#[async_trait]
pub trait Target: Send {
    /// The store, for messages (never contains secrets).
    fn describe(&self) -> String;

    /// Read-only checks before anything is written: can the target hold this data version, is it
    /// empty (or may it be replaced), is nothing else half-done in it.
    async fn preflight(&mut self, meta: &ExportMeta, replace: bool) -> Result<()>;

    /// Marks the target as being written (so that an interruption is visible) and prepares it.
    async fn begin(&mut self, meta: &ExportMeta) -> Result<()>;

    /// A table starts; a replacing target clears it here.
    async fn begin_table(&mut self, table: &'static Table) -> Result<()>;

    /// Writes rows of the current table.
    async fn write_rows(&mut self, table: &'static Table, rows: Vec<Row>) -> Result<()>;

    /// The current table is complete.
    async fn end_table(&mut self, table: &'static Table) -> Result<()>;

    /// Sets the version markers and clears the in-progress mark: the data is complete.
    async fn commit(&mut self, meta: &ExportMeta) -> Result<()>;
}

//! A [`Source`] adapter that emits each table's rows sorted by primary key — the order of LINSTOR's
//! own etcd export (`TreeSet` of composed keys) — whatever order the store returned them in (the
//! Kubernetes API lists by hash name, etcd by key bytes, where `/` after a key sorts differently).
//! Memory stays bounded: an external sort ([`crate::spill`]) keeps runs of about [`RUN_BYTES`] and
//! spills larger tables to anonymous temporary files.

use std::cmp::Ordering;
use std::io;

use async_trait::async_trait;

use super::{Event, Source};
use crate::error::{Error, Result};
use crate::export::ExportMeta;
use crate::row::{Row, Value};
use crate::schema::Table;
use crate::spill::{ExternalSort, Field, Sorted};

/// Estimated heap bytes of rows sorted in memory before a run is spilled to disk. Bytes, not rows,
/// so that wide tables cannot push jobs holding two sorted sources (verify, restore, migrate)
/// towards their memory limit.
pub const RUN_BYTES: usize = 8 << 20;
/// Rows per emitted batch.
const BATCH: usize = 1024;

/// Sorts the rows of every table of `inner` by their formatted primary key.
pub struct SortedSource<S> {
    inner: S,
    run_bytes: usize,
    output: Option<Sorted<Keyed>>,
}

/// A row with its formatted key, ordered by the key alone: rows with equal keys (duplicates, which
/// the checker reports) keep the order the store returned them in.
struct Keyed {
    key: String,
    row: Row,
}

impl PartialEq for Keyed {
    fn eq(&self, other: &Keyed) -> bool {
        self.key == other.key
    }
}

impl Eq for Keyed {}

impl PartialOrd for Keyed {
    fn partial_cmp(&self, other: &Keyed) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Keyed {
    fn cmp(&self, other: &Keyed) -> Ordering {
        self.key.cmp(&other.key)
    }
}

impl Field for Value {
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            Value::Text(s) => {
                out.push(0);
                s.put(out);
            }
            Value::Int(v) => {
                out.push(1);
                v.put(out);
            }
            Value::Bool(b) => {
                out.push(2);
                b.put(out);
            }
        }
    }

    fn take(input: &mut &[u8]) -> io::Result<Value> {
        Ok(match u8::take(input)? {
            0 => Value::Text(String::take(input)?),
            1 => Value::Int(i64::take(input)?),
            _ => Value::Bool(bool::take(input)?),
        })
    }

    fn heap(&self) -> usize {
        match self {
            Value::Text(s) => s.heap(),
            _ => 0,
        }
    }
}

impl Field for Keyed {
    fn put(&self, out: &mut Vec<u8>) {
        self.key.put(out);
        self.row.cells.put(out);
    }

    fn take(input: &mut &[u8]) -> io::Result<Keyed> {
        Ok(Keyed { key: String::take(input)?, row: Row { cells: Field::take(input)? } })
    }

    fn heap(&self) -> usize {
        self.key.heap() + self.row.cells.heap()
    }
}

impl<S: Source> SortedSource<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> SortedSource<S> {
        SortedSource::with_run_bytes(inner, RUN_BYTES)
    }

    /// Wraps `inner`, spilling runs of about `run_bytes` (small values test the merge).
    pub fn with_run_bytes(inner: S, run_bytes: usize) -> SortedSource<S> {
        SortedSource { inner, run_bytes, output: None }
    }

    /// Reads the current table to its end, sorting; leaves the sorted output ready.
    async fn sort_table(&mut self, table: &'static Table) -> Result<()> {
        let mut sort = ExternalSort::new(Some(tempfile::tempfile), self.run_bytes);
        loop {
            match self.inner.next_event().await? {
                Some(Event::Rows(rows)) => {
                    for row in rows {
                        sort.push(Keyed { key: row.formatted_key(table), row }).map_err(spill_error)?;
                    }
                }
                Some(Event::TableEnd) => break,
                Some(Event::TableStart(t)) => {
                    return Err(Error::Internal(format!("table {} started inside {}", t.name, table.name)))
                }
                None => return Err(Error::Internal(format!("source ended inside table {}", table.name))),
            }
        }
        self.output = Some(sort.into_sorted().map_err(spill_error)?);
        Ok(())
    }
}

fn spill_error(e: io::Error) -> Error {
    Error::Internal(format!("sorting rows through a temporary file (TMPDIR): {e}"))
}

#[async_trait]
impl<S: Source> Source for SortedSource<S> {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    async fn open(&mut self) -> Result<ExportMeta> {
        self.inner.open().await
    }

    async fn next_event(&mut self) -> Result<Option<Event>> {
        if let Some(output) = self.output.as_mut() {
            let batch = output.by_ref().take(BATCH).map(|keyed| keyed.map(|k| k.row)).collect::<io::Result<Vec<_>>>();
            let batch = batch.map_err(spill_error)?;
            if !batch.is_empty() {
                return Ok(Some(Event::Rows(batch)));
            }
            self.output = None;
            return Ok(Some(Event::TableEnd));
        }
        match self.inner.next_event().await? {
            Some(Event::TableStart(table)) => {
                self.sort_table(table).await?;
                Ok(Some(Event::TableStart(table)))
            }
            Some(other) => Err(Error::Internal(format!("unexpected event outside a table: {other:?}"))),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{GeneratedSource, Plan};
    use crate::schema::DataVersion;

    async fn drain(source: &mut dyn Source) -> Vec<(&'static str, Vec<String>)> {
        source.open().await.unwrap();
        let mut out: Vec<(&'static str, Vec<String>)> = Vec::new();
        let mut current = None;
        while let Some(event) = source.next_event().await.unwrap() {
            match event {
                Event::TableStart(t) => {
                    current = Some(t);
                    out.push((t.name, Vec::new()));
                }
                Event::Rows(rows) => {
                    let t = current.unwrap();
                    out.last_mut().unwrap().1.extend(rows.iter().map(|r| r.formatted_key(t)));
                }
                Event::TableEnd => current = None,
            }
        }
        out
    }

    #[tokio::test]
    async fn in_memory_and_spilled_sorting_agree_and_keep_every_row() {
        let plan = Plan::for_rows(5000, 3, DataVersion::V1_31_1);
        let unsorted = drain(&mut GeneratedSource::new(plan.clone())).await;
        let in_memory = drain(&mut SortedSource::new(GeneratedSource::new(plan.clone()))).await;
        let spilled = drain(&mut SortedSource::with_run_bytes(GeneratedSource::new(plan), 2048)).await;
        assert_eq!(in_memory, spilled);
        for ((name, raw), (sorted_name, sorted)) in unsorted.iter().zip(&in_memory) {
            assert_eq!(name, sorted_name);
            let mut expected = raw.clone();
            expected.sort();
            assert_eq!(&expected, sorted, "{name}");
        }
    }

    #[test]
    fn spilled_rows_round_trip() {
        let row =
            Row { cells: vec![None, Some(Value::Text("ä:/x".into())), Some(Value::Int(-5)), Some(Value::Bool(true))] };
        let keyed = Keyed { key: "k".to_owned(), row: row.clone() };
        let mut bytes = Vec::new();
        keyed.put(&mut bytes);
        let mut input = bytes.as_slice();
        let back = Keyed::take(&mut input).unwrap();
        assert_eq!((back.key.as_str(), back.row), ("k", row));
        assert!(input.is_empty());
    }
}

//! A [`Source`] adapter that emits each table's rows sorted by primary key — the order of LINSTOR's
//! own etcd export (`TreeSet` of composed keys) — whatever order the store returned them in (the
//! Kubernetes API lists by hash name, etcd by key bytes, where `/` after a key sorts differently).
//! Memory stays bounded: runs of about [`RUN_BYTES`] are sorted in memory, and larger tables are
//! spilled to anonymous temporary files and merged.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use async_trait::async_trait;

use super::{Event, Source};
use crate::error::{Error, Result};
use crate::export::ExportMeta;
use crate::row::{Row, Value};
use crate::schema::Table;

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
    output: Option<Output>,
}

enum Output {
    Memory(std::vec::IntoIter<(String, Row)>),
    Merge(Merger),
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
        let mut run: Vec<(String, Row)> = Vec::new();
        let mut run_bytes = 0;
        let mut spilled: Vec<File> = Vec::new();
        loop {
            match self.inner.next_event().await? {
                Some(Event::Rows(rows)) => {
                    for row in rows {
                        let key = row.formatted_key(table);
                        run_bytes += heap_size(&key, &row);
                        run.push((key, row));
                        if run_bytes >= self.run_bytes {
                            spilled.push(spill(&mut run)?);
                            run_bytes = 0;
                        }
                    }
                }
                Some(Event::TableEnd) => break,
                Some(Event::TableStart(t)) => {
                    return Err(Error::Internal(format!("table {} started inside {}", t.name, table.name)))
                }
                None => return Err(Error::Internal(format!("source ended inside table {}", table.name))),
            }
        }
        run.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        self.output = Some(if spilled.is_empty() {
            Output::Memory(run.into_iter())
        } else {
            if !run.is_empty() {
                spilled.push(spill(&mut run)?);
            }
            Output::Merge(Merger::new(spilled)?)
        });
        Ok(())
    }
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
            let batch = match output {
                Output::Memory(rows) => rows.by_ref().take(BATCH).map(|(_, row)| row).collect::<Vec<_>>(),
                Output::Merge(merger) => merger.next_batch(BATCH)?,
            };
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

/// Heap bytes held by one buffered row: its key, its cells and their texts, plus the run's slot.
fn heap_size(key: &str, row: &Row) -> usize {
    let texts: usize = row
        .cells
        .iter()
        .map(|cell| match cell {
            Some(Value::Text(s)) => s.len(),
            _ => 0,
        })
        .sum();
    std::mem::size_of::<(String, Row)>() + key.len() + row.cells.len() * std::mem::size_of::<Option<Value>>() + texts
}

/// Writes a sorted run to an anonymous temporary file and empties `run`.
fn spill(run: &mut Vec<(String, Row)>) -> Result<File> {
    run.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let io = |e: std::io::Error| Error::Internal(format!("spilling sorted rows to a temporary file: {e}"));
    let file = tempfile::tempfile().map_err(io)?;
    let mut out = BufWriter::new(file);
    for (key, row) in run.drain(..) {
        encode(&key, &row, &mut out).map_err(io)?;
    }
    let mut file = out.into_inner().map_err(|e| io(e.into_error()))?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    Ok(file)
}

fn encode(key: &str, row: &Row, out: &mut impl Write) -> std::io::Result<()> {
    write_bytes(key.as_bytes(), out)?;
    out.write_all(&(row.cells.len() as u32).to_le_bytes())?;
    for cell in &row.cells {
        match cell {
            None => out.write_all(&[0])?,
            Some(Value::Text(s)) => {
                out.write_all(&[1])?;
                write_bytes(s.as_bytes(), out)?;
            }
            Some(Value::Int(v)) => {
                out.write_all(&[2])?;
                out.write_all(&v.to_le_bytes())?;
            }
            Some(Value::Bool(b)) => out.write_all(&[3, u8::from(*b)])?,
        }
    }
    Ok(())
}

fn write_bytes(bytes: &[u8], out: &mut impl Write) -> std::io::Result<()> {
    out.write_all(&(bytes.len() as u32).to_le_bytes())?;
    out.write_all(bytes)
}

/// Reads one record; `None` at the end of the run.
fn decode(input: &mut impl Read) -> std::io::Result<Option<(String, Row)>> {
    let mut len = [0u8; 4];
    match input.read_exact(&mut len) {
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        other => other?,
    }
    let key = read_string(u32::from_le_bytes(len), input)?;
    input.read_exact(&mut len)?;
    let cells = (0..u32::from_le_bytes(len))
        .map(|_| {
            let mut tag = [0u8; 1];
            input.read_exact(&mut tag)?;
            Ok(match tag[0] {
                0 => None,
                1 => {
                    let mut n = [0u8; 4];
                    input.read_exact(&mut n)?;
                    Some(Value::Text(read_string(u32::from_le_bytes(n), input)?))
                }
                2 => {
                    let mut v = [0u8; 8];
                    input.read_exact(&mut v)?;
                    Some(Value::Int(i64::from_le_bytes(v)))
                }
                _ => {
                    let mut b = [0u8; 1];
                    input.read_exact(&mut b)?;
                    Some(Value::Bool(b[0] != 0))
                }
            })
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    Ok(Some((key, Row { cells })))
}

fn read_string(len: u32, input: &mut impl Read) -> std::io::Result<String> {
    let mut bytes = vec![0u8; len as usize];
    input.read_exact(&mut bytes)?;
    String::from_utf8(bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// K-way merge of sorted runs.
struct Merger {
    runs: Vec<BufReader<File>>,
    heads: BinaryHeap<Reverse<(String, usize)>>,
    rows: Vec<Option<Row>>,
}

impl Merger {
    fn new(files: Vec<File>) -> Result<Merger> {
        let mut merger = Merger { runs: Vec::new(), heads: BinaryHeap::new(), rows: Vec::new() };
        for (i, file) in files.into_iter().enumerate() {
            merger.runs.push(BufReader::with_capacity(64 * 1024, file));
            merger.rows.push(None);
            merger.advance(i)?;
        }
        Ok(merger)
    }

    fn advance(&mut self, run: usize) -> Result<()> {
        let record =
            decode(&mut self.runs[run]).map_err(|e| Error::Internal(format!("reading sorted rows back: {e}")))?;
        if let Some((key, row)) = record {
            self.rows[run] = Some(row);
            self.heads.push(Reverse((key, run)));
        }
        Ok(())
    }

    fn next_batch(&mut self, max: usize) -> Result<Vec<Row>> {
        let mut out = Vec::with_capacity(max);
        while out.len() < max {
            let Some(Reverse((_, run))) = self.heads.pop() else { break };
            if let Some(row) = self.rows[run].take() {
                out.push(row);
            }
            self.advance(run)?;
        }
        Ok(out)
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
    fn spill_codec_round_trips() {
        let row =
            Row { cells: vec![None, Some(Value::Text("ä:/x".into())), Some(Value::Int(-5)), Some(Value::Bool(true))] };
        let mut bytes = Vec::new();
        encode("k", &row, &mut bytes).unwrap();
        let mut input = bytes.as_slice();
        assert_eq!(decode(&mut input).unwrap(), Some(("k".to_owned(), row)));
        assert_eq!(decode(&mut input).unwrap(), None);
    }
}

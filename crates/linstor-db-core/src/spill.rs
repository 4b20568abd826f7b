//! External sorting in bounded memory: records are sorted in runs of about a fixed number of bytes,
//! each full run is written to a scratch file, and the runs are merged when read back. The checks
//! that join rows of different tables (`crate::check`) sort their facts this way, so that memory does
//! not grow with the database, nor with what an archive packs into one table.
//!
//! Pure: the caller hands in how to make a scratch file ([`Scratch`]); without one, runs stay in
//! memory (for inputs known to be small, such as fuzzing and unit tests).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

/// Makes an anonymous scratch file (`tempfile::tempfile`), deleted when dropped.
pub type Scratch = fn() -> io::Result<File>;

/// Bytes buffered before a run is spilled: a few sorters are filled at once, so each stays small.
pub const RUN_BYTES: usize = 2 << 20;
/// Read buffer per run while merging.
const MERGE_BUFFER: usize = 16 << 10;
/// Runs of one level merged into one run of the next (a tiered merge: every record is rewritten
/// once per level). Bounds the open files and merge buffers to 63 runs per level, about 1 MiB.
const FAN_IN: usize = 64;

/// A value with a compact binary form: the fields of sortable records.
pub trait Field: Sized {
    /// Appends the value.
    fn put(&self, out: &mut Vec<u8>);
    /// Reads a value from the front of `input`.
    fn take(input: &mut &[u8]) -> io::Result<Self>;
    /// Heap bytes the value holds beyond its own size.
    fn heap(&self) -> usize {
        0
    }
}

fn truncated() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "a spilled record is truncated")
}

fn take_bytes<'a>(input: &mut &'a [u8], n: usize) -> io::Result<&'a [u8]> {
    if input.len() < n {
        return Err(truncated());
    }
    let (head, rest) = input.split_at(n);
    *input = rest;
    Ok(head)
}

macro_rules! fixed_field {
    ($($t:ty),*) => {$(
        impl Field for $t {
            fn put(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn take(input: &mut &[u8]) -> io::Result<Self> {
                let bytes = take_bytes(input, std::mem::size_of::<$t>())?;
                Ok(<$t>::from_le_bytes(bytes.try_into().map_err(|_| truncated())?))
            }
        }
    )*};
}
fixed_field!(u8, u64, i64, u128);

impl Field for bool {
    fn put(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
    fn take(input: &mut &[u8]) -> io::Result<Self> {
        Ok(u8::take(input)? != 0)
    }
}

/// Lengths as LEB128: most strings here are short.
fn put_len(mut n: usize, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn take_len(input: &mut &[u8]) -> io::Result<usize> {
    let mut n: usize = 0;
    for shift in (0..64).step_by(7) {
        let byte = u8::take(input)?;
        n |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(n);
        }
    }
    Err(truncated())
}

impl Field for String {
    fn put(&self, out: &mut Vec<u8>) {
        put_len(self.len(), out);
        out.extend_from_slice(self.as_bytes());
    }
    fn take(input: &mut &[u8]) -> io::Result<Self> {
        let len = take_len(input)?;
        let bytes = take_bytes(input, len)?;
        String::from_utf8(bytes.to_vec()).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
    fn heap(&self) -> usize {
        self.capacity()
    }
}

impl<T: Field> Field for Option<T> {
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                v.put(out);
            }
        }
    }
    fn take(input: &mut &[u8]) -> io::Result<Self> {
        Ok(if u8::take(input)? == 0 { None } else { Some(T::take(input)?) })
    }
    fn heap(&self) -> usize {
        self.as_ref().map_or(0, Field::heap)
    }
}

impl<T: Field> Field for Vec<T> {
    fn put(&self, out: &mut Vec<u8>) {
        put_len(self.len(), out);
        for v in self {
            v.put(out);
        }
    }
    fn take(input: &mut &[u8]) -> io::Result<Self> {
        let len = take_len(input)?;
        // Each element takes at least one byte: a corrupt length cannot reserve more than is there.
        let mut items = Vec::with_capacity(len.min(input.len()));
        for _ in 0..len {
            items.push(T::take(input)?);
        }
        Ok(items)
    }
    fn heap(&self) -> usize {
        self.capacity() * std::mem::size_of::<T>() + self.iter().map(Field::heap).sum::<usize>()
    }
}

macro_rules! tuple_field {
    ($($name:ident),+) => {
        impl<$($name: Field),+> Field for ($($name,)+) {
            #[allow(non_snake_case)]
            fn put(&self, out: &mut Vec<u8>) {
                let ($($name,)+) = self;
                $($name.put(out);)+
            }
            fn take(input: &mut &[u8]) -> io::Result<Self> {
                Ok(($($name::take(input)?,)+))
            }
            #[allow(non_snake_case)]
            fn heap(&self) -> usize {
                let ($($name,)+) = self;
                0 $(+ $name.heap())+
            }
        }
    };
}
tuple_field!(A, B);
tuple_field!(A, B, C);
tuple_field!(A, B, C, D);
tuple_field!(A, B, C, D, E);
tuple_field!(A, B, C, D, E, F);
tuple_field!(A, B, C, D, E, F, G);
tuple_field!(A, B, C, D, E, F, G, H);

/// Sorts records of type `T` (ascending by `Ord`; records that compare equal keep the order they were
/// pushed in) in about [`RUN_BYTES`] of memory.
pub struct ExternalSort<T> {
    run: Vec<T>,
    run_bytes: usize,
    limit: usize,
    scratch: Option<Scratch>,
    /// Spilled runs in push order, each with its level (how many merges made it); levels never grow
    /// towards the end.
    spilled: Vec<(u32, File)>,
    frame: Vec<u8>,
}

/// An empty in-memory sorter: what `std::mem::take` leaves behind when a join consumes a sort.
impl<T> Default for ExternalSort<T> {
    fn default() -> ExternalSort<T> {
        ExternalSort { run: Vec::new(), run_bytes: 0, limit: 0, scratch: None, spilled: Vec::new(), frame: Vec::new() }
    }
}

impl<T: Field + Ord> ExternalSort<T> {
    /// A sorter spilling to files of `scratch` (in memory without), runs of about `limit` bytes.
    pub fn new(scratch: Option<Scratch>, limit: usize) -> ExternalSort<T> {
        ExternalSort { run: Vec::new(), run_bytes: 0, limit, scratch, spilled: Vec::new(), frame: Vec::new() }
    }

    /// Adds one record; spills the run when it is full.
    pub fn push(&mut self, record: T) -> io::Result<()> {
        self.run_bytes += std::mem::size_of::<T>() + record.heap();
        self.run.push(record);
        if self.run_bytes >= self.limit && self.scratch.is_some() {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> io::Result<()> {
        let Some(scratch) = self.scratch else { return Ok(()) };
        self.run.sort();
        let run = std::mem::take(&mut self.run);
        let file = write_run(scratch, &mut self.frame, run.into_iter().map(Ok))?;
        self.spilled.push((0, file));
        self.run_bytes = 0;
        // Adjacent runs are merged in push order, so the merge stays stable.
        while let Some(&(level, _)) = self.spilled.last() {
            let first = match self.spilled.len().checked_sub(FAN_IN) {
                Some(first) if self.spilled[first].0 == level => first,
                _ => break,
            };
            let runs: Vec<File> = self.spilled.split_off(first).into_iter().map(|(_, file)| file).collect();
            let file = write_run(scratch, &mut self.frame, Merge::<T>::of(runs)?)?;
            self.spilled.push((level + 1, file));
        }
        Ok(())
    }

    /// Every record pushed, in order.
    pub fn into_sorted(mut self) -> io::Result<Sorted<T>> {
        if self.spilled.is_empty() {
            self.run.sort();
            return Ok(Sorted::Memory(self.run.into_iter()));
        }
        if !self.run.is_empty() {
            self.spill()?;
        }
        Ok(Sorted::Merge(Merge::of(self.spilled.into_iter().map(|(_, file)| file).collect())?))
    }
}

/// Writes sorted records to a new scratch file, each framed by its length, and rewinds it.
fn write_run<T: Field>(
    scratch: Scratch,
    frame: &mut Vec<u8>,
    records: impl Iterator<Item = io::Result<T>>,
) -> io::Result<File> {
    let mut out = BufWriter::new(scratch()?);
    let mut len = Vec::with_capacity(4);
    for record in records {
        frame.clear();
        record?.put(frame);
        len.clear();
        put_len(frame.len(), &mut len);
        out.write_all(&len)?;
        out.write_all(frame)?;
    }
    let mut file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.seek(SeekFrom::Start(0))?;
    Ok(file)
}

/// The sorted records of an [`ExternalSort`].
pub enum Sorted<T> {
    /// All records fit in one run.
    Memory(std::vec::IntoIter<T>),
    /// A k-way merge of spilled runs.
    Merge(Merge<T>),
}

/// Merges spilled runs; the run index breaks ties, so that equal records keep their push order.
pub struct Merge<T> {
    runs: Vec<BufReader<File>>,
    heads: BinaryHeap<Reverse<(T, usize)>>,
    frame: Vec<u8>,
}

impl<T: Field + Ord> Merge<T> {
    fn of(files: Vec<File>) -> io::Result<Merge<T>> {
        let mut merge = Merge { runs: Vec::new(), heads: BinaryHeap::new(), frame: Vec::new() };
        for (i, file) in files.into_iter().enumerate() {
            merge.runs.push(BufReader::with_capacity(MERGE_BUFFER, file));
            merge.advance(i)?;
        }
        Ok(merge)
    }

    fn advance(&mut self, run: usize) -> io::Result<()> {
        let input = &mut self.runs[run];
        let mut len: usize = 0;
        for shift in (0..64).step_by(7) {
            let mut byte = [0u8; 1];
            match input.read_exact(&mut byte) {
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && shift == 0 => return Ok(()),
                other => other?,
            }
            len |= usize::from(byte[0] & 0x7f) << shift;
            if byte[0] & 0x80 == 0 {
                break;
            }
        }
        self.frame.resize(len, 0);
        input.read_exact(&mut self.frame)?;
        let record = T::take(&mut self.frame.as_slice())?;
        self.heads.push(Reverse((record, run)));
        Ok(())
    }
}

impl<T: Field + Ord> Iterator for Sorted<T> {
    type Item = io::Result<T>;

    fn next(&mut self) -> Option<io::Result<T>> {
        match self {
            Sorted::Memory(records) => records.next().map(Ok),
            Sorted::Merge(merge) => merge.next(),
        }
    }
}

impl<T: Field + Ord> Iterator for Merge<T> {
    type Item = io::Result<T>;

    fn next(&mut self) -> Option<io::Result<T>> {
        let Reverse((record, run)) = self.heads.pop()?;
        Some(self.advance(run).map(|()| record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Record = (String, i64, Option<Vec<u64>>, bool);

    fn records() -> Vec<Record> {
        (0..5000i64)
            .map(|i| {
                let key = format!("k{}", (i * 7919) % 613);
                let list = (i % 3 == 0).then(|| vec![i as u64, u64::MAX]);
                (key, -i % 17, list, i % 2 == 0)
            })
            .collect()
    }

    fn sorted(scratch: Option<Scratch>, limit: usize) -> Vec<Record> {
        let mut sort = ExternalSort::new(scratch, limit);
        for r in records() {
            sort.push(r).unwrap();
        }
        sort.into_sorted().unwrap().collect::<io::Result<_>>().unwrap()
    }

    #[test]
    fn spilled_runs_merge_to_the_in_memory_order() {
        let mut expected = records();
        expected.sort();
        assert_eq!(sorted(None, RUN_BYTES), expected);
        // About 40 runs of 4 KiB; about 700 of 256 bytes, merged in two levels.
        assert_eq!(sorted(Some(tempfile::tempfile), 4096), expected);
        assert_eq!(sorted(Some(tempfile::tempfile), 256), expected);
    }

    #[test]
    fn fields_round_trip_and_truncation_is_an_error() {
        let value: (u128, String, Option<String>, Vec<i64>) = (u128::MAX - 3, "ä/x".repeat(100), None, vec![-1, 7]);
        let mut bytes = Vec::new();
        value.put(&mut bytes);
        let mut input = bytes.as_slice();
        assert_eq!(<(u128, String, Option<String>, Vec<i64>)>::take(&mut input).unwrap(), value);
        assert!(input.is_empty());
        let mut short = &bytes[..bytes.len() - 1];
        assert!(<(u128, String, Option<String>, Vec<i64>)>::take(&mut short).is_err());
    }
}

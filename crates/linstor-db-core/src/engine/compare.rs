//! Logical comparison of two stores: table by table, row by primary key (never by CR hash names or
//! etcd key layout). Both sides are read sorted by key and merge-joined, so memory stays bounded.

use std::cmp::Ordering;

use crate::backend::sorted::SortedSource;
use crate::backend::{Event, Source};
use crate::error::{Error, Result};
use crate::lost::LostColumn;
use crate::row::Row;
use crate::schema::{Table, NEVER_EXPORTED};

/// One difference between side A and side B.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Difference {
    /// The data versions differ, so rows cannot be compared.
    DataVersion {
        /// A's data version.
        a: String,
        /// B's data version.
        b: String,
    },
    /// A row only A has.
    OnlyInA {
        /// Table.
        table: String,
        /// Formatted primary key.
        key: String,
    },
    /// A row only B has.
    OnlyInB {
        /// Table.
        table: String,
        /// Formatted primary key.
        key: String,
    },
    /// A row both have, with different values.
    Changed {
        /// Table.
        table: String,
        /// Formatted primary key.
        key: String,
        /// `(column, value in A, value in B)`, values as JSON text (`null` for NULL).
        columns: Vec<(String, String, String)>,
    },
}

/// Counts of a comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CompareReport {
    /// Source A.
    pub a: String,
    /// Source B.
    pub b: String,
    /// Rows compared on side A / side B.
    pub rows_a: u64,
    /// Rows on side B.
    pub rows_b: u64,
    /// Number of differences.
    pub differences: u64,
    /// Per table: `(table, rows in A, rows in B, differences)`, tables with rows or differences only.
    pub tables: Vec<(String, u64, u64, u64)>,
    /// Columns one side lacks because its objects were read at an older served version (see
    /// [`crate::lost`]), with `values_elsewhere`: the other side's rows holding a value there.
    pub lost_columns: Vec<LostColumn>,
    /// Rows that repeat the previous row exactly (same key, same values), on side A / side B: not
    /// differences, as a store keeps such a row once (`check` rule `duplicate-row`).
    pub repeated_rows: (u64, u64),
}

impl CompareReport {
    /// True when A and B hold the same rows.
    pub fn equal(&self) -> bool {
        self.differences == 0
    }
}

impl std::fmt::Display for Difference {
    /// One line as `linstor-db diff` prints it: `- ` only in A, `+ ` only in B, `~ ` changed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Difference::DataVersion { a, b } => write!(f, "! data version {a} vs {b}"),
            Difference::OnlyInA { table, key } => write!(f, "- {table} {key}"),
            Difference::OnlyInB { table, key } => write!(f, "+ {table} {key}"),
            Difference::Changed { table, key, columns } => {
                let changes: Vec<String> = columns.iter().map(|(c, a, b)| format!("{c}: {a} -> {b}")).collect();
                write!(f, "~ {table} {key}: {}", changes.join("; "))
            }
        }
    }
}

/// Compares `a` and `b`, calling `on_difference` for each difference as it is found.
pub async fn compare(
    a: Box<dyn Source>,
    b: Box<dyn Source>,
    mut on_difference: impl FnMut(&Difference),
) -> Result<CompareReport> {
    let mut a = Side::new(a);
    let mut b = Side::new(b);
    let meta_a = a.source.open().await?;
    let meta_b = b.source.open().await?;
    let mut report = CompareReport { a: a.source.describe(), b: b.source.describe(), ..CompareReport::default() };
    if meta_a.data_version != meta_b.data_version {
        on_difference(&Difference::DataVersion {
            a: meta_a.data_version.to_string(),
            b: meta_b.data_version.to_string(),
        });
        report.differences = 1;
        return Ok(report);
    }
    // The lost columns of each side, counted on the other side's rows.
    let mut lost = LostTally::default();
    lost.add(&meta_a.lost_columns, &meta_a.data_version.schema().tables, Side::B_COUNTS);
    lost.add(&meta_b.lost_columns, &meta_b.data_version.schema().tables, Side::A_COUNTS);
    // Tables come in schema order on both sides; a file may leave some out (they count as empty).
    for table in &meta_a.data_version.schema().tables {
        let in_a = a.enter(table).await?;
        let in_b = b.enter(table).await?;
        if NEVER_EXPORTED.contains(&table.name) && !(in_a && in_b) {
            a.skip_table(in_a).await?;
            b.skip_table(in_b).await?;
            continue;
        }
        let (mut rows_a, mut rows_b, mut diffs) = (0u64, 0u64, 0u64);
        let mut next_a = a.next_row(in_a).await?;
        let mut next_b = b.next_row(in_b).await?;
        loop {
            let difference = match (&next_a, &next_b) {
                (None, None) => break,
                (Some((ka, ra)), Some((kb, rb))) => match ka.cmp(kb) {
                    Ordering::Equal => {
                        rows_a += 1;
                        rows_b += 1;
                        lost.tally(table, ra, Side::A_COUNTS);
                        lost.tally(table, rb, Side::B_COUNTS);
                        let changed = changed_columns(table, ra, rb);
                        let difference = (!changed.is_empty()).then(|| Difference::Changed {
                            table: table.name.into(),
                            key: ka.clone(),
                            columns: changed,
                        });
                        next_a = a.next_row(in_a).await?;
                        next_b = b.next_row(in_b).await?;
                        difference
                    }
                    Ordering::Less => {
                        rows_a += 1;
                        lost.tally(table, ra, Side::A_COUNTS);
                        let d = Difference::OnlyInA { table: table.name.into(), key: ka.clone() };
                        next_a = a.next_row(in_a).await?;
                        Some(d)
                    }
                    Ordering::Greater => {
                        rows_b += 1;
                        lost.tally(table, rb, Side::B_COUNTS);
                        let d = Difference::OnlyInB { table: table.name.into(), key: kb.clone() };
                        next_b = b.next_row(in_b).await?;
                        Some(d)
                    }
                },
                (Some((ka, ra)), None) => {
                    rows_a += 1;
                    lost.tally(table, ra, Side::A_COUNTS);
                    let d = Difference::OnlyInA { table: table.name.into(), key: ka.clone() };
                    next_a = a.next_row(in_a).await?;
                    Some(d)
                }
                (None, Some((kb, rb))) => {
                    rows_b += 1;
                    lost.tally(table, rb, Side::B_COUNTS);
                    let d = Difference::OnlyInB { table: table.name.into(), key: kb.clone() };
                    next_b = b.next_row(in_b).await?;
                    Some(d)
                }
            };
            if let Some(d) = difference {
                diffs += 1;
                on_difference(&d);
            }
        }
        report.rows_a += rows_a;
        report.rows_b += rows_b;
        report.differences += diffs;
        if rows_a + rows_b + diffs > 0 {
            report.tables.push((table.name.to_owned(), rows_a, rows_b, diffs));
        }
    }
    report.lost_columns = lost.finish();
    report.repeated_rows = (a.repeated, b.repeated);
    Ok(report)
}

/// Counts, for each lost column of one side, the other side's rows with a value in it.
#[derive(Default)]
struct LostTally {
    /// `(lost column, counted on A's rows?, column index, count)`.
    entries: Vec<(LostColumn, bool, usize, u64)>,
}

impl LostTally {
    fn add(&mut self, lost: &[LostColumn], tables: &[Table], count_on_a: bool) {
        for column in lost {
            let index = tables.iter().find(|t| t.name == column.table).and_then(|t| t.column_index(&column.column));
            if let Some(index) = index {
                self.entries.push((column.clone(), count_on_a, index, 0));
            }
        }
    }

    fn tally(&mut self, table: &Table, row: &Row, on_a: bool) {
        for (column, count_on_a, index, count) in &mut self.entries {
            if *count_on_a == on_a && column.table == table.name && row.cells.get(*index).is_some_and(Option::is_some) {
                *count += 1;
            }
        }
    }

    fn finish(self) -> Vec<LostColumn> {
        self.entries
            .into_iter()
            .map(|(mut column, _, _, count)| {
                column.values_elsewhere = Some(count);
                column
            })
            .collect()
    }
}

fn changed_columns(table: &Table, a: &Row, b: &Row) -> Vec<(String, String, String)> {
    let text = |row: &Row, i: usize| match &row.cells[i] {
        None => "null".to_owned(),
        Some(crate::row::Value::Text(s)) => serde_json::Value::String(s.clone()).to_string(),
        Some(crate::row::Value::Int(v)) => v.to_string(),
        Some(crate::row::Value::Bool(v)) => v.to_string(),
    };
    (0..table.columns.len())
        .filter(|i| a.cells[*i] != b.cells[*i])
        .map(|i| (table.columns[i].name.to_owned(), text(a, i), text(b, i)))
        .collect()
}

/// One side of the comparison: a sorted source with one event of look-ahead.
struct Side {
    source: SortedSource<Box<dyn Source>>,
    peeked: Option<Event>,
    batch: std::vec::IntoIter<Row>,
    table: Option<&'static Table>,
    /// The last row returned, to skip exact repeats.
    last: Option<Row>,
    repeated: u64,
}

impl Side {
    /// [`LostTally`]: count on A's rows.
    const A_COUNTS: bool = true;
    /// [`LostTally`]: count on B's rows.
    const B_COUNTS: bool = false;

    fn new(source: Box<dyn Source>) -> Side {
        Side {
            source: SortedSource::new(source),
            peeked: None,
            batch: Vec::new().into_iter(),
            table: None,
            last: None,
            repeated: 0,
        }
    }

    async fn peek(&mut self) -> Result<Option<&Event>> {
        if self.peeked.is_none() {
            self.peeked = self.source.next_event().await?;
        }
        Ok(self.peeked.as_ref())
    }

    /// Enters `table` if this side's next table is it; false when the side does not have it.
    async fn enter(&mut self, table: &'static Table) -> Result<bool> {
        match self.peek().await? {
            Some(Event::TableStart(t)) if t.name == table.name => {
                self.peeked = None;
                self.table = Some(table);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn skip_table(&mut self, inside: bool) -> Result<()> {
        while inside && self.next_row(true).await?.is_some() {}
        Ok(())
    }

    /// The next row of the current table with its key; `None` at the table's end.
    async fn next_row(&mut self, inside: bool) -> Result<Option<(String, Row)>> {
        if !inside {
            return Ok(None);
        }
        let table = self.table.ok_or_else(|| Error::Internal("row outside a table".into()))?;
        loop {
            if let Some(row) = self.batch.next() {
                if self.last.as_ref() == Some(&row) {
                    self.repeated += 1;
                    continue;
                }
                self.last = Some(row.clone());
                return Ok(Some((row.formatted_key(table), row)));
            }
            match self.source.next_event().await? {
                Some(Event::Rows(rows)) => self.batch = rows.into_iter(),
                Some(Event::TableEnd) | None => {
                    self.table = None;
                    self.last = None;
                    return Ok(None);
                }
                Some(Event::TableStart(t)) => return Err(Error::Internal(format!("table {} inside a table", t.name))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{GeneratedSource, Plan};
    use crate::schema::DataVersion;

    fn generated(seed: u64) -> Box<dyn Source> {
        Box::new(GeneratedSource::new(Plan::for_rows(2000, seed, DataVersion::V1_31_1)))
    }

    #[tokio::test]
    async fn the_same_database_is_equal() {
        let report = compare(generated(1), generated(1), |d| panic!("unexpected {d:?}")).await.unwrap();
        assert!(report.equal());
        assert!(report.rows_a > 1500 && report.rows_a == report.rows_b);
    }

    #[tokio::test]
    async fn different_databases_report_rows_by_key() {
        let mut seen = Vec::new();
        let report = compare(generated(1), generated(2), |d| seen.push(d.clone())).await.unwrap();
        assert!(!report.equal());
        assert_eq!(report.differences as usize, seen.len());
        assert!(seen.iter().any(|d| matches!(d, Difference::OnlyInA { table, .. } if table == "RESOURCE_DEFINITIONS")));
        assert!(
            seen.iter().any(|d| matches!(d, Difference::Changed { table, .. } if table == "NODES")),
            "same node names, other UUIDs"
        );
    }

    #[tokio::test]
    async fn different_data_versions_are_one_difference() {
        let other = Box::new(GeneratedSource::new(Plan::for_rows(100, 1, DataVersion::V1_27_1)));
        let report = compare(generated(1), other, |_| {}).await.unwrap();
        assert_eq!(report.differences, 1);
    }
}

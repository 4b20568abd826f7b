//! Logical comparison of two stores: table by table, row by primary key (never by CR hash names or
//! etcd key layout). Both sides are read sorted by key and merge-joined, so memory stays bounded.

use std::cmp::Ordering;

use crate::backend::sorted::SortedSource;
use crate::backend::{Event, Source};
use crate::error::{Error, Result};
use crate::lost::LostColumn;
use crate::row::{Row, Value};
use crate::schema::upgrade::{self, PropCopy};
use crate::schema::{DataVersion, Table, NEVER_EXPORTED};

/// One difference between side A and side B.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Difference {
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

/// What a comparison found that is not a difference: what LINSTOR's migration between the two data
/// versions does on purpose, and what a user upgrading would want told.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Note {
    /// `expected` (the migration does it) or `noticed`.
    pub kind: &'static str,
    /// Table.
    pub table: String,
    /// Formatted primary key (of an example row).
    pub key: String,
    /// What it is.
    pub detail: String,
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}: {}", self.kind, self.table, self.key, self.detail)
    }
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
    /// The data versions of A and B when they differ: B's rows (or A's) are compared as the newer
    /// version holds them ([`crate::schema::upgrade`]).
    pub data_versions: Option<(String, String)>,
    /// What is not a difference but worth telling, by table and key.
    pub notes: Vec<Note>,
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
    let (version_a, version_b) = (meta_a.data_version, meta_b.data_version);
    let newer = version_a.max(version_b);
    if version_a != version_b {
        report.data_versions = Some((version_a.to_string(), version_b.to_string()));
    }
    // The lost columns of each side, counted on the other side's rows (both in the newer layout).
    let mut lost = LostTally::default();
    lost.add(&meta_a.lost_columns, &newer.schema().tables, Side::B_COUNTS);
    lost.add(&meta_b.lost_columns, &newer.schema().tables, Side::A_COUNTS);
    // Tables come in schema order on both sides; a file may leave some out (they count as empty).
    for (table_a, table_b) in upgrade::paired_tables(version_a.schema(), version_b.schema()) {
        let Some(table) = (if version_a >= version_b { table_a.or(table_b) } else { table_b.or(table_a) }) else {
            continue;
        };
        let in_a = match table_a {
            Some(own) => a.enter(own, table).await?,
            None => false,
        };
        let in_b = match table_b {
            Some(own) => b.enter(own, table).await?,
            None => false,
        };
        if NEVER_EXPORTED.contains(&table.name) && !(in_a && in_b) {
            a.skip_table(in_a).await?;
            b.skip_table(in_b).await?;
            continue;
        }
        let repeated_before = (a.repeated, b.repeated);
        let mut copies = PropCopies::new(table, version_a, version_b);
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
                        copies.seen_on_both(ra);
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
                        let d = copies.only_in(Side::A_COUNTS, ka, ra);
                        next_a = a.next_row(in_a).await?;
                        d
                    }
                    Ordering::Greater => {
                        rows_b += 1;
                        lost.tally(table, rb, Side::B_COUNTS);
                        let d = copies.only_in(Side::B_COUNTS, kb, rb);
                        next_b = b.next_row(in_b).await?;
                        d
                    }
                },
                (Some((ka, ra)), None) => {
                    rows_a += 1;
                    lost.tally(table, ra, Side::A_COUNTS);
                    let d = copies.only_in(Side::A_COUNTS, ka, ra);
                    next_a = a.next_row(in_a).await?;
                    d
                }
                (None, Some((kb, rb))) => {
                    rows_b += 1;
                    lost.tally(table, rb, Side::B_COUNTS);
                    let d = copies.only_in(Side::B_COUNTS, kb, rb);
                    next_b = b.next_row(in_b).await?;
                    d
                }
            };
            if let Some(d) = difference {
                diffs += 1;
                on_difference(&d);
            }
        }
        for d in copies.finish(&mut report.notes) {
            diffs += 1;
            on_difference(&d);
        }
        for (side, name, before, now) in
            [(&a, "A", repeated_before.0, a.repeated), (&b, "B", repeated_before.1, b.repeated)]
        {
            if now > before {
                report.notes.push(Note {
                    kind: "noticed",
                    table: table.name.to_owned(),
                    key: side.last_repeated_key.clone().unwrap_or_default(),
                    detail: format!(
                        "{} rows on side {name} repeat another row exactly (same key and values; LINSTOR loads one)",
                        now - before
                    ),
                });
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

/// One copy of [`PropCopies`]: the copy, the older side's value of the old key, the copy's row (key
/// and value) only on the newer side, and whether the old key is on both sides.
type CopySeen = (&'static PropCopy, Option<String>, Option<(String, String)>, bool);

/// The props a migration between the two sides' data versions copies ([`upgrade::PROP_COPIES`]):
/// the copy, only on the newer side, is expected when it holds the old key's value; the old key
/// left in place is told.
struct PropCopies {
    copies: Vec<CopySeen>,
    /// Which side is the newer one ([`Side::A_COUNTS`] / [`Side::B_COUNTS`]).
    newer_side: bool,
    table: &'static Table,
    columns: Option<(usize, usize, usize)>,
}

impl PropCopies {
    fn new(table: &'static Table, version_a: DataVersion, version_b: DataVersion) -> PropCopies {
        let columns = (table.name == "PROPS_CONTAINERS")
            .then(|| {
                Some((
                    table.column_index("PROPS_INSTANCE")?,
                    table.column_index("PROP_KEY")?,
                    table.column_index("PROP_VALUE")?,
                ))
            })
            .flatten();
        let (older, newer) = (version_a.min(version_b), version_a.max(version_b));
        let copies = match columns {
            Some(_) => upgrade::prop_copies(older, newer).map(|c| (c, None, None, false)).collect(),
            None => Vec::new(),
        };
        let newer_side = if version_a > version_b { Side::A_COUNTS } else { Side::B_COUNTS };
        PropCopies { copies, newer_side, table, columns }
    }

    fn text(row: &Row, i: usize) -> Option<&str> {
        match row.cells.get(i) {
            Some(Some(Value::Text(s))) => Some(s),
            _ => None,
        }
    }

    fn matching(&mut self, row: &Row, key_of: impl Fn(&PropCopy) -> &'static str) -> Option<usize> {
        let (instance, key, _) = self.columns?;
        self.copies.iter().position(|(c, ..)| {
            Self::text(row, instance) == Some(c.instance) && Self::text(row, key) == Some(key_of(c))
        })
    }

    fn seen_on_both(&mut self, row: &Row) {
        if let Some(i) = self.matching(row, |c| c.from) {
            self.copies[i].3 = true;
            self.copies[i].1 = self.columns.and_then(|(_, _, v)| Self::text(row, v).map(str::to_owned));
        }
    }

    /// A row only on `side`; `None` while it may be an expected copy (decided at the table's end).
    fn only_in(&mut self, side: bool, key: &str, row: &Row) -> Option<Difference> {
        let value = self.columns.and_then(|(_, _, v)| Self::text(row, v).map(str::to_owned));
        if side == self.newer_side {
            if let Some(i) = self.matching(row, |c| c.to) {
                self.copies[i].2 = Some((key.to_owned(), value.unwrap_or_default()));
                return None;
            }
        } else if let Some(i) = self.matching(row, |c| c.from) {
            self.copies[i].1 = value;
        }
        let table = self.table.name.to_owned();
        Some(if side == Side::A_COUNTS {
            Difference::OnlyInA { table, key: key.to_owned() }
        } else {
            Difference::OnlyInB { table, key: key.to_owned() }
        })
    }

    /// Notes for the copies found as expected, and the differences of those that were not.
    fn finish(self, notes: &mut Vec<Note>) -> Vec<Difference> {
        let mut differences = Vec::new();
        let table = self.table.name.to_owned();
        for (copy, old_value, new_row, old_kept) in self.copies {
            let Some((key, value)) = new_row else { continue };
            if old_value.as_deref() == Some(value.as_str()) {
                notes.push(Note {
                    kind: "expected",
                    table: table.clone(),
                    key: key.clone(),
                    detail: format!("{} copied to {} by the {} migration", copy.from, copy.to, copy.since),
                });
                if old_kept && !copy.removes_old {
                    notes.push(Note {
                        kind: "noticed",
                        table: table.clone(),
                        key,
                        detail: format!(
                            "{} of {} is still there beside its copy {}: LINSTOR reads the new key, the old one is left over",
                            copy.from, copy.instance, copy.to
                        ),
                    });
                }
            } else if self.newer_side == Side::A_COUNTS {
                differences.push(Difference::OnlyInA { table: table.clone(), key });
            } else {
                differences.push(Difference::OnlyInB { table: table.clone(), key });
            }
        }
        differences
    }
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
    /// The key of the last repeated row, for the report.
    last_repeated_key: Option<String>,
    /// The table rows are compared in (the newer data version's), when it is not this side's own.
    layout: Option<&'static Table>,
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
            last_repeated_key: None,
            layout: None,
        }
    }

    async fn peek(&mut self) -> Result<Option<&Event>> {
        if self.peeked.is_none() {
            self.peeked = self.source.next_event().await?;
        }
        Ok(self.peeked.as_ref())
    }

    /// Enters `table` (this side's own) if it is the side's next table, its rows to be compared as
    /// `layout` holds them; false when the side does not have it.
    async fn enter(&mut self, table: &'static Table, layout: &'static Table) -> Result<bool> {
        match self.peek().await? {
            Some(Event::TableStart(t)) if t.name == table.name => {
                self.peeked = None;
                self.table = Some(table);
                self.layout = (!std::ptr::eq(table, layout)).then_some(layout);
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
                    self.last_repeated_key = Some(row.formatted_key(table));
                    continue;
                }
                self.last = Some(row.clone());
                return Ok(Some(match self.layout {
                    Some(layout) => {
                        let upgraded = upgrade::upgraded_row(table, layout, &row);
                        (upgraded.formatted_key(layout), upgraded)
                    }
                    None => (row.formatted_key(table), row),
                }));
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
    async fn a_generated_database_at_every_version_equals_itself_at_every_newer_version() {
        let at = |v: DataVersion| Box::new(GeneratedSource::new(Plan::for_rows(600, 7, v))) as Box<dyn Source>;
        for (older, newer) in
            [(DataVersion::V1_19_1, DataVersion::V1_25_1), (DataVersion::V1_31_1, DataVersion::V1_33_1)]
        {
            let mut found = Vec::new();
            let report = compare(at(older), at(newer), |d| found.push(d.to_string())).await.unwrap();
            assert!(report.equal(), "{older} -> {newer}: {found:?}");
            assert!(report.rows_a > 500 && report.rows_b >= report.rows_a, "{older} -> {newer}: rows compared");
            assert_eq!(report.data_versions, Some((older.to_string(), newer.to_string())));
            // The other way round too: the older side is read as the newer version holds it.
            assert!(compare(at(newer), at(older), |_| {}).await.unwrap().equal(), "{newer} -> {older}");
        }
        // What LINSTOR's migrations 1.26 – 1.32 do is not modelled (new controller props, the DRBD
        // TCP ports moved to LAYER_DRBD_RESOURCES.TCP_PORT_LIST): told as differences, not hidden.
        let report = compare(at(DataVersion::V1_27_1), at(DataVersion::V1_31_1), |_| {}).await.unwrap();
        assert!(report.tables.iter().any(|t| t.0 == "LAYER_DRBD_RESOURCES" && t.3 > 0));
    }

    /// A generated database at `version` with `edit` applied to each batch of rows.
    struct Edited {
        inner: GeneratedSource,
        table: Option<&'static Table>,
        edit: fn(&Table, &mut Vec<Row>),
    }

    #[async_trait::async_trait]
    impl Source for Edited {
        fn describe(&self) -> String {
            "edited".into()
        }
        async fn open(&mut self) -> Result<crate::export::ExportMeta> {
            self.inner.open().await
        }
        async fn next_event(&mut self) -> Result<Option<Event>> {
            let event = self.inner.next_event().await?;
            match event {
                Some(Event::TableStart(t)) => self.table = Some(t),
                Some(Event::Rows(mut rows)) => {
                    if let Some(t) = self.table {
                        (self.edit)(t, &mut rows);
                    }
                    return Ok(Some(Event::Rows(rows)));
                }
                _ => {}
            }
            Ok(event)
        }
    }

    fn edited(version: DataVersion, edit: fn(&Table, &mut Vec<Row>)) -> Box<dyn Source> {
        Box::new(Edited { inner: GeneratedSource::new(Plan::for_rows(600, 7, version)), table: None, edit })
    }

    fn ctrl_prop(table: &Table, key: &str, value: &str) -> Row {
        let mut row = Row::empty(table);
        for (column, text) in [("PROPS_INSTANCE", "/CTRL"), ("PROP_KEY", key), ("PROP_VALUE", value)] {
            row.cells[table.column_index(column).unwrap()] = Some(Value::Text(text.into()));
        }
        row
    }

    #[tokio::test]
    async fn an_upgrade_reports_its_planted_changes_by_table_and_key_and_tells_the_expected_ones() {
        let older = edited(DataVersion::V1_31_1, |t, rows| {
            if t.name == "PROPS_CONTAINERS" && rows.iter().any(|r| r.formatted_key(t).starts_with("/CTRL:")) {
                rows.push(ctrl_prop(t, "ExtCmdWaitTimeout", "120000"));
                rows.push(ctrl_prop(t, "ExtCmdOther", "1"));
            }
        });
        let newer = edited(DataVersion::V1_33_1, |t, rows| match t.name {
            "PROPS_CONTAINERS" if rows.iter().any(|r| r.formatted_key(t).starts_with("/CTRL:")) => {
                // The 1.34 migration's copy, the old key left in place; another copy with a wrong value.
                rows.push(ctrl_prop(t, "ExtCmdWaitTimeout", "120000"));
                rows.push(ctrl_prop(t, "ExtCmd/WaitTimeout", "120000"));
                rows.push(ctrl_prop(t, "ExtCmdOther", "1"));
            }
            // A repeated row (as the 1.34 migration repeated SPACE_HISTORY rows), a changed one, a lost one.
            "NODES" => {
                let first = rows[0].clone();
                rows.push(first);
                let changed = &mut rows[1];
                changed.cells[t.column_index("NODE_DSP_NAME").unwrap()] = Some(Value::Text("renamed".into()));
            }
            "RESOURCE_DEFINITIONS" => {
                rows.remove(0);
            }
            _ => {}
        });
        let mut found = Vec::new();
        let report = compare(older, newer, |d| found.push(d.clone())).await.unwrap();
        assert_eq!(report.differences, 2, "{found:?}");
        assert!(found.iter().any(|d| matches!(d, Difference::Changed { table, columns, .. } if table == "NODES" && columns[0].0 == "NODE_DSP_NAME")), "{found:?}");
        assert!(
            found.iter().any(|d| matches!(d, Difference::OnlyInA { table, .. } if table == "RESOURCE_DEFINITIONS")),
            "{found:?}"
        );
        let notes: Vec<String> = report.notes.iter().map(ToString::to_string).collect();
        assert!(
            notes
                .iter()
                .any(|n| n.starts_with("expected PROPS_CONTAINERS /CTRL:ExtCmd/WaitTimeout: ExtCmdWaitTimeout copied")),
            "{notes:?}"
        );
        assert!(
            notes.iter().any(|n| n.starts_with(
                "noticed PROPS_CONTAINERS /CTRL:ExtCmd/WaitTimeout: ExtCmdWaitTimeout of /CTRL is still there"
            )),
            "{notes:?}"
        );
        assert!(
            notes.iter().any(|n| n.starts_with("noticed NODES ") && n.contains("1 rows on side B repeat")),
            "{notes:?}"
        );

        // A copy whose value is not the old key's is a difference.
        let older = edited(DataVersion::V1_31_1, |t, rows| {
            if t.name == "PROPS_CONTAINERS" && rows.iter().any(|r| r.formatted_key(t).starts_with("/CTRL:")) {
                rows.push(ctrl_prop(t, "ExtCmdWaitTimeout", "120000"));
            }
        });
        let newer = edited(DataVersion::V1_33_1, |t, rows| {
            if t.name == "PROPS_CONTAINERS" && rows.iter().any(|r| r.formatted_key(t).starts_with("/CTRL:")) {
                rows.push(ctrl_prop(t, "ExtCmd/WaitTimeout", "5"));
            }
        });
        let mut found = Vec::new();
        let report = compare(older, newer, |d| found.push(d.to_string())).await.unwrap();
        assert_eq!(
            found,
            vec!["- PROPS_CONTAINERS /CTRL:ExtCmdWaitTimeout", "+ PROPS_CONTAINERS /CTRL:ExtCmd/WaitTimeout"]
        );
        assert!(report.notes.is_empty(), "{:?}", report.notes);
    }
}

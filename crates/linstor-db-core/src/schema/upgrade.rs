//! What LINSTOR's migrations do to rows from one data version to a newer one, as data: so that
//! `verify` and `diff` compare a database with itself after an upgrade row by row, and report only
//! what the upgrade changed that it should not have.
//!
//! Columns map by name: a column the newer version added reads as LINSTOR's default for rows that
//! predate it ([`Row::fill_defaults`]; NULL where the column is nullable), a dropped column is left
//! out. Props that a migration copies to a new key are listed in [`PROP_COPIES`].

use super::{DataVersion, Schema, Table};
use crate::row::Row;

/// A property that a migration copies to a new key of the same props instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PropCopy {
    /// The first data version holding the copy.
    pub since: DataVersion,
    /// `PROPS_CONTAINERS.PROPS_INSTANCE`.
    pub instance: &'static str,
    /// The key before the migration.
    pub from: &'static str,
    /// The key the value is copied to.
    pub to: &'static str,
    /// Whether the migration removes the old key; LINSTOR 1.34.0-rc.1 leaves it in place.
    pub removes_old: bool,
}

/// Seen when LINSTOR 1.34.0-rc.1 migrated a 1.33.3 database (v1-31-1 → v1-33-1): the controller's
/// `ExtCmdWaitTimeout` was copied to `ExtCmd/WaitTimeout` and left in place.
pub const PROP_COPIES: &[PropCopy] = &[PropCopy {
    since: DataVersion::V1_33_1,
    instance: "/CTRL",
    from: "ExtCmdWaitTimeout",
    to: "ExtCmd/WaitTimeout",
    removes_old: false,
}];

/// The copies a migration from `older` to `newer` makes.
pub fn prop_copies(older: DataVersion, newer: DataVersion) -> impl Iterator<Item = &'static PropCopy> {
    PROP_COPIES.iter().filter(move |c| older < c.since && c.since <= newer)
}

/// `row` of `from` (an older data version's table) as the newer version's `to` holds it.
pub fn upgraded_row(from: &Table, to: &Table, row: &Row) -> Row {
    let mut upgraded = Row::empty(to);
    for (i, column) in to.columns.iter().enumerate() {
        if let Some(j) = from.column_index(column.name) {
            upgraded.cells[i] = row.cells[j].clone();
        }
    }
    upgraded.fill_defaults(to);
    upgraded
}

/// The tables of two schemas paired by name, in the order both sides list them (tables keep their
/// relative order across data versions); a table only one version has is paired with `None`.
pub fn paired_tables(a: &'static Schema, b: &'static Schema) -> Vec<(Option<&'static Table>, Option<&'static Table>)> {
    let in_schema = |schema: &Schema, name: &str| schema.tables.iter().any(|t| t.name == name);
    let (mut left, mut right) = (a.tables.iter().peekable(), b.tables.iter().peekable());
    let mut pairs = Vec::new();
    loop {
        match (left.peek(), right.peek()) {
            (None, None) => return pairs,
            (Some(l), _) if !in_schema(b, l.name) => pairs.push((left.next(), None)),
            (_, Some(r)) if !in_schema(a, r.name) => pairs.push((None, right.next())),
            (Some(l), Some(r)) if l.name == r.name => pairs.push((left.next(), right.next())),
            // Both tables are in both schemas but in another order: pair the left one, whose
            // partner the right side then lists out of turn (read as absent there).
            _ => pairs.push((left.next(), None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::Value;

    #[test]
    fn every_version_pairs_its_tables_with_every_newer_one_in_order() {
        for (i, older) in DataVersion::ALL.iter().enumerate() {
            for newer in &DataVersion::ALL[i..] {
                let pairs = paired_tables(older.schema(), newer.schema());
                let both = pairs.iter().filter(|(a, b)| a.is_some() && b.is_some()).count();
                let common = older.schema().tables.iter().filter(|t| newer.schema().table(t.name).is_some()).count();
                assert_eq!(both, common, "{older} → {newer}: every common table is paired");
                assert!(pairs.iter().all(|(a, b)| match (a, b) {
                    (Some(a), Some(b)) => a.name == b.name,
                    _ => true,
                }));
            }
        }
    }

    #[test]
    fn an_upgraded_files_row_gains_the_default_alt_suffixes_and_keeps_every_value() {
        let (old, new) = (DataVersion::V1_31_1.schema(), DataVersion::V1_33_1.schema());
        let (from, to) = (old.table("FILES").unwrap(), new.table("FILES").unwrap());
        let mut row = Row::empty(from);
        for (i, cell) in row.cells.iter_mut().enumerate() {
            *cell = Some(Value::Text(format!("value {i}")));
        }
        let upgraded = upgraded_row(from, to, &row);
        for (i, column) in to.columns.iter().enumerate() {
            match from.column_index(column.name) {
                Some(j) => assert_eq!(upgraded.cells[i], row.cells[j], "{}", column.name),
                None => assert_eq!(upgraded.cells[i], Some(Value::Text("W10=".into())), "{}", column.name),
            }
        }
    }

    #[test]
    fn the_1_34_migration_copies_ext_cmd_wait_timeout() {
        let copies: Vec<_> = prop_copies(DataVersion::V1_27_1, DataVersion::V1_33_1).collect();
        assert_eq!(copies.len(), 1);
        assert_eq!(prop_copies(DataVersion::V1_19_1, DataVersion::V1_31_1).count(), 0);
        assert_eq!(prop_copies(DataVersion::V1_33_1, DataVersion::V1_33_1).count(), 0);
    }
}

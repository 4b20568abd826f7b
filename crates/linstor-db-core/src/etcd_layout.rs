//! LINSTOR's etcd key/value layout (`linstor-db-format.md` §2): one key per column of a row,
//! `<prefix><TABLE>/<pk1>:<pk2>:…/<COLUMN>`. Pure encoding and decoding, no I/O.

use std::collections::{BTreeMap, HashMap};

use crate::error::{Error, Result};
use crate::row::{Row, Value};
use crate::schema::{SqlType, Table, ValueKind};

/// LINSTOR's default key prefix.
pub const DEFAULT_PREFIX: &str = "/LINSTOR/";
/// LINSTOR's default (and etcd's default maximum) number of operations per transaction.
pub const DEFAULT_OPS_PER_TRANSACTION: usize = 128;
/// Key (under the prefix) of the next etcd migration number.
pub const DB_VERSION_KEY: &str = "DBHISTORY/version";
/// Directory (under the raw prefix) of LINSTOR's rollback journal.
pub const ROLLBACK_DIR: &str = "ROLLBACK/";
/// The value LINSTOR writes for NULL.
pub const NULL_VALUE: &str = ":null";
/// Key (under the prefix) marking an import by this tool that has not finished. LINSTOR never reads it.
pub const IMPORT_MARKER_KEY: &str = "LINSTOR_DB/import-in-progress";
/// Key (under the prefix) of the job writing the prefix now ([`crate::backend::lock`]), attached to
/// a lease that lapses when the job stops renewing it. LINSTOR never reads it.
pub const WRITER_LOCK_KEY: &str = "LINSTOR_DB/writer";
/// `DBHISTORY/version` while an import runs: LINSTOR refuses versions 1…34 ("doesn't support upgrading
/// from old etcd database"), so a controller started by mistake stops instead of loading partial data.
pub const BLOCKING_DB_VERSION: &str = "1";

/// Normalises a prefix the way LINSTOR does: it must end with `/`.
pub fn normalize_prefix(prefix: &str) -> String {
    if prefix.ends_with('/') {
        prefix.to_owned()
    } else {
        format!("{prefix}/")
    }
}

/// `<prefix><TABLE>/`: the range holding every key of a table (the trailing `/` keeps `NODES/` apart
/// from `NODE_CONNECTIONS/`).
pub fn table_prefix(prefix: &str, table: &Table) -> String {
    format!("{prefix}{}/", table.name)
}

/// The end of the range `[start, end)` that holds every key starting with `start` (etcd's prefix end).
pub fn prefix_range_end(start: &str) -> Vec<u8> {
    let mut end = start.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// Encodes a cell as LINSTOR's import writes it (§2.2).
pub fn encode_value(cell: &Option<Value>) -> String {
    match cell {
        None => NULL_VALUE.to_owned(),
        Some(Value::Text(s)) => s.clone(),
        Some(Value::Int(v)) => v.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
    }
}

/// The keys and values LINSTOR's import writes for one row: one key per non-PK column, one per column
/// for tables whose every column is PK, none of the PK part for tables without PK.
pub fn row_entries(prefix: &str, table: &Table, row: &Row) -> Vec<(String, String)> {
    let all_pk = table.all_columns_primary();
    let base = if table.has_primary_key() {
        format!("{prefix}{}/{}/", table.name, row.formatted_key(table))
    } else {
        format!("{prefix}{}/", table.name)
    };
    table
        .columns
        .iter()
        .zip(&row.cells)
        .filter(|(column, _)| all_pk || !column.primary_key)
        .map(|(column, cell)| (format!("{base}{}", column.name), encode_value(cell)))
        .collect()
}

/// Decodes a stored value of `column_type`; `:null` is NULL. Booleans follow Java's
/// `Boolean.parseBoolean` (only case-insensitive `true` is true).
pub fn decode_value(column_type: SqlType, raw: &str) -> std::result::Result<Option<Value>, String> {
    if raw == NULL_VALUE {
        return Ok(None);
    }
    Ok(Some(match column_type.kind() {
        ValueKind::Text => Value::Text(raw.to_owned()),
        ValueKind::Bool => Value::Bool(raw.eq_ignore_ascii_case("true")),
        ValueKind::Int => Value::Int(raw.trim().parse().map_err(|_| format!("'{raw}' is not an integer"))?),
    }))
}

/// Splits a composed primary key into PK values (§2.1). Every `:` splits and empty parts are kept;
/// when a value itself contained `:` there are too many parts, and the surplus is given back to the
/// last text column of the key, where LINSTOR's own free-text keys (property keys, paths) sit.
pub fn split_primary_key(table: &Table, composed: &str) -> std::result::Result<Vec<(usize, Value)>, String> {
    let pk: Vec<usize> = table.pk_indexes().collect();
    let mut parts: Vec<String> =
        if pk.len() == 1 { vec![composed.to_owned()] } else { composed.split(':').map(str::to_owned).collect() };
    if parts.len() < pk.len() {
        return Err(format!("key part '{composed}' has {} of {} primary-key values", parts.len(), pk.len()));
    }
    if parts.len() > pk.len() {
        let last_text = pk
            .iter()
            .rposition(|i| table.columns[*i].sql_type.kind() == ValueKind::Text)
            .ok_or_else(|| format!("key part '{composed}' has more ':' than primary-key columns"))?;
        let surplus = parts.len() - pk.len();
        let merged = parts[last_text..=last_text + surplus].join(":");
        parts.splice(last_text..=last_text + surplus, [merged]);
    }
    pk.iter()
        .zip(parts)
        .map(|(i, part)| {
            let column = &table.columns[*i];
            decode_value(column.sql_type, &part)
                .map(|v| (*i, v.unwrap_or(Value::Text(part.clone()))))
                .map_err(|e| format!("primary-key column {}: {e}", column.name))
        })
        .collect()
}

/// Turns the sorted keys of one table into rows, streaming: a row is emitted as soon as no later key
/// can belong to it, so only rows whose keys interleave (PK values containing `/`) wait in memory.
pub struct RowAssembler<'t> {
    table: &'t Table,
    table_prefix: String,
    /// The greatest column name: every key of primary key `P` is ≤ `<table_prefix>P/<last_column>`.
    last_column: &'static str,
    pending: HashMap<String, PendingRow>,
    /// Completion bound → composed key, so finished rows are found in order.
    bounds: BTreeMap<String, String>,
    /// Keys skipped because their column is not in the schema (stale columns, PK-column copies).
    pub skipped_keys: u64,
}

struct PendingRow {
    first_key: String,
    values: Vec<Option<String>>,
}

impl<'t> RowAssembler<'t> {
    /// An assembler for the keys under `<prefix><TABLE>/`.
    pub fn new(prefix: &str, table: &'t Table) -> RowAssembler<'t> {
        let last_column = table.columns.iter().map(|c| c.name).max().unwrap_or("");
        RowAssembler {
            table,
            table_prefix: table_prefix(prefix, table),
            last_column,
            pending: HashMap::new(),
            bounds: BTreeMap::new(),
            skipped_keys: 0,
        }
    }

    /// Feeds the next key (keys must come in etcd's byte order) and returns the rows it completed.
    pub fn push(&mut self, key: &str, value: &str, done: &mut Vec<Row>) -> Result<()> {
        self.flush_before(key, done)?;
        let Some(rest) = key.strip_prefix(&self.table_prefix) else {
            self.skipped_keys += 1;
            return Ok(());
        };
        let (composed, column) = if self.table.has_primary_key() {
            match rest.rfind('/') {
                Some(slash) => (&rest[..slash], &rest[slash + 1..]),
                None => {
                    self.skipped_keys += 1;
                    return Ok(());
                }
            }
        } else {
            ("", rest)
        };
        let Some(index) = self.table.column_index(column) else {
            self.skipped_keys += 1;
            return Ok(());
        };
        let entry = self.pending.entry(composed.to_owned()).or_insert_with(|| {
            let bound = format!("{}{composed}/{}", self.table_prefix, self.last_column);
            self.bounds.insert(bound, composed.to_owned());
            PendingRow { first_key: key.to_owned(), values: vec![None; self.table.columns.len()] }
        });
        entry.values[index] = Some(value.to_owned());
        Ok(())
    }

    /// Emits every row still pending (call after the last key).
    pub fn finish(&mut self, done: &mut Vec<Row>) -> Result<()> {
        let bounds = std::mem::take(&mut self.bounds);
        for composed in bounds.into_values() {
            self.emit(&composed, done)?;
        }
        Ok(())
    }

    fn flush_before(&mut self, key: &str, done: &mut Vec<Row>) -> Result<()> {
        while let Some(entry) = self.bounds.first_entry() {
            if entry.key().as_str() >= key {
                break;
            }
            let composed = entry.remove();
            self.emit(&composed, done)?;
        }
        Ok(())
    }

    fn emit(&mut self, composed: &str, done: &mut Vec<Row>) -> Result<()> {
        let Some(pending) = self.pending.remove(composed) else { return Ok(()) };
        let table = self.table;
        let invalid =
            |detail: String| Error::InvalidRow { table: table.name.to_owned(), key: pending.first_key.clone(), detail };
        let mut row = Row::empty(table);
        if table.has_primary_key() {
            for (i, value) in split_primary_key(table, composed).map_err(invalid)? {
                row.cells[i] = Some(value);
            }
        }
        for (i, column) in table.columns.iter().enumerate() {
            // PK values come from the key; PK-column keys (init migration, all-PK tables) are copies.
            if column.primary_key {
                continue;
            }
            match &pending.values[i] {
                Some(raw) => {
                    row.cells[i] = decode_value(column.sql_type, raw).map_err(|e| invalid(format!("column {}: {e}", column.name)))?
                }
                None if !column.nullable => {
                    return Err(invalid(format!(
                        "column {} has no key (LINSTOR: \"Column was unexpectedly null\"); the database is not fully migrated or is damaged",
                        column.name
                    )))
                }
                None => {}
            }
        }
        row.fill_defaults(table);
        row.validate(table)?;
        done.push(row);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::DataVersion;

    fn schema() -> &'static crate::schema::Schema {
        DataVersion::V1_31_1.schema()
    }

    fn text(s: &str) -> Option<Value> {
        Some(Value::Text(s.into()))
    }

    fn entries(table: &str, row: Row) -> Vec<(String, String)> {
        row_entries(DEFAULT_PREFIX, schema().table(table).unwrap(), &row)
    }

    /// The examples of `linstor-db-format.md` §2.8, written exactly.
    #[test]
    fn keys_of_the_format_doc_examples() {
        let node = crate::row::examples::node_alpha();
        assert_eq!(
            entries("NODES", node),
            [
                ("/LINSTOR/NODES/ALPHA/UUID", "2b1d6c2e-5a7e-4b53-9a0f-5d6f3f0e9c11"),
                ("/LINSTOR/NODES/ALPHA/NODE_DSP_NAME", "alpha"),
                ("/LINSTOR/NODES/ALPHA/NODE_FLAGS", "0"),
                ("/LINSTOR/NODES/ALPHA/NODE_TYPE", "2"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        let prop = Row { cells: vec![text("/RSC_DFNS/RSC1"), text("DrbdOptions/Resource/quorum"), text("majority")] };
        assert_eq!(
            entries("PROPS_CONTAINERS", prop),
            [(
                "/LINSTOR/PROPS_CONTAINERS//RSC_DFNS/RSC1:DrbdOptions/Resource/quorum/PROP_VALUE".to_owned(),
                "majority".to_owned()
            )]
        );
        let rsc = Row {
            cells: vec![
                text("0c3e"),
                text("ALPHA"),
                text("RSC1"),
                text(""),
                Some(Value::Int(0)),
                Some(Value::Int(1717171717000)),
            ],
        };
        let keys: Vec<String> = entries("RESOURCES", rsc).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "/LINSTOR/RESOURCES/ALPHA:RSC1:/UUID",
                "/LINSTOR/RESOURCES/ALPHA:RSC1:/RESOURCE_FLAGS",
                "/LINSTOR/RESOURCES/ALPHA:RSC1:/CREATE_TIMESTAMP"
            ]
        );
        let rd_table = schema().table("RESOURCE_DEFINITIONS").unwrap();
        let mut rd = Row::empty(rd_table);
        for (col, v) in [
            ("RESOURCE_NAME", "RSC1"),
            ("SNAPSHOT_NAME", ""),
            ("RESOURCE_DSP_NAME", "rsc1"),
            ("SNAPSHOT_DSP_NAME", ""),
            ("LAYER_STACK", r#"["DRBD","STORAGE"]"#),
            ("RESOURCE_GROUP_NAME", "DFLTRSCGRP"),
            ("UUID", "9d1c"),
        ] {
            rd.cells[rd_table.column_index(col).unwrap()] = text(v);
        }
        rd.cells[rd_table.column_index("RESOURCE_FLAGS").unwrap()] = Some(Value::Int(0));
        let got: HashMap<String, String> = entries("RESOURCE_DEFINITIONS", rd).into_iter().collect();
        assert_eq!(got["/LINSTOR/RESOURCE_DEFINITIONS/RSC1:/SNAPSHOT_DSP_NAME"], "");
        assert_eq!(got["/LINSTOR/RESOURCE_DEFINITIONS/RSC1:/LAYER_STACK"], r#"["DRBD","STORAGE"]"#);
        assert_eq!(got["/LINSTOR/RESOURCE_DEFINITIONS/RSC1:/RESOURCE_EXTERNAL_NAME"], ":null");
        assert_eq!(got["/LINSTOR/RESOURCE_DEFINITIONS/RSC1:/PARENT_UUID"], ":null");
        assert!(
            !got.contains_key("/LINSTOR/RESOURCE_DEFINITIONS/RSC1:/RESOURCE_NAME"),
            "PK columns live only in the key"
        );
        let vd = Row {
            cells: vec![
                text("u"),
                text("RSC1"),
                text(""),
                Some(Value::Int(0)),
                Some(Value::Int(1048576)),
                Some(Value::Int(0)),
            ],
        };
        assert!(entries("VOLUME_DEFINITIONS", vd)
            .contains(&("/LINSTOR/VOLUME_DEFINITIONS/RSC1::0/VLM_SIZE".into(), "1048576".into())));
        let id_role = Row { cells: vec![text("PUBLIC"), text("PUBLIC")] };
        assert_eq!(
            entries("SEC_ID_ROLE_MAP", id_role),
            [
                ("/LINSTOR/SEC_ID_ROLE_MAP/PUBLIC:PUBLIC/IDENTITY_NAME".to_owned(), "PUBLIC".to_owned()),
                ("/LINSTOR/SEC_ID_ROLE_MAP/PUBLIC:PUBLIC/ROLE_NAME".to_owned(), "PUBLIC".to_owned())
            ]
        );
        let acl = Row { cells: vec![text("/sys/controller/nodesMap"), text("PUBLIC"), Some(Value::Int(7))] };
        assert_eq!(
            entries("SEC_ACL_MAP", acl),
            [("/LINSTOR/SEC_ACL_MAP//sys/controller/nodesMap:PUBLIC/ACCESS_TYPE".to_owned(), "7".to_owned())]
        );
        let tracking = Row { cells: vec![Some(Value::Int(1700000000000))] };
        assert_eq!(
            entries("TRACKING_DATE", tracking),
            [("/LINSTOR/TRACKING_DATE/ENTRY_DATE".to_owned(), "1700000000000".to_owned())]
        );
        let lrd = schema().table("LAYER_DRBD_RESOURCES").unwrap();
        let mut drbd = Row::empty(lrd);
        drbd.cells[0] = Some(Value::Int(5));
        drbd.cells[lrd.column_index("TCP_PORT_LIST").unwrap()] = text("[7000]");
        assert!(row_entries(DEFAULT_PREFIX, lrd, &drbd)
            .contains(&("/LINSTOR/LAYER_DRBD_RESOURCES/5/TCP_PORT_LIST".into(), "[7000]".into())));
    }

    fn assemble(table: &str, mut keys: Vec<(&str, &str)>) -> Result<Vec<Row>> {
        keys.sort();
        let t = schema().table(table).unwrap();
        let mut asm = RowAssembler::new(DEFAULT_PREFIX, t);
        let mut rows = Vec::new();
        for (k, v) in keys {
            asm.push(k, v, &mut rows)?;
        }
        asm.finish(&mut rows)?;
        Ok(rows)
    }

    #[test]
    fn decodes_init_migration_rows_upper_case_booleans_and_nulls() {
        let rows = assemble(
            "SEC_IDENTITIES",
            vec![
                ("/LINSTOR/SEC_IDENTITIES/SYSTEM/IDENTITY_NAME", "SYSTEM"),
                ("/LINSTOR/SEC_IDENTITIES/SYSTEM/IDENTITY_DSP_NAME", "SYSTEM"),
                ("/LINSTOR/SEC_IDENTITIES/SYSTEM/ID_ENABLED", "TRUE"),
                ("/LINSTOR/SEC_IDENTITIES/SYSTEM/ID_LOCKED", "TRUE"),
                ("/LINSTOR/SEC_IDENTITIES/SYSTEM/PASS_SALT", ":null"),
            ],
        )
        .unwrap();
        assert_eq!(
            rows,
            [Row {
                cells: vec![
                    text("SYSTEM"),
                    text("SYSTEM"),
                    None,
                    None,
                    Some(Value::Bool(true)),
                    Some(Value::Bool(true))
                ]
            }]
        );
    }

    #[test]
    fn interleaved_keys_of_slash_containing_keys_become_whole_rows() {
        // FILES rows "/a" and "/a/B" interleave: "/a/B/…" sorts between "/a/ALT…" and "/a/UUID".
        let mut keys = Vec::new();
        for path in ["/a", "/a/B", "/a/Z"] {
            for (col, v) in [("UUID", "u"), ("FLAGS", "0"), ("CONTENT", ""), ("CONTENT_CHECKSUM", "c")] {
                keys.push((format!("/LINSTOR/FILES/{path}/{col}"), v));
            }
        }
        let rows = assemble("FILES", keys.iter().map(|(k, v)| (k.as_str(), *v)).collect()).unwrap();
        let t = schema().table("FILES").unwrap();
        let mut paths: Vec<String> = rows.iter().map(|r| r.formatted_key(t)).collect();
        paths.sort();
        assert_eq!(paths, ["/a", "/a/B", "/a/Z"]);
        assert!(rows.iter().all(|r| r.cells[0] == text("u")));
    }

    #[test]
    fn empty_pk_parts_colons_in_values_and_stale_columns() {
        let rows = assemble(
            "VOLUME_DEFINITIONS",
            vec![
                ("/LINSTOR/VOLUME_DEFINITIONS/RSC1::0/UUID", "u"),
                ("/LINSTOR/VOLUME_DEFINITIONS/RSC1::0/VLM_SIZE", "1048576"),
                ("/LINSTOR/VOLUME_DEFINITIONS/RSC1::0/VLM_FLAGS", "0"),
                ("/LINSTOR/VOLUME_DEFINITIONS/RSC1::0/OLD_COLUMN", "x"),
            ],
        )
        .unwrap();
        assert_eq!(rows[0].cells[1..4], [text("RSC1"), text(""), Some(Value::Int(0))]);
        let props =
            assemble("PROPS_CONTAINERS", vec![("/LINSTOR/PROPS_CONTAINERS//NODES/A:Aux/a:b/PROP_VALUE", "v")]).unwrap();
        assert_eq!(props[0].cells, vec![text("/NODES/A"), text("Aux/a:b"), text("v")]);
    }

    #[test]
    fn a_missing_non_nullable_column_is_an_error_naming_the_key() {
        let err = assemble("NODES", vec![("/LINSTOR/NODES/ALPHA/UUID", "u")]).unwrap_err().to_string();
        assert!(err.contains("/LINSTOR/NODES/ALPHA/UUID") && err.contains("NODE_DSP_NAME"), "{err}");
        let err = assemble(
            "NODES",
            vec![
                ("/LINSTOR/NODES/A/UUID", "u"),
                ("/LINSTOR/NODES/A/NODE_DSP_NAME", "a"),
                ("/LINSTOR/NODES/A/NODE_FLAGS", "zero"),
                ("/LINSTOR/NODES/A/NODE_TYPE", "2"),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("NODE_FLAGS") && err.contains("not an integer"), "{err}");
    }

    #[test]
    fn prefix_helpers() {
        assert_eq!(normalize_prefix("/foo"), "/foo/");
        assert_eq!(normalize_prefix("/LINSTOR/"), "/LINSTOR/");
        assert_eq!(prefix_range_end("/LINSTOR/NODES/"), b"/LINSTOR/NODES0".to_vec());
    }
}

//! The backend-neutral row: one value per column of a [`Table`], NULL as `None`
//! (`linstor-db-format.md` §5.3: the CR `spec` object and the export-JSON row are this object).

use std::fmt::Write as _;

use serde_json::{Map, Value as Json};

use crate::error::{Error, Result};
use crate::schema::{Column, Table, ValueKind};

/// One column value. Blobs stay in their standard-Base64 text form, as every backend stores them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Value {
    /// Text, or Base64 of a blob.
    Text(String),
    /// Integers; timestamps and dates as epoch milliseconds.
    Int(i64),
    /// Booleans.
    Bool(bool),
}

/// A row of one table; `cells[i]` belongs to `table.columns[i]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Row {
    /// Values in column order; `None` is SQL NULL.
    pub cells: Vec<Option<Value>>,
}

impl Row {
    /// A row of all NULLs for `table`.
    pub fn empty(table: &Table) -> Row {
        Row { cells: vec![None; table.columns.len()] }
    }

    /// The identity of the row as LINSTOR formats it: the primary-key values (all columns when the
    /// table has none) in column order, integers in decimal, joined with `:`. This is both the etcd
    /// composed key and the input of the k8s name hash (§2.1, §3.4).
    pub fn formatted_key(&self, table: &Table) -> String {
        let mut out = String::new();
        for (n, i) in table.identity_indexes().into_iter().enumerate() {
            if n > 0 {
                out.push(':');
            }
            match &self.cells[i] {
                Some(Value::Text(s)) => out.push_str(s),
                Some(Value::Int(v)) => {
                    let _ = write!(out, "{v}");
                }
                Some(Value::Bool(b)) => {
                    let _ = write!(out, "{b}");
                }
                None => out.push_str("null"),
            }
        }
        out
    }

    /// Checks that every value has its column's kind and range. NULL in a non-nullable column is
    /// accepted, as LINSTOR's loaders accept it (`:null` on etcd, an absent field on k8s).
    pub fn validate(&self, table: &Table) -> Result<()> {
        if self.cells.len() != table.columns.len() {
            return Err(
                self.invalid(table, format!("has {} values for {} columns", self.cells.len(), table.columns.len()))
            );
        }
        for (column, cell) in table.columns.iter().zip(&self.cells) {
            if let Some(value) = cell {
                check_value(column, value).map_err(|detail| self.invalid(table, detail))?;
            }
        }
        Ok(())
    }

    fn invalid(&self, table: &Table, detail: String) -> Error {
        Error::InvalidRow { table: table.name.to_owned(), key: self.formatted_key(table), detail }
    }

    /// Writes the row as the compact JSON object LINSTOR writes (column order, NULLs omitted).
    pub fn write_json(&self, table: &Table, out: &mut Vec<u8>) {
        out.push(b'{');
        let mut first = true;
        for (column, cell) in table.columns.iter().zip(&self.cells) {
            let Some(value) = cell else { continue };
            if !first {
                out.push(b',');
            }
            first = false;
            out.push(b'"');
            out.extend_from_slice(column.field.as_bytes());
            out.extend_from_slice(b"\":");
            match value {
                Value::Text(s) => write_json_string(s, out),
                Value::Int(v) => out.extend_from_slice(v.to_string().as_bytes()),
                Value::Bool(true) => out.extend_from_slice(b"true"),
                Value::Bool(false) => out.extend_from_slice(b"false"),
            }
        }
        out.push(b'}');
    }

    /// The row as a JSON object (for CR specs and APIs; the export writer uses [`Row::write_json`]).
    pub fn to_json(&self, table: &Table) -> Map<String, Json> {
        let mut map = Map::new();
        for (column, cell) in table.columns.iter().zip(&self.cells) {
            if let Some(value) = cell {
                let json = match value {
                    Value::Text(s) => Json::String(s.clone()),
                    Value::Int(v) => Json::from(*v),
                    Value::Bool(b) => Json::Bool(*b),
                };
                map.insert(column.field.clone(), json);
            }
        }
        map
    }

    /// Builds a row from a JSON object (an export row or a CR spec). Unknown fields are errors, as in
    /// LINSTOR's import; missing fields are NULL (LINSTOR reads them as 0/false/NULL), except columns with a
    /// documented default.
    pub fn from_json(table: &Table, object: &Map<String, Json>) -> Result<Row> {
        let mut row = Row::empty(table);
        for (field, json) in object {
            let Some(i) = table.field_index(field) else {
                return Err(Error::InvalidRow {
                    table: table.name.to_owned(),
                    key: String::new(),
                    detail: format!("unknown field '{field}' (LINSTOR's import refuses unknown fields too)"),
                });
            };
            row.cells[i] = json_to_value(&table.columns[i], json).map_err(|detail| Error::InvalidRow {
                table: table.name.to_owned(),
                key: String::new(),
                detail,
            })?;
        }
        row.fill_defaults(table);
        row.validate(table)?;
        Ok(row)
    }

    /// Fills non-nullable columns LINSTOR added without rewriting old data (format doc §7.13).
    pub fn fill_defaults(&mut self, table: &Table) {
        if table.name == "FILES" {
            if let Some(i) = table.column_index("ALT_SUFFIXES") {
                if self.cells[i].is_none() {
                    // Base64 of the JSON list `[]`, the SQL default LINSTOR declares.
                    self.cells[i] = Some(Value::Text("W10=".to_owned()));
                }
            }
        }
    }
}

/// Converts one JSON value to a cell of `column`; `null` is NULL.
pub fn json_to_value(column: &Column, json: &Json) -> std::result::Result<Option<Value>, String> {
    let value = match (column.sql_type.kind(), json) {
        (_, Json::Null) => return Ok(None),
        (ValueKind::Text, Json::String(s)) => Value::Text(s.clone()),
        (ValueKind::Int, Json::Number(n)) => match n.as_i64() {
            Some(v) => Value::Int(v),
            None => return Err(format!("field {}: {n} is not an integer", column.field)),
        },
        (ValueKind::Bool, Json::Bool(b)) => Value::Bool(*b),
        (kind, other) => return Err(format!("field {}: expected {}, found {other}", column.field, kind_name(kind))),
    };
    check_value(column, &value)?;
    Ok(Some(value))
}

fn check_value(column: &Column, value: &Value) -> std::result::Result<(), String> {
    match (column.sql_type.kind(), value) {
        (ValueKind::Text, Value::Text(_)) | (ValueKind::Bool, Value::Bool(_)) => Ok(()),
        (ValueKind::Int, Value::Int(v)) => match column.sql_type.int_range() {
            Some((lo, hi)) if *v < lo || *v > hi => {
                Err(format!("field {}: {v} is out of range for {:?}", column.field, column.sql_type))
            }
            _ => Ok(()),
        },
        (kind, value) => Err(format!("field {}: expected {}, found {value:?}", column.field, kind_name(kind))),
    }
}

fn kind_name(kind: ValueKind) -> &'static str {
    match kind {
        ValueKind::Text => "a string",
        ValueKind::Int => "an integer",
        ValueKind::Bool => "a boolean",
    }
}

/// Appends `s` as a JSON string literal (serde_json's escaping, without an intermediate String).
fn write_json_string(s: &str, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Rows of the format doc's worked examples, shared by the unit tests of every layout.
#[cfg(test)]
pub(crate) mod examples {
    use super::{Row, Value};

    /// The `NODES` row of node `alpha` (§2.8, §3.5, §5.3); the same columns in every data version.
    pub(crate) fn node_alpha() -> Row {
        Row {
            cells: vec![
                Some(Value::Text("2b1d6c2e-5a7e-4b53-9a0f-5d6f3f0e9c11".into())),
                Some(Value::Text("ALPHA".into())),
                Some(Value::Text("alpha".into())),
                Some(Value::Int(0)),
                Some(Value::Int(2)),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::DataVersion;

    fn nodes() -> &'static Table {
        DataVersion::V1_33_1.schema().table("NODES").unwrap()
    }

    #[test]
    fn json_row_matches_linstor_example() {
        let row = examples::node_alpha();
        let mut out = Vec::new();
        row.write_json(nodes(), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"uuid":"2b1d6c2e-5a7e-4b53-9a0f-5d6f3f0e9c11","node_name":"ALPHA","node_dsp_name":"alpha","node_flags":0,"node_type":2}"#
        );
        assert_eq!(row.formatted_key(nodes()), "ALPHA");
        let back = Row::from_json(nodes(), &row.to_json(nodes())).unwrap();
        assert_eq!(back, row);
    }

    #[test]
    fn nulls_are_omitted_and_strings_escaped() {
        let t = DataVersion::V1_33_1.schema().table("RESOURCE_DEFINITIONS").unwrap();
        let mut row = Row::empty(t);
        row.cells[0] = Some(Value::Text("u\"\n".into()));
        let mut out = Vec::new();
        row.write_json(t, &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"uuid":"u\"\n"}"#);
    }

    #[test]
    fn unknown_fields_wrong_types_and_ranges_are_rejected() {
        let parse = |s: &str| Row::from_json(nodes(), serde_json::from_str::<Json>(s).unwrap().as_object().unwrap());
        assert!(
            parse(r#"{"uuid":"u","node_name":"A","node_dsp_name":"a","node_flags":0,"node_type":2,"x":1}"#).is_err()
        );
        assert!(parse(r#"{"uuid":"u","node_name":"A","node_dsp_name":"a","node_flags":"0","node_type":2}"#).is_err());
        assert!(
            parse(r#"{"uuid":"u","node_name":"A","node_dsp_name":"a","node_flags":0,"node_type":4294967296}"#).is_err()
        );
        assert!(parse(r#"{"uuid":"u","node_name":"A","node_dsp_name":"a","node_flags":0,"node_type":2}"#).is_ok());
    }

    #[test]
    fn files_without_alt_suffixes_get_the_sql_default() {
        let t = DataVersion::V1_33_1.schema().table("FILES").unwrap();
        let obj = serde_json::json!({"uuid":"u","path":"/etc/x","flags":0,"content":"","content_checksum":"e3"});
        let row = Row::from_json(t, obj.as_object().unwrap()).unwrap();
        assert_eq!(row.cells[t.column_index("ALT_SUFFIXES").unwrap()], Some(Value::Text("W10=".into())));
    }

    #[test]
    fn keys_of_composite_and_keyless_tables() {
        let s = DataVersion::V1_31_1.schema();
        let vd = s.table("VOLUME_DEFINITIONS").unwrap();
        let mut row = Row::empty(vd);
        row.cells[1] = Some(Value::Text("RSC1".into()));
        row.cells[2] = Some(Value::Text(String::new()));
        row.cells[3] = Some(Value::Int(0));
        assert_eq!(row.formatted_key(vd), "RSC1::0");
        let td = s.table("TRACKING_DATE").unwrap();
        let row = Row { cells: vec![Some(Value::Int(1700000000000))] };
        assert_eq!(row.formatted_key(td), "1700000000000");
    }
}

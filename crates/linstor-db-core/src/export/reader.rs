//! Streaming export reader. serde visits the document once; each table row is handed to a callback
//! as soon as it is parsed, so memory does not grow with the file.

use std::fmt;
use std::io::Read;
use std::path::Path;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value as Json};

use super::ExportMeta;
use crate::error::{Error, Result};
use crate::row::Row;
use crate::schema::{DataVersion, Table};

/// What the reader hands to its callback, in document order.
#[derive(Debug)]
pub enum ReadEvent<'a> {
    /// The metadata (always first).
    Meta(&'a ExportMeta),
    /// A table begins.
    TableStart(&'static Table),
    /// One row of the current table.
    Row(Row),
    /// The current table ended.
    TableEnd,
}

/// Whether the reader should go on after an event.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep reading.
    Continue,
    /// Stop here (the rest of the file is not read).
    Stop,
}

/// Reads only the metadata at the start of an export.
pub fn read_meta(reader: impl Read, path: &Path) -> Result<ExportMeta> {
    let mut meta = None;
    read_export(reader, path, |event| {
        if let ReadEvent::Meta(m) = event {
            meta = Some(m.clone());
        }
        Ok(Flow::Stop)
    })?;
    meta.ok_or_else(|| corrupt(path, "the file has no 'tables'".into()))
}

/// Reads a whole export, calling `on_event` for the metadata, each table and each row.
/// `path` only names the file in errors.
pub fn read_export(reader: impl Read, path: &Path, on_event: impl FnMut(ReadEvent<'_>) -> Result<Flow>) -> Result<()> {
    let mut state = State { on_event: Box::new(on_event), failure: None, stopped: false, saw_tables: false };
    let mut de = serde_json::Deserializer::from_reader(reader);
    let outcome = DocumentSeed { state: &mut state }.deserialize(&mut de);
    if let Some(failure) = state.failure.take() {
        return Err(failure);
    }
    if state.stopped {
        return Ok(());
    }
    outcome.and_then(|()| de.end()).map_err(|e| {
        let detail = if e.is_eof() {
            format!("the file ends early ({e}); it is truncated: export it again")
        } else {
            format!("{e}")
        };
        corrupt(path, detail)
    })?;
    if !state.saw_tables {
        return Err(corrupt(path, "the file has no 'tables'".into()));
    }
    Ok(())
}

fn corrupt(path: &Path, detail: String) -> Error {
    Error::CorruptExport { path: path.to_owned(), detail }
}

type Callback<'f> = Box<dyn FnMut(ReadEvent<'_>) -> Result<Flow> + 'f>;

struct State<'f> {
    on_event: Callback<'f>,
    /// A typed error from the callback or a check, kept because serde only carries strings.
    failure: Option<Error>,
    stopped: bool,
    saw_tables: bool,
}

impl State<'_> {
    /// Runs the callback; on error or stop, records it and returns a serde error that unwinds the parse.
    fn emit<E: de::Error>(&mut self, event: ReadEvent<'_>) -> std::result::Result<(), E> {
        match (self.on_event)(event) {
            Ok(Flow::Continue) => Ok(()),
            Ok(Flow::Stop) => {
                self.stopped = true;
                Err(E::custom("stopped"))
            }
            Err(e) => self.fail(e),
        }
    }

    fn fail<E: de::Error>(&mut self, error: Error) -> std::result::Result<(), E> {
        let text = error.to_string();
        self.failure = Some(error);
        Err(E::custom(text))
    }
}

struct DocumentSeed<'s, 'f> {
    state: &'s mut State<'f>,
}

impl<'de> DeserializeSeed<'de> for DocumentSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DocumentSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a LINSTOR export object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        let mut head = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if key != "tables" {
                // Only the fields `meta_from` reads are kept: others are skipped without being held.
                if HEAD_FIELDS.contains(&key.as_str()) {
                    head.insert(key, map.next_value::<Json>()?);
                } else {
                    map.next_value::<de::IgnoredAny>()?;
                }
                continue;
            }
            // A second array would hand its tables over again, past the check that each appears once.
            if self.state.saw_tables {
                return Err(de::Error::custom("'tables' appears twice"));
            }
            let meta = meta_from(&head).map_err(de::Error::custom)?;
            self.state.saw_tables = true;
            self.state.emit(ReadEvent::Meta(&meta))?;
            map.next_value_seed(TablesSeed { state: self.state, schema_version: meta.data_version, seen: Vec::new() })?;
        }
        Ok(())
    }
}

/// The top-level fields of an export besides `tables`.
const HEAD_FIELDS: [&str; 7] = [
    "linstor_version",
    "export_timestamp_ms",
    "exported_from",
    "data_version",
    "sql_version",
    "etcd_version",
    "k8s_version",
];

fn meta_from(head: &Map<String, Json>) -> std::result::Result<ExportMeta, String> {
    let text = |key: &str| {
        head.get(key)
            .and_then(Json::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("'{key}' is missing or not a string before 'tables'"))
    };
    let number = |key: &str| head.get(key).and_then(Json::as_i64);
    let data_version: DataVersion = text("data_version")?.parse().map_err(|e: Error| e.to_string())?;
    let small = |key: &str, v: i64| u32::try_from(v).map_err(|_| format!("'{key}' = {v} is out of range"));
    Ok(ExportMeta {
        linstor_version: text("linstor_version")?,
        export_timestamp_ms: number("export_timestamp_ms").unwrap_or(0),
        exported_from: text("exported_from").unwrap_or_default(),
        data_version,
        sql_version: text("sql_version").unwrap_or_default(),
        etcd_version: number("etcd_version").map(|v| small("etcd_version", v)).transpose()?,
        k8s_version: small("k8s_version", number("k8s_version").ok_or("'k8s_version' is missing or not a number")?)?,

        objects_at: Vec::new(),
        lost_columns: Vec::new(),
        job: None,
        interrupted: None,
        revision: None,
    })
}

struct TablesSeed<'s, 'f> {
    state: &'s mut State<'f>,
    schema_version: DataVersion,
    seen: Vec<&'static str>,
}

impl<'de> DeserializeSeed<'de> for TablesSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for TablesSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of tables")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> std::result::Result<(), A::Error> {
        while seq
            .next_element_seed(TableSeed {
                state: self.state,
                schema_version: self.schema_version,
                seen: &mut self.seen,
            })?
            .is_some()
        {}
        Ok(())
    }
}

struct TableSeed<'s, 'f, 'v> {
    state: &'s mut State<'f>,
    schema_version: DataVersion,
    seen: &'v mut Vec<&'static str>,
}

impl<'de> DeserializeSeed<'de> for TableSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

/// One entry of `column_description`.
#[derive(serde::Deserialize)]
struct ColumnDescription {
    name: String,
    sql_type: i32,
    is_primary_key: bool,
    is_nullable: bool,
}

impl<'de> Visitor<'de> for TableSeed<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        let mut table: Option<&'static Table> = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "name" => {
                    let name: String = map.next_value()?;
                    let schema = self.schema_version.schema();
                    let found = match schema.require_table(&name) {
                        Ok(t) => t,
                        Err(e) => return self.state.fail(e),
                    };
                    if self.seen.contains(&found.name) {
                        return Err(de::Error::custom(format!("table {name} appears twice")));
                    }
                    self.seen.push(found.name);
                    table = Some(found);
                }
                "column_description" => {
                    let described: Vec<ColumnDescription> = map.next_value()?;
                    let t = table.ok_or_else(|| de::Error::custom("'column_description' before 'name'"))?;
                    check_columns(t, &described, self.schema_version).map_err(de::Error::custom)?;
                }
                "data" => {
                    let t = table.ok_or_else(|| de::Error::custom("'data' before 'name'"))?;
                    self.state.emit(ReadEvent::TableStart(t))?;
                    map.next_value_seed(RowsSeed { state: self.state, table: t })?;
                    self.state.emit(ReadEvent::TableEnd)?;
                }
                other => {
                    return Err(de::Error::custom(format!("unknown table field '{other}'")));
                }
            }
        }
        Ok(())
    }
}

fn check_columns(
    table: &Table,
    described: &[ColumnDescription],
    version: DataVersion,
) -> std::result::Result<(), String> {
    let same = described.len() == table.columns.len()
        && described.iter().zip(&table.columns).all(|(d, c)| {
            d.name == c.name
                && d.sql_type == c.sql_type.code()
                && d.is_primary_key == c.primary_key
                && d.is_nullable == c.nullable
        });
    if same {
        Ok(())
    } else {
        let found: Vec<&str> = described.iter().map(|d| d.name.as_str()).collect();
        Err(format!(
            "column_description of table {} does not match LINSTOR's {version} schema (found {found:?})",
            table.name
        ))
    }
}

struct RowsSeed<'s, 'f> {
    state: &'s mut State<'f>,
    table: &'static Table,
}

impl<'de> DeserializeSeed<'de> for RowsSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowsSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of rows")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        let mut number = 0u64;
        while let Some(object) = seq.next_element::<Map<String, Json>>()? {
            number += 1;
            match Row::from_json(self.table, &object) {
                Ok(row) => self.state.emit(ReadEvent::Row(row))?,
                Err(Error::InvalidRow { table, detail, .. }) => {
                    let key = format!("number {number} of 'data'");
                    return self.state.fail(Error::InvalidRow { table, key, detail });
                }
                Err(e) => return self.state.fail(e),
            }
        }
        Ok(())
    }
}

//! Streaming export writer: compact JSON, UTF-8, keys in the order LINSTOR's Jackson writes them.

use std::io::{self, Write};

use super::ExportMeta;
use crate::row::Row;
use crate::schema::Table;

/// Writes an export one table and one row at a time.
pub struct ExportWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    tables_written: usize,
    rows_in_table: u64,
    in_table: bool,
}

impl<W: Write> ExportWriter<W> {
    /// Writes the metadata and opens the `tables` array.
    pub fn new(out: W, meta: &ExportMeta) -> io::Result<ExportWriter<W>> {
        let mut head = serde_json::Map::new();
        head.insert("linstor_version".into(), meta.linstor_version.clone().into());
        head.insert("export_timestamp_ms".into(), meta.export_timestamp_ms.into());
        head.insert("exported_from".into(), meta.exported_from.clone().into());
        head.insert("data_version".into(), meta.data_version.as_str().into());
        head.insert("sql_version".into(), meta.sql_version.clone().into());
        if let Some(etcd) = meta.etcd_version {
            head.insert("etcd_version".into(), etcd.into());
        }
        head.insert("k8s_version".into(), meta.k8s_version.into());
        let mut buf = serde_json::to_vec(&head)?;
        // Re-open the object to append the tables array.
        buf.pop();
        buf.extend_from_slice(b",\"tables\":[");
        let mut writer = ExportWriter { out, buf, tables_written: 0, rows_in_table: 0, in_table: false };
        writer.flush_buf()?;
        Ok(writer)
    }

    /// Starts a table: name, `column_description`, and the `data` array.
    pub fn begin_table(&mut self, table: &Table) -> io::Result<()> {
        if self.tables_written > 0 {
            self.buf.push(b',');
        }
        self.buf.extend_from_slice(b"{\"name\":");
        serde_json::to_writer(&mut self.buf, table.name)?;
        self.buf.extend_from_slice(b",\"column_description\":[");
        for (i, column) in table.columns.iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            self.buf.extend_from_slice(b"{\"name\":");
            serde_json::to_writer(&mut self.buf, column.name)?;
            write!(
                self.buf,
                ",\"sql_type\":{},\"is_primary_key\":{},\"is_nullable\":{}}}",
                column.sql_type.code(),
                column.primary_key,
                column.nullable
            )?;
        }
        self.buf.extend_from_slice(b"],\"data\":[");
        self.tables_written += 1;
        self.rows_in_table = 0;
        self.in_table = true;
        Ok(())
    }

    /// Appends one row to the current table.
    pub fn write_row(&mut self, table: &Table, row: &Row) -> io::Result<()> {
        if self.rows_in_table > 0 {
            self.buf.push(b',');
        }
        row.write_json(table, &mut self.buf);
        self.rows_in_table += 1;
        if self.buf.len() >= 64 * 1024 {
            self.flush_buf()?;
        }
        Ok(())
    }

    /// Closes the current table.
    pub fn end_table(&mut self) -> io::Result<()> {
        self.buf.extend_from_slice(b"]}");
        self.in_table = false;
        self.flush_buf()
    }

    /// Closes the document and returns the underlying writer, flushed.
    pub fn finish(mut self) -> io::Result<W> {
        if self.in_table {
            self.end_table()?;
        }
        self.buf.extend_from_slice(b"]}");
        self.flush_buf()?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }
}

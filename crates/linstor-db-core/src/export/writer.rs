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
        // Written by hand: the key order is part of the format (Jackson's creator-parameter order).
        let mut buf = Vec::with_capacity(64 * 1024);
        buf.extend_from_slice(b"{\"linstor_version\":");
        serde_json::to_writer(&mut buf, &meta.linstor_version)?;
        write!(buf, ",\"export_timestamp_ms\":{},\"exported_from\":", meta.export_timestamp_ms)?;
        serde_json::to_writer(&mut buf, &meta.exported_from)?;
        write!(buf, ",\"data_version\":\"{}\",\"sql_version\":", meta.data_version)?;
        serde_json::to_writer(&mut buf, &meta.sql_version)?;
        if let Some(etcd) = meta.etcd_version {
            write!(buf, ",\"etcd_version\":{etcd}")?;
        }
        write!(buf, ",\"k8s_version\":{},\"tables\":[", meta.k8s_version)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{DataVersion, Release};

    #[test]
    fn writes_linstor_133_layout_byte_for_byte() {
        let meta = ExportMeta::for_release(Release::for_etcd_version(72).unwrap(), "etcd", 1780000000000);
        let nodes = DataVersion::V1_31_1.schema().table("NODES").unwrap();
        let mut w = ExportWriter::new(Vec::new(), &meta).unwrap();
        w.begin_table(nodes).unwrap();
        let row = crate::row::examples::node_alpha();
        w.write_row(nodes, &row).unwrap();
        w.end_table().unwrap();
        let text = String::from_utf8(w.finish().unwrap()).unwrap();
        let expected = concat!(
            r#"{"linstor_version":"1.33.3","export_timestamp_ms":1780000000000,"exported_from":"etcd","#,
            r#""data_version":"v1-31-1","sql_version":"2025.12.31.23.59","etcd_version":71,"k8s_version":30,"#,
            r#""tables":[{"name":"NODES","column_description":["#,
            r#"{"name":"UUID","sql_type":1,"is_primary_key":false,"is_nullable":false},"#,
            r#"{"name":"NODE_NAME","sql_type":12,"is_primary_key":true,"is_nullable":false},"#,
            r#"{"name":"NODE_DSP_NAME","sql_type":12,"is_primary_key":false,"is_nullable":false},"#,
            r#"{"name":"NODE_FLAGS","sql_type":-5,"is_primary_key":false,"is_nullable":false},"#,
            r#"{"name":"NODE_TYPE","sql_type":4,"is_primary_key":false,"is_nullable":false}],"#,
            r#""data":[{"uuid":"2b1d6c2e-5a7e-4b53-9a0f-5d6f3f0e9c11","node_name":"ALPHA","node_dsp_name":"alpha","node_flags":0,"node_type":2}]}]}"#
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn linstor_134_exports_have_no_etcd_version() {
        let meta = ExportMeta::for_release(Release::newest(), "k8s", 5);
        let text = String::from_utf8(ExportWriter::new(Vec::new(), &meta).unwrap().finish().unwrap()).unwrap();
        assert_eq!(
            text,
            r#"{"linstor_version":"1.34.0-rc.1","export_timestamp_ms":5,"exported_from":"k8s","data_version":"v1-33-1","sql_version":"2026.04.08.09.00","k8s_version":34,"tables":[]}"#
        );
    }
}

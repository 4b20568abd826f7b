//! The generator as a [`Source`]: a generated database streams into any target without being held.

use async_trait::async_trait;

use super::{Plan, TableRows};
use crate::backend::{Event, Source};
use crate::error::Result;
use crate::export::ExportMeta;
use crate::schema::Table;

/// Streams the rows of a [`Plan`].
pub struct GeneratedSource {
    plan: Plan,
    tables: std::slice::Iter<'static, Table>,
    current: Option<(&'static Table, usize)>,
    now_ms: i64,
}

/// Entities' rows per emitted batch (about a thousand rows).
const BATCH: usize = 1024;

impl GeneratedSource {
    /// A source generating `plan`.
    pub fn new(plan: Plan) -> GeneratedSource {
        GeneratedSource { plan, tables: [].iter(), current: None, now_ms: 1_780_000_000_000 }
    }
}

#[async_trait]
impl Source for GeneratedSource {
    fn describe(&self) -> String {
        format!(
            "generated database ({} nodes, {} resource definitions, seed {})",
            self.plan.nodes, self.plan.resource_definitions, self.plan.seed
        )
    }

    async fn open(&mut self) -> Result<ExportMeta> {
        self.plan.validate()?;
        self.tables = self.plan.data_version.schema().tables.iter();
        self.current = None;
        Ok(ExportMeta::for_release(self.plan.release(), "etcd", self.now_ms))
    }

    async fn next_event(&mut self) -> Result<Option<Event>> {
        let Some((table, cursor)) = self.current else {
            let Some(table) = self.tables.next() else { return Ok(None) };
            self.current = Some((table, 0));
            return Ok(Some(Event::TableStart(table)));
        };
        let rows_of = TableRows::new(&self.plan, table);
        let total = rows_of.entities();
        if cursor >= total {
            self.current = None;
            return Ok(Some(Event::TableEnd));
        }
        let mut rows = Vec::with_capacity(BATCH);
        let mut next = cursor;
        while next < total && rows.len() < BATCH {
            rows_of.rows_of(next, &mut rows);
            next += 1;
        }
        self.current = Some((table, next));
        Ok(Some(Event::Rows(rows)))
    }
}

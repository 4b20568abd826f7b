//! Engine unit tests with mocked stores: ordering of the steps, and what happens on each failure.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use async_trait::async_trait;
use mockall::{mock, predicate::*, Sequence};

use super::*;
use crate::backend::{Event, Source, Target};
use crate::row::{Row, Value};
use crate::schema::{DataVersion, Release, Table};

mock! {
    pub Src {}
    #[async_trait]
    impl Source for Src {
        fn describe(&self) -> String;
        async fn open(&mut self) -> Result<ExportMeta>;
        async fn next_event(&mut self) -> Result<Option<Event>>;
    }
}

mock! {
    pub Dst {}
    #[async_trait]
    impl Target for Dst {
        fn describe(&self) -> String;
        async fn preflight(&mut self, meta: &ExportMeta, replace: bool) -> Result<()>;
        async fn begin(&mut self, meta: &ExportMeta) -> Result<()>;
        async fn begin_table(&mut self, table: &'static Table) -> Result<()>;
        async fn write_rows(&mut self, table: &'static Table, rows: Vec<Row>) -> Result<u64>;
        async fn end_table(&mut self, table: &'static Table) -> Result<bool>;
        async fn commit(&mut self, meta: &ExportMeta) -> Result<()>;
        fn recovery(&self) -> String;
        async fn mark_incomplete(&mut self, reason: &str) -> Result<()>;
    }
}

fn nodes() -> &'static Table {
    DataVersion::V1_31_1.schema().table("NODES").unwrap()
}

fn node_row(name: &str) -> Row {
    Row {
        cells: vec![
            Some(Value::Text("u".into())),
            Some(Value::Text(name.into())),
            Some(Value::Text(name.to_lowercase())),
            Some(Value::Int(0)),
            Some(Value::Int(2)),
        ],
    }
}

/// A source that yields NODES with two batches of rows.
fn source_with_rows() -> MockSrc {
    let mut src = MockSrc::new();
    src.expect_describe().return_const("src".to_owned());
    src.expect_open().returning(|| Ok(ExportMeta::for_release(Release::for_etcd_version(72).unwrap(), "etcd", 1)));
    let mut events = vec![
        Event::TableStart(nodes()),
        Event::Rows(vec![node_row("A"), node_row("B")]),
        Event::Rows(vec![node_row("C")]),
        Event::TableEnd,
    ]
    .into_iter();
    src.expect_next_event().returning(move || Ok(events.next()));
    src
}

fn target() -> MockDst {
    let mut dst = MockDst::new();
    dst.expect_describe().return_const("dst".to_owned());
    dst.expect_recovery().return_const("undo with X".to_owned());
    dst
}

#[tokio::test]
async fn copies_in_order_and_commits_last() {
    let mut src = source_with_rows();
    let mut dst = target();
    let mut seq = Sequence::new();
    dst.expect_preflight().with(always(), eq(false)).times(1).in_sequence(&mut seq).returning(|_, _| Ok(()));
    dst.expect_begin().times(1).in_sequence(&mut seq).returning(|_| Ok(()));
    dst.expect_begin_table().times(1).in_sequence(&mut seq).returning(|_| Ok(()));
    dst.expect_write_rows().times(2).in_sequence(&mut seq).returning(|_, rows| Ok(rows.len() as u64));
    dst.expect_end_table().times(1).in_sequence(&mut seq).returning(|_| Ok(true));
    dst.expect_commit().times(1).in_sequence(&mut seq).returning(|_| Ok(()));
    let report = copy(&mut src, &mut dst, &CopyOptions::default()).await.unwrap();
    assert_eq!(report.rows, 3);
    assert_eq!(report.tables, vec![TableCount { table: "NODES".into(), rows: 3 }]);
    assert_eq!(report.linstor_version, "1.33.3");
}

#[tokio::test]
async fn a_refused_preflight_writes_nothing() {
    let mut src = source_with_rows();
    let mut dst = target();
    dst.expect_preflight()
        .returning(|_, _| Err(Error::TargetNotEmpty { store: "dst".into(), detail: "3 keys".into() }));
    dst.expect_begin().never();
    dst.expect_write_rows().never();
    dst.expect_commit().never();
    let err = copy(&mut src, &mut dst, &CopyOptions::default()).await.unwrap_err();
    assert!(matches!(err, Error::TargetNotEmpty { .. }), "{err}");
}

#[tokio::test]
async fn data_from_a_newer_linstor_is_refused_before_the_target_is_touched() {
    let mut src = MockSrc::new();
    src.expect_describe().return_const("new.json".to_owned());
    src.expect_open().returning(|| {
        let mut meta = ExportMeta::for_release(Release::newest(), "k8s", 1);
        meta.linstor_version = "1.40.0".into();
        Ok(meta)
    });
    let mut dst = target();
    dst.expect_preflight().never();
    dst.expect_begin().never();
    let err = copy(&mut src, &mut dst, &CopyOptions::default()).await.unwrap_err();
    assert!(matches!(err, Error::TooNew { .. }), "{err}");
}

#[tokio::test]
async fn a_failed_write_is_reported_as_interrupted_and_never_committed() {
    let mut src = source_with_rows();
    let mut dst = target();
    dst.expect_preflight().returning(|_, _| Ok(()));
    dst.expect_begin().returning(|_| Ok(()));
    dst.expect_begin_table().returning(|_| Ok(()));
    let mut calls = 0;
    dst.expect_write_rows().returning(move |_, _| {
        calls += 1;
        if calls == 1 {
            Ok(2)
        } else {
            Err(Error::Internal("disk full".into()))
        }
    });
    dst.expect_commit().never();
    let err = copy(&mut src, &mut dst, &CopyOptions::default()).await.unwrap_err();
    match &err {
        Error::WriteInterrupted { rows_written, .. } => assert_eq!(*rows_written, 2),
        other => panic!("unexpected {other}"),
    }
    assert!(err.to_string().contains("undo with X"), "the message is the target's own recovery: {err}");
}

#[tokio::test]
async fn cancellation_stops_before_commit() {
    let mut src = source_with_rows();
    let mut dst = target();
    dst.expect_preflight().returning(|_, _| Ok(()));
    dst.expect_begin().returning(|_| Ok(()));
    dst.expect_commit().never();
    let cancel = Arc::new(AtomicBool::new(true));
    let options = CopyOptions { cancel: Some(cancel), ..CopyOptions::default() };
    let err = copy(&mut src, &mut dst, &options).await.unwrap_err();
    assert!(matches!(&err, Error::WriteInterrupted { source, .. } if matches!(**source, Error::Cancelled)), "{err}");
}

#[tokio::test]
async fn progress_reports_tables_and_rows() {
    let mut src = source_with_rows();
    let mut dst = target();
    dst.expect_preflight().returning(|_, _| Ok(()));
    dst.expect_begin().returning(|_| Ok(()));
    dst.expect_begin_table().returning(|_| Ok(()));
    dst.expect_write_rows().returning(|_, rows| Ok(rows.len() as u64));
    dst.expect_end_table().returning(|_| Ok(true));
    dst.expect_commit().returning(|_| Ok(()));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let options = CopyOptions {
        progress: Some(Arc::new(move |p: &Progress| sink.lock().unwrap().push(p.clone()))),
        ..CopyOptions::default()
    };
    copy(&mut src, &mut dst, &options).await.unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0], Progress::Table { name: "NODES", index: 0, total: 43 });
    assert_eq!(seen.last(), Some(&Progress::Rows(3)));
}

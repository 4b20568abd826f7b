//! `info`, `verify` / `diff` and `check`: read-only looks at stores.

use super::*;
use crate::check::CheckReport;
use crate::engine::compare::{compare, Difference};
use crate::engine::{self, TableCount};

/// What a store holds, without its rows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InfoReport {
    /// The store.
    pub store: String,
    /// LINSTOR release the data belongs to.
    pub linstor_version: String,
    /// Data (CRD) version.
    pub data_version: String,
    /// Last etcd migration of that release (releases up to 1.33.x).
    pub etcd_version: Option<u32>,
    /// Last k8s migration of that release.
    pub k8s_version: u32,
    /// Total rows.
    pub rows: u64,
    /// Rows per table, in schema order.
    pub tables: Vec<TableCount>,
    /// A backup's objects at served versions other than the storage version.
    pub objects_at: Vec<String>,
    /// Columns such a backup lacks (see [`crate::lost`]).
    pub lost_columns: Vec<crate::lost::LostColumn>,
    /// A backup of an interrupted write: the job whose write it was.
    pub interrupted: Option<String>,
}

/// `info`: the versions and row counts of a store, export or backup.
pub async fn info(connection: &Connection, store: &StoreAddress) -> Result<InfoReport> {
    let mut stores = Stores::new(connection);
    let (describe, (meta, tables)) = super::at_one_revision(async || {
        let mut source = stores.source(store).await?;
        Ok((source.describe(), engine::inspect(source.as_mut()).await?))
    })
    .await?;
    Ok(InfoReport {
        store: describe,
        linstor_version: meta.linstor_version,
        data_version: meta.data_version.to_string(),
        etcd_version: meta.etcd_version,
        k8s_version: meta.k8s_version,
        rows: tables.iter().map(|t| t.rows).sum(),
        tables,
        objects_at: meta.objects_at,
        lost_columns: meta.lost_columns,
        interrupted: meta.interrupted,
    })
}

/// `verify` / `diff`: compares two stores row by row, calling `on_difference` for each difference.
pub async fn verify(
    connection: &Connection,
    a: &StoreAddress,
    b: &StoreAddress,
    on_difference: impl FnMut(&Difference),
) -> Result<CompareReport> {
    verify_with(&mut Stores::new(connection), a, b, on_difference).await
}

/// [`verify`] on the job's stores.
pub(super) async fn verify_with(
    stores: &mut Stores<'_>,
    a: &StoreAddress,
    b: &StoreAddress,
    on_difference: impl FnMut(&Difference),
) -> Result<CompareReport> {
    let mut on_difference = on_difference;
    super::at_one_revision(async || {
        let source_a = stores.source(a).await?;
        let source_b = stores.source(b).await?;
        compare(source_a, source_b, &mut on_difference).await
    })
    .await
}

/// What `check` found in a store, export or backup.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CheckJobReport {
    /// The store checked.
    pub store: String,
    /// LINSTOR release the data belongs to.
    pub linstor_version: String,
    /// The rules' findings.
    #[serde(flatten)]
    pub check: CheckReport,
}

/// `check`: reads a store, export or backup once and checks every row against LINSTOR's load-time
/// invariants ([`crate::check`]).
pub async fn check(connection: &Connection, store: &StoreAddress) -> Result<CheckJobReport> {
    let mut stores = Stores::new(connection);
    let (describe, (meta, check)) = super::at_one_revision(async || {
        let mut source = stores.source(store).await?;
        Ok((source.describe(), engine::check(source.as_mut(), store.size_limits()).await?))
    })
    .await?;
    Ok(CheckJobReport { store: describe, linstor_version: meta.linstor_version, check })
}

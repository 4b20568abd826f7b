//! `purge`: LINSTOR's database deleted from a store, after a backup verified equal to it.

use super::*;

/// What a purge deleted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PurgeReport {
    /// The store emptied.
    pub store: String,
    /// The backup that was verified against it first.
    pub backup: String,
    /// Rows the backup holds.
    pub rows: u64,
    /// CRDs deleted (k8s) or keys deleted (etcd).
    pub deleted: Vec<String>,
}

/// `purge`: deletes LINSTOR's database from `store` (all `internal.linstor.linbit.com` CRDs, or every
/// key under the etcd prefix), only after `backup` verified equal to it row by row.
pub async fn purge(
    connection: &Connection,
    store: &StoreAddress,
    backup: &StoreAddress,
    options: &JobOptions,
) -> Result<PurgeReport> {
    require_database(store, "purge")?;
    let mut stores = Stores::new(connection);
    step(options, "verify backup");
    let verify = jobs_compare(&mut stores, backup, store).await?;
    if !verify.equal() {
        return Err(Error::Refused(format!(
            "purge refused: the backup {backup} does not match {store} ({} rows differ). Take a fresh backup (linstor-db backup --from {store} -o FILE), then purge with --backup FILE",
            verify.differences
        )));
    }
    let guard = guard(&mut stores, store, options).await?;
    step(options, "purge");
    let outcome = async {
        match store {
            StoreAddress::K8s => stores.k8s().await?.delete_all_crds().await,
            StoreAddress::Etcd { endpoints } => {
                let mut etcd = stores.etcd(endpoints).await?;
                let prefix = etcd.settings().prefix();
                let deleted = etcd.delete_prefix().await?;
                Ok(vec![format!("{deleted} keys under {prefix}")])
            }
            other => Err(Error::Internal(format!("purge of {other}"))),
        }
    }
    .await;
    let deleted = finish_guarded(guard, outcome).await?;
    Ok(PurgeReport { store: store.to_string(), backup: backup.to_string(), rows: verify.rows_a, deleted })
}

//! `export-db` and `import-db`: LINSTOR's export JSON out of and into a store.

use std::path::Path;

use super::{finish_guarded, guard, JobOptions};
use crate::backend::{Connection, Stores};
use crate::engine::{self, CopyOptions, CopyReport};
use crate::error::{Error, Result};
use crate::store::StoreAddress;

/// `export-db`: writes `from` to a LINSTOR export-db JSON file.
pub async fn export(
    connection: &Connection,
    from: &StoreAddress,
    file: &Path,
    options: &JobOptions,
) -> Result<CopyReport> {
    let mut stores = Stores::new(connection);
    let (reading, guard) = super::backup::consistent_reading(&mut stores, from, options).await?;
    let copy_options = options.copy_options(false);
    let outcome = super::at_one_revision(async || {
        engine::export_file(stores.source_reading(from, reading).await?, file, &copy_options).await
    })
    .await;
    finish_guarded(guard, outcome).await
}

/// `import-db`: writes a LINSTOR export-db JSON file into the store `to`.
pub async fn import(
    connection: &Connection,
    file: &Path,
    to: &StoreAddress,
    options: &JobOptions,
) -> Result<CopyReport> {
    if matches!(to, StoreAddress::File(_)) {
        return Err(Error::InvalidStore {
            address: to.to_string(),
            reason: "import-db writes a database store (etcd://… or k8s), not a file; to copy a file use cp".into(),
        });
    }
    let mut stores = Stores::new(connection);
    let mut target = stores.target(to).await?;
    let guard = guard(&mut stores, to, options).await?;
    let copy_options = CopyOptions { size_limits: Some(to.size_limits()), ..options.copy_options(options.replace) };
    let outcome = engine::import_file(file, target.as_mut(), &copy_options).await;
    finish_guarded(guard, outcome).await
}

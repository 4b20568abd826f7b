//! `generate`: a synthetic database written into a store.

use super::JobOptions;
use crate::backend::{Connection, Stores};
use crate::engine::{self, CopyReport};
use crate::error::Result;
use crate::generate::{GeneratedSource, Plan};
use crate::schema::DataVersion;
use crate::store::StoreAddress;

/// `generate`: writes a synthetic LINSTOR database of about `rows` rows into `to`.
pub async fn generate(
    connection: &Connection,
    rows: usize,
    seed: u64,
    data_version: DataVersion,
    to: &StoreAddress,
    options: &JobOptions,
) -> Result<CopyReport> {
    let mut target = Stores::new(connection).target(to).await?;
    let plan = Plan::for_rows(rows, seed, data_version);
    engine::copy(&mut GeneratedSource::new(plan), target.as_mut(), &options.copy_options(options.replace)).await
}

//! Using linstor-db-core from Rust: export LINSTOR's etcd database to an export-db JSON file.
//!
//! ```sh
//! cargo run -p linstor-db-core --example export_etcd -- 127.0.0.1:2379 /tmp/linstor.json
//! ```

use linstor_db_core::backend::etcd::{EtcdSource, EtcdStore};
use linstor_db_core::backend::file::ExportFileTarget;
use linstor_db_core::config::DbConfig;
use linstor_db_core::engine::{copy, CopyOptions};
use linstor_db_core::store::EtcdSettings;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(endpoint), Some(file)) = (args.next(), args.next()) else {
        eprintln!("usage: export_etcd HOST:PORT FILE");
        std::process::exit(2);
    };
    // Default prefix, no TLS; `DbConfig::load(dir)` reads a linstor.toml instead.
    let settings = EtcdSettings::new(vec![endpoint], &DbConfig::default());
    let store = EtcdStore::connect(settings).await?;
    let report = copy(&mut EtcdSource::new(store), &mut ExportFileTarget::new(file), &CopyOptions::default()).await?;
    println!("exported {} rows of LINSTOR {} ({})", report.rows, report.linstor_version, report.data_version);
    Ok(())
}

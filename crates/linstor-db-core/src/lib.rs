//! linstor-db-core: read, write, copy and compare the database of the LINSTOR controller in its etcd
//! and Kubernetes homes and in LINSTOR's export-db JSON.
//!
//! Layers, bottom up:
//! - pure data and codecs, no I/O: [`schema`] (tables of every data version, releases), [`row`],
//!   [`check`] (LINSTOR's load-time invariants as named rules),
//!   [`etcd_layout`] (keys and values on etcd), [`key_windows`] (etcd read windows), [`k8s_layout`] (CRDs, CR names and objects), [`export`] (the export JSON), [`config`]
//!   (`linstor.toml`), [`store`] (store addresses), [`objects`] (LINSTOR's object names), [`lost`]
//!   (columns a backup served at an older version lacks),
//!   [`generate`] (databases LINSTOR starts on), [`spill`] (external sorting for the checks' joins);
//! - [`backend`]: the [`backend::Source`] / [`backend::Target`] traits and their adapters
//!   (etcd behind the `etcd` feature, export files);
//! - [`engine`]: copy (export, import), inspect, with the safety checks around them;
//! - [`jobs`]: one function per job over store addresses, shared by the CLI and the C ABI.
#![deny(missing_docs)]

pub mod archive;
#[cfg(feature = "runtime")]
pub mod backend;
pub mod check;
pub mod config;
#[cfg(feature = "runtime")]
pub mod engine;
pub mod error;
pub mod etcd_layout;
pub mod export;
#[doc(hidden)]
pub mod fuzzing;
pub mod generate;
#[cfg(all(feature = "etcd", feature = "k8s"))]
pub mod jobs;
pub mod k8s_layout;
pub mod key_windows;
pub mod lost;
pub mod objects;
pub mod row;
pub mod schema;
pub mod spill;
pub mod store;

pub use error::{Error, Result};

/// API group of every LINSTOR CRD.
pub const K8S_GROUP: &str = "internal.linstor.linbit.com";

/// Version of this library (written into reports and manifests).
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

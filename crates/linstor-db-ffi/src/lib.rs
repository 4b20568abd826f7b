//! C ABI over `linstor_db_core::jobs`, for the Go and Python bindings (and any C caller).
//!
//! A thin shell: an opaque [`lsdb_context`] holds how to reach stores (config dir, kubeconfig,
//! kube context), a tokio runtime, a cancel flag and an optional progress callback; one function per
//! job takes store-address strings and options as JSON, runs the core job and returns its report as
//! JSON. Errors are [`lsdb_status`] codes plus a message kept in the context. The contract for C is
//! in `include/linstor_db.h`, generated from the doc comments here by cbindgen (see `cbindgen.toml`;
//! `tests/header.rs` fails when the checked-in header is stale).
#![allow(non_camel_case_types)]

mod context;
mod ffi;
mod jobs;
mod status;

use std::ffi::c_char;

pub use context::{
    lsdb_context, lsdb_context_cancel, lsdb_context_free, lsdb_context_last_error, lsdb_context_new,
    lsdb_context_reset_cancel, lsdb_context_set_config_dir, lsdb_context_set_kube_context, lsdb_context_set_kubeconfig,
    lsdb_context_set_progress, lsdb_context_set_retry_timeout, lsdb_progress_callback,
};
pub use jobs::{
    lsdb_backup, lsdb_export, lsdb_generate, lsdb_import, lsdb_info, lsdb_list_backups, lsdb_migrate,
    lsdb_prune_backups, lsdb_purge, lsdb_restore, lsdb_verify,
};
pub use status::{lsdb_status, lsdb_status_describe};

/// The library version, e.g. "0.1.0".
///
/// Returns a static NUL-terminated string: never NULL, never freed. Thread safety: any thread.
#[no_mangle]
pub extern "C" fn lsdb_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Frees a string returned by this library (reports, messages). NULL is ignored.
///
/// # Safety
/// `text` is NULL or a string returned by this library as `char *` that was not freed yet; it must
/// not be used afterwards. Thread safety: any thread.
#[no_mangle]
pub unsafe extern "C" fn lsdb_string_free(text: *mut c_char) {
    if !text.is_null() {
        // SAFETY: per the contract the pointer came from CString::into_raw in this library.
        drop(unsafe { std::ffi::CString::from_raw(text) });
    }
}

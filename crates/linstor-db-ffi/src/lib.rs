//! C ABI over linstor-db-core for Go and Python tools.
//!
//! Placeholder until the C ABI issue: the crate builds as cdylib and staticlib so that packaging and
//! CI are in place; it exports only the version.

/// The library version as a NUL-terminated string with static lifetime (never freed).
#[no_mangle]
pub extern "C" fn lsdb_version() -> *const std::ffi::c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

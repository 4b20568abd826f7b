//! One exported function per job of `linstor_db_core::jobs`. Each parses its arguments, calls the
//! core and returns the report as JSON; nothing else happens here. The conventions all of them share
//! are in the header comment (`cbindgen.toml`).

use std::ffi::c_char;
use std::path::Path;

use linstor_db_core::engine::compare::Difference;
use linstor_db_core::jobs;
use linstor_db_core::schema::DataVersion;
use linstor_db_core::store::StoreAddress;

use crate::context::{job_call, lsdb_context, OptionsJson};
use crate::ffi::{optional_str, required_str};
use crate::status::{lsdb_status, FfiError};

/// Differences listed in a verify report when `max_differences` is not given.
const DEFAULT_MAX_DIFFERENCES: u64 = 100;

/// Exports the store `from` (NULL: connection_url of linstor.toml) to the LINSTOR export-db JSON
/// file `file`, like `linstor-db export-db`. Report: `{source, target, linstor_version, data_version,
/// tables: [{table, rows}], rows}`.
/// Options read: `consistent` (`"revision"`, the default: a Kubernetes database is read at one
/// revision without open LINSTOR transactions while the controller runs; `"stopped-controller"`:
/// the controller is stopped for the read, see `controller`), `controller`, `allow_running_controller`.
///
/// Ownership: on success `*report_json` is a new string to free with lsdb_string_free, else NULL.
/// Thread safety: blocks until the job ends; cancel from any thread; see "Jobs" at the top.
///
/// # Safety
/// `ctx` NULL or live; string arguments NULL or NUL-terminated; `report_json` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lsdb_export(
    ctx: *const lsdb_context,
    from: *const c_char,
    file: *const c_char,
    options_json: *const c_char,
    report_json: *mut *mut c_char,
) -> lsdb_status {
    // SAFETY (every unsafe block): pointers as promised by the caller.
    job_call(unsafe { ctx.as_ref() }, unsafe { report_json.as_mut() }, |job| {
        let from = unsafe { optional_str(from, "from") }?;
        let file = unsafe { required_str(file, "file") }?;
        let options = unsafe { OptionsJson::parse(options_json) }?;
        let (address, connection) = job.resolve(from)?;
        job.block_on(jobs::export(&connection, &address, Path::new(file), &job.options(&options)?))
    })
}

/// Imports the export-db JSON file `file` into the store `to` (NULL: connection_url of
/// linstor.toml), like `linstor-db import-db`. The rows are checked first as `linstor-db check` does;
/// data LINSTOR would refuse to load is refused (LSDB_STATUS_REFUSED) before anything is written.
/// Options read: `replace`, `no_check`. Report as lsdb_export.
///
/// Ownership: on success `*report_json` is a new string to free with lsdb_string_free, else NULL.
/// Thread safety: blocks until the job ends; cancel from any thread; see "Jobs" at the top.
///
/// # Safety
/// `ctx` NULL or live; string arguments NULL or NUL-terminated; `report_json` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lsdb_import(
    ctx: *const lsdb_context,
    file: *const c_char,
    to: *const c_char,
    options_json: *const c_char,
    report_json: *mut *mut c_char,
) -> lsdb_status {
    // SAFETY (every unsafe block): pointers as promised by the caller.
    job_call(unsafe { ctx.as_ref() }, unsafe { report_json.as_mut() }, |job| {
        let file = unsafe { required_str(file, "file") }?;
        let to = unsafe { optional_str(to, "to") }?;
        let options = unsafe { OptionsJson::parse(options_json) }?;
        let (address, connection) = job.resolve(to)?;
        job.block_on(jobs::import(&connection, Path::new(file), &address, &job.options(&options)?))
    })
}

/// The LINSTOR release, data version, migration numbers and rows per table of `store` (NULL:
/// connection_url of linstor.toml). Report: `{store, linstor_version, data_version, etcd_version,
/// k8s_version, rows, tables: [{table, rows}]}`.
///
/// Ownership: on success `*report_json` is a new string to free with lsdb_string_free, else NULL.
/// Thread safety: blocks until the job ends; cancel from any thread; see "Jobs" at the top.
///
/// # Safety
/// `ctx` NULL or live; `store` NULL or NUL-terminated; `report_json` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lsdb_info(
    ctx: *const lsdb_context,
    store: *const c_char,
    report_json: *mut *mut c_char,
) -> lsdb_status {
    // SAFETY (every unsafe block): pointers as promised by the caller.
    job_call(unsafe { ctx.as_ref() }, unsafe { report_json.as_mut() }, |job| {
        let store = unsafe { optional_str(store, "store") }?;
        let (address, connection) = job.resolve(store)?;
        job.block_on(jobs::info(&connection, &address))
    })
}

/// Compares the stores `a` and `b` row by row (by table and primary key). Different stores are a
/// successful result, not an error. Options read: `max_differences` (default 100). Report:
/// `{a, b, rows_a, rows_b, differences, tables: [[table, rows_a, rows_b, differences]], equal,
/// first_differences: [{kind, …}], first_differences_truncated, data_versions, notes}` where `kind`
/// is `only_in_a`, `only_in_b` or `changed`. Stores of different data versions are compared row by
/// row as the newer version holds them: `data_versions` is then `[a, b]` (else null), and `notes`
/// lists `{kind: "expected" | "noticed", table, key, detail}` (what the migration does on purpose,
/// what is worth telling), which are not differences. linstor.toml settings (config dir) apply to
/// both stores.
///
/// Ownership: on success `*report_json` is a new string to free with lsdb_string_free, else NULL.
/// Thread safety: blocks until the job ends; cancel from any thread; see "Jobs" at the top.
///
/// # Safety
/// `ctx` NULL or live; string arguments NULL or NUL-terminated; `report_json` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lsdb_verify(
    ctx: *const lsdb_context,
    a: *const c_char,
    b: *const c_char,
    options_json: *const c_char,
    report_json: *mut *mut c_char,
) -> lsdb_status {
    // SAFETY (every unsafe block): pointers as promised by the caller.
    job_call(unsafe { ctx.as_ref() }, unsafe { report_json.as_mut() }, |job| {
        let a = unsafe { required_str(a, "a") }?;
        let b = unsafe { required_str(b, "b") }?;
        let options = unsafe { OptionsJson::parse(options_json) }?;
        let limit = options.max_differences.unwrap_or(DEFAULT_MAX_DIFFERENCES);
        let (address_a, connection) = job.resolve(Some(a))?;
        let (address_b, _) = job.resolve(Some(b))?;
        let mut listed: Vec<Difference> = Vec::new();
        let mut truncated = false;
        let report = job.block_on(jobs::verify(&connection, &address_a, &address_b, |difference| {
            if (listed.len() as u64) < limit {
                listed.push(difference.clone());
            } else {
                truncated = true;
            }
        }))?;
        let mut value = serde_json::to_value(&report).map_err(internal)?;
        value["equal"] = report.equal().into();
        value["first_differences"] = serde_json::to_value(&listed).map_err(internal)?;
        value["first_differences_truncated"] = truncated.into();
        Ok(value)
    })
}

/// Writes a synthetic, realistic LINSTOR database of about `rows` rows into `to` (a store or an
/// export file path), deterministic for `seed`. `data_version` is NULL (v1-31-1, LINSTOR 1.33) or
/// one of v1-19-1 … v1-33-1. Options read: `replace`. Report as lsdb_export.
///
/// Ownership: on success `*report_json` is a new string to free with lsdb_string_free, else NULL.
/// Thread safety: blocks until the job ends; cancel from any thread; see "Jobs" at the top.
///
/// # Safety
/// `ctx` NULL or live; string arguments NULL or NUL-terminated; `report_json` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lsdb_generate(
    ctx: *const lsdb_context,
    to: *const c_char,
    rows: u64,
    seed: u64,
    data_version: *const c_char,
    options_json: *const c_char,
    report_json: *mut *mut c_char,
) -> lsdb_status {
    // SAFETY (every unsafe block): pointers as promised by the caller.
    job_call(unsafe { ctx.as_ref() }, unsafe { report_json.as_mut() }, |job| {
        let to = unsafe { required_str(to, "to") }?;
        let data_version = match unsafe { optional_str(data_version, "data_version") }? {
            Some(text) => text.parse::<DataVersion>()?,
            None => DataVersion::V1_31_1,
        };
        let rows = usize::try_from(rows)
            .map_err(|_| FfiError::InvalidArgument { name: "rows", reason: "too large".into() })?;
        let options = unsafe { OptionsJson::parse(options_json) }?;
        let (address, connection) = job.resolve(Some(to))?;
        job.block_on(jobs::generate(&connection, rows, seed, data_version, &address, &job.options(&options)?))
    })
}

/// Backs up the store `from` (NULL: connection_url of linstor.toml) to `to`: a file (`.tar.gz`
/// archive) or `secret://NAMESPACE/NAME` (Kubernetes Secrets, never overwritten). The archive is read
/// back and checked before success is reported. Options read: `consistent`, `controller`,
/// `allow_running_controller` (as lsdb_export). Report: `{source, target, linstor_version,
/// data_version, tables: [{table, rows}], rows, bytes, sha256, parts, interrupted, revision}`
/// (`revision`: the store revision every table was read at).
///
/// Ownership: on success `*report_json` is a new string to free with lsdb_string_free, else NULL.
/// Thread safety: blocks until the job ends; cancel from any thread; see "Jobs" at the top.
///
/// # Safety
/// `ctx` NULL or live; string arguments NULL or NUL-terminated; `report_json` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lsdb_backup(
    ctx: *const lsdb_context,
    from: *const c_char,
    to: *const c_char,
    options_json: *const c_char,
    report_json: *mut *mut c_char,
) -> lsdb_status {
    // SAFETY (every unsafe block): pointers as promised by the caller.
    job_call(unsafe { ctx.as_ref() }, unsafe { report_json.as_mut() }, |job| {
        let from = unsafe { optional_str(from, "from") }?;
        let to = unsafe { required_str(to, "to") }?;
        let options = unsafe { OptionsJson::parse(options_json) }?;
        let (source, connection) = job.resolve(from)?;
        let target = StoreAddress::parse_backup_target(to)?;
        job.block_on(jobs::backup(&connection, &source, &target, &job.options(&options)?))
    })
}

/// Restores the backup `from` (a backup file or Secret, an export file, or another store) into the
/// store `to` (NULL: connection_url of linstor.toml). The backup is read completely first; a target
/// holding a database is refused unless `replace`, and then backed up first (to `backup_to`); the
/// result is verified row by row; a backup whose objects lack columns the API server pruned is refused
/// unless `accept_lost_columns`, and data LINSTOR would refuse to load is refused (LSDB_STATUS_REFUSED)
/// before anything is written. A k8s target whose LINSTOR CRDs store newer data than the backup (a
/// failed upgrade) is refused unless `replace` and `allow_downgrade`: then, after the safety backup,
/// its LINSTOR CRDs are deleted and created as the backup's release has them, and the controller
/// stopped by `controller` is left at 0 replicas (its image would migrate the data again). On etcd
/// `replace` already replaces every key; `allow_downgrade` changes nothing there. `allow_downgrade`
/// without `replace` is refused. Options read: `replace`, `dry_run`, `allow_downgrade`, `backup_to`,
/// `controller`, `allow_running_controller`, `accept_lost_columns`, `no_check`. Report: `{source,
/// target, dry_run, linstor_version, data_version, changes: [{table, add, remove, change}], rows,
/// previous_backup, controller, replaces ("replaces LINSTOR X data (vA) with LINSTOR Y data (vB)" or
/// null), downgrade, controller_left_stopped, next_steps: [text]}` (next_steps: the LINSTOR release
/// to run, how to pin its image with operator v1 and v2, start the controller, check).
///
/// Ownership: on success `*report_json` is a new string to free with lsdb_string_free, else NULL.
/// Thread safety: blocks until the job ends; cancel from any thread; see "Jobs" at the top.
///
/// # Safety
/// `ctx` NULL or live; string arguments NULL or NUL-terminated; `report_json` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lsdb_restore(
    ctx: *const lsdb_context,
    from: *const c_char,
    to: *const c_char,
    options_json: *const c_char,
    report_json: *mut *mut c_char,
) -> lsdb_status {
    // SAFETY (every unsafe block): pointers as promised by the caller.
    job_call(unsafe { ctx.as_ref() }, unsafe { report_json.as_mut() }, |job| {
        let from = unsafe { required_str(from, "from") }?;
        let to = unsafe { optional_str(to, "to") }?;
        let options = unsafe { OptionsJson::parse(options_json) }?;
        let (target, connection) = job.resolve(to)?;
        let source = StoreAddress::parse(from)?;
        job.block_on(jobs::restore(&connection, &source, &target, &job.options(&options)?))
    })
}

/// Migrates the live store `from` (NULL: connection_url of linstor.toml) into the store `to`, e.g.
/// etcd to `k8s`: backs up the source first (to `backup_to`, default a timestamped file in the
/// working directory), writes the target from that backup and verifies it row by row against the
/// source, which is never modified. Re-running after an interruption finishes the job; re-running
/// after success changes nothing. Data LINSTOR would refuse to load is refused (LSDB_STATUS_REFUSED)
/// after the backup, before the target is written. Options read: `replace`, `backup_to`,
/// `controller`, `allow_running_controller`, `no_check`. Report: `{source, target, backup, resumed,
/// already_migrated, rows, verify: {a, b, rows_a, rows_b, differences, tables}, controller,
/// next_steps: [text]}`.
///
/// Ownership: on success `*report_json` is a new string to free with lsdb_string_free, else NULL.
/// Thread safety: blocks until the job ends; cancel from any thread; see "Jobs" at the top.
///
/// # Safety
/// `ctx` NULL or live; string arguments NULL or NUL-terminated; `report_json` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lsdb_migrate(
    ctx: *const lsdb_context,
    from: *const c_char,
    to: *const c_char,
    options_json: *const c_char,
    report_json: *mut *mut c_char,
) -> lsdb_status {
    // SAFETY (every unsafe block): pointers as promised by the caller.
    job_call(unsafe { ctx.as_ref() }, unsafe { report_json.as_mut() }, |job| {
        let from = unsafe { optional_str(from, "from") }?;
        let to = unsafe { required_str(to, "to") }?;
        let options = unsafe { OptionsJson::parse(options_json) }?;
        let (source, connection) = job.resolve(from)?;
        let target = StoreAddress::parse(to)?;
        job.block_on(jobs::migrate(&connection, &source, &target, &job.options(&options)?))
    })
}

/// Lists the backup Secrets of a Kubernetes namespace, whatever their scheme. Report: a JSON array
/// of `{name, address, scheme, created, age_seconds, bytes, parts, complete, linstor_version,
/// data_version, rows, note}`; `address` (`secret://NAMESPACE/NAME`) is usable as a restore source.
///
/// Ownership: on success `*report_json` is a new string to free with lsdb_string_free, else NULL.
/// Thread safety: blocks until the job ends; cancel from any thread; see "Jobs" at the top.
///
/// # Safety
/// `ctx` NULL or live; `namespace` NULL or NUL-terminated; `report_json` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lsdb_list_backups(
    ctx: *const lsdb_context,
    namespace: *const c_char,
    report_json: *mut *mut c_char,
) -> lsdb_status {
    // SAFETY (every unsafe block): pointers as promised by the caller.
    job_call(unsafe { ctx.as_ref() }, unsafe { report_json.as_mut() }, |job| {
        let namespace = unsafe { required_str(namespace, "namespace") }?;
        let connection = job.connection_without_store()?;
        job.block_on(jobs::list_backups(&connection, namespace))
    })
}

/// Deletes the complete backups of Kubernetes namespace `namespace` beyond the `keep` newest complete
/// ones (`keep` at least 1) and, when `older_than_s` is not 0, only those at least that many seconds
/// old; with `dry_run`, deletes nothing. Never deletes the newest complete backup, one still being
/// written or one that cannot be read. Report: `{namespace, dry_run, deleted, choices: [{name,
/// address, scheme, age_seconds, delete, reason, secrets: [text]}]}`, newest first.
///
/// Ownership: on success `*report_json` is a new string to free with lsdb_string_free, else NULL.
/// Thread safety: blocks until the job ends; cancel from any thread; see "Jobs" at the top.
///
/// # Safety
/// `ctx` NULL or live; `namespace` NULL or NUL-terminated; `report_json` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lsdb_prune_backups(
    ctx: *const lsdb_context,
    namespace: *const c_char,
    keep: u32,
    older_than_s: u64,
    dry_run: bool,
    report_json: *mut *mut c_char,
) -> lsdb_status {
    // SAFETY (every unsafe block): pointers as promised by the caller.
    job_call(unsafe { ctx.as_ref() }, unsafe { report_json.as_mut() }, |job| {
        let namespace = unsafe { required_str(namespace, "namespace") }?;
        let connection = job.connection_without_store()?;
        let older_than = (older_than_s > 0).then(|| std::time::Duration::from_secs(older_than_s));
        job.block_on(jobs::prune_backups(&connection, namespace, keep as usize, older_than, dry_run))
    })
}

/// Deletes LINSTOR's database from `store` (NULL: connection_url of linstor.toml): every
/// internal.linstor.linbit.com CRD, or every key under the etcd prefix; only after the backup
/// `backup` verified equal to it row by row (else LSDB_STATUS_REFUSED). Options read: `controller`,
/// `allow_running_controller`. Report: `{store, backup, rows, deleted: [text]}`.
///
/// Ownership: on success `*report_json` is a new string to free with lsdb_string_free, else NULL.
/// Thread safety: blocks until the job ends; cancel from any thread; see "Jobs" at the top.
///
/// # Safety
/// `ctx` NULL or live; string arguments NULL or NUL-terminated; `report_json` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lsdb_purge(
    ctx: *const lsdb_context,
    store: *const c_char,
    backup: *const c_char,
    options_json: *const c_char,
    report_json: *mut *mut c_char,
) -> lsdb_status {
    // SAFETY (every unsafe block): pointers as promised by the caller.
    job_call(unsafe { ctx.as_ref() }, unsafe { report_json.as_mut() }, |job| {
        let store = unsafe { optional_str(store, "store") }?;
        let backup = unsafe { required_str(backup, "backup") }?;
        let options = unsafe { OptionsJson::parse(options_json) }?;
        let (address, connection) = job.resolve(store)?;
        let backup = StoreAddress::parse(backup)?;
        job.block_on(jobs::purge(&connection, &address, &backup, &job.options(&options)?))
    })
}

fn internal(error: serde_json::Error) -> FfiError {
    linstor_db_core::Error::Internal(format!("cannot serialise the report: {error}")).into()
}

//! The context handle: how to reach stores, the runtime jobs run on, cancellation, progress and the
//! message of the last call. Every exported function that takes a context goes through
//! [`context_call`] or [`job_call`], which catch panics and turn errors into a status and a message.

use std::ffi::{c_char, c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use linstor_db_core::backend::Connection;
use linstor_db_core::config::DbConfig;
use linstor_db_core::engine::{Progress, ProgressFn};
use linstor_db_core::jobs::{self, JobOptions};
use linstor_db_core::store::StoreAddress;
use linstor_db_core::Error as CoreError;

use crate::ffi::{into_c_string, optional_str, panic_message};
use crate::status::{lsdb_status, FfiError};

/// Called with the progress of a job, as a JSON object, one of
/// `{"kind":"table","table":"NODES","index":0,"total":61}` (a table starts; `index` counts from 0),
/// `{"kind":"rows","rows":1200}` (rows copied so far in the current copy, all tables) and
/// `{"kind":"step","step":"backup"}` (a job of several steps, such as migrate, starts one; the table
/// and row counts start again for each copy).
///
/// `progress_json` is valid only during the call. The callback runs on the thread that called the
/// job function, while that call is in progress; it must return quickly and must not call any
/// function of this library except lsdb_context_cancel.
pub type lsdb_progress_callback = Option<unsafe extern "C" fn(user_data: *mut c_void, progress_json: *const c_char)>;

/// The settings, runtime and state of a caller of this library. Create with lsdb_context_new, free
/// with lsdb_context_free. Opaque to C.
pub struct lsdb_context {
    settings: Mutex<Settings>,
    runtime: tokio::runtime::Runtime,
    cancel: Arc<AtomicBool>,
    busy: AtomicBool,
    last_error: Mutex<Option<String>>,
}

#[derive(Clone, Default)]
struct Settings {
    config_dir: Option<PathBuf>,
    kubeconfig: Option<PathBuf>,
    kube_context: Option<String>,
    retry_timeout: Option<std::time::Duration>,
    progress: Option<ProgressCallback>,
}

#[derive(Clone, Copy)]
struct ProgressCallback {
    function: unsafe extern "C" fn(*mut c_void, *const c_char),
    user_data: UserData,
}

/// The caller's `user_data`, passed back untouched.
#[derive(Clone, Copy)]
struct UserData(*mut c_void);

// SAFETY: the pointer is never dereferenced here, only handed back to the callback. The header tells
// the caller that the callback may run on any thread that calls a job, so what `user_data` points to
// must be usable from those threads: that is the caller's side of the contract.
unsafe impl Send for UserData {}
// SAFETY: as above.
unsafe impl Sync for UserData {}

#[derive(serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum ProgressEvent<'a> {
    Table { table: &'a str, index: usize, total: usize },
    Rows { rows: u64 },
    Step { step: &'a str },
}

impl lsdb_context {
    fn new() -> std::io::Result<lsdb_context> {
        // One thread per context: the job runs on the caller's thread inside `block_on`, and the
        // clients' background tasks are driven there too.
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        Ok(lsdb_context {
            settings: Mutex::new(Settings::default()),
            runtime,
            cancel: Arc::new(AtomicBool::new(false)),
            busy: AtomicBool::new(false),
            last_error: Mutex::new(None),
        })
    }

    fn settings(&self) -> MutexGuard<'_, Settings> {
        // A panic while the lock was held left plain data behind; it is still consistent.
        self.settings.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps the message of a failure; success leaves the previous message, so that cleanup calls
    /// after a failed job (such as removing the progress callback) do not erase it.
    fn record(&self, result: Result<(), FfiError>) -> lsdb_status {
        match result {
            Ok(()) => lsdb_status::Ok,
            Err(error) => {
                *self.last_error.lock().unwrap_or_else(PoisonError::into_inner) = Some(error.message());
                error.status()
            }
        }
    }
}

/// Marks the context busy for one job; clears the mark when dropped, also on panic.
struct BusyGuard<'a>(&'a AtomicBool);

impl<'a> BusyGuard<'a> {
    fn acquire(flag: &'a AtomicBool) -> Result<BusyGuard<'a>, FfiError> {
        flag.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).map_err(|_| FfiError::Busy)?;
        Ok(BusyGuard(flag))
    }
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Runs `body` for a call on a context (`None`: the C caller passed NULL, which gives
/// LSDB_STATUS_NULL_ARGUMENT): a panic gives LSDB_STATUS_PANIC, and a failure's message is kept as
/// the context's last error.
pub(crate) fn context_call(
    context: Option<&lsdb_context>,
    body: impl FnOnce(&lsdb_context) -> Result<(), FfiError>,
) -> lsdb_status {
    let Some(context) = context else {
        return lsdb_status::NullArgument;
    };
    let result = catch_unwind(AssertUnwindSafe(|| body(context)))
        .unwrap_or_else(|payload| Err(FfiError::Panic(panic_message(payload.as_ref()))));
    context.record(result)
}

/// What a job body gets: settings as they were when the job started, the runtime, the options.
pub(crate) struct Job<'a> {
    settings: Settings,
    runtime: &'a tokio::runtime::Runtime,
    cancel: Arc<AtomicBool>,
}

impl Job<'_> {
    /// Resolves a store address (`None`: `connection_url` of linstor.toml) and how to connect to it.
    pub(crate) fn resolve(&self, address: Option<&str>) -> Result<(StoreAddress, Connection), FfiError> {
        let (address, config) = jobs::resolve_store(self.settings.config_dir.as_deref(), address)?;
        Ok((address, self.connection(config)))
    }

    /// How to connect for a job without a store address: linstor.toml of the config dir if one is
    /// set, else defaults.
    pub(crate) fn connection_without_store(&self) -> Result<Connection, FfiError> {
        let config = match &self.settings.config_dir {
            Some(dir) => DbConfig::load(dir)?,
            None => DbConfig::default(),
        };
        Ok(self.connection(config))
    }

    fn connection(&self, config: DbConfig) -> Connection {
        Connection {
            config,
            kubeconfig: self.settings.kubeconfig.clone(),
            kube_context: self.settings.kube_context.clone(),
            config_dir: self.settings.config_dir.clone(),
            retry_timeout: self.settings.retry_timeout,
        }
    }

    /// Core job options from the caller's options, with this context's progress and cancel flag.
    pub(crate) fn options(&self, options: &OptionsJson) -> Result<JobOptions, FfiError> {
        let backup_to = options.backup_to.as_deref().map(StoreAddress::parse_backup_target).transpose()?;
        Ok(JobOptions {
            replace: options.replace,
            dry_run: options.dry_run,
            allow_downgrade: options.allow_downgrade,
            backup_to,
            controller: options.controller.clone(),
            allow_running_controller: options.allow_running_controller,
            accept_lost_columns: options.accept_lost_columns,
            no_check: options.no_check,
            consistency: options.consistent.as_deref().map(str::parse).transpose()?.unwrap_or_default(),
            progress: self.settings.progress.map(progress_fn),
            cancel: Some(self.cancel.clone()),
        })
    }

    /// Runs a job future to completion on the context's runtime.
    pub(crate) fn block_on<T>(
        &self,
        future: impl std::future::Future<Output = linstor_db_core::Result<T>>,
    ) -> Result<T, FfiError> {
        Ok(self.runtime.block_on(future)?)
    }
}

fn progress_fn(callback: ProgressCallback) -> ProgressFn {
    Arc::new(move |progress: &Progress| {
        let event = match progress {
            Progress::Table { name, index, total } => {
                ProgressEvent::Table { table: name, index: *index, total: *total }
            }
            Progress::Rows(rows) => ProgressEvent::Rows { rows: *rows },
            Progress::Step(step) => ProgressEvent::Step { step },
        };
        // Serialising two plain fields cannot fail, and JSON text has no NUL; skip the call if it did.
        let Some(json) = serde_json::to_string(&event).ok().and_then(|text| CString::new(text).ok()) else {
            return;
        };
        let user_data = callback.user_data;
        // SAFETY: the caller registered this function for this user_data and promised it stays valid
        // while jobs run (lsdb_context_set_progress).
        unsafe { (callback.function)(user_data.0, json.as_ptr()) };
    })
}

/// Job options as JSON, as on the command line. Unknown keys are refused so that typos do not pass.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct OptionsJson {
    /// Overwrite a target that already holds a LINSTOR database.
    pub replace: bool,
    /// Report what would change without writing (restore).
    pub dry_run: bool,
    /// With `replace`: restore older data over LINSTOR CRDs that store newer data (restore).
    pub allow_downgrade: bool,
    /// Where restore and migrate keep their safety backup.
    pub backup_to: Option<String>,
    /// The controller Deployment `NAMESPACE/NAME` to scale down while writing.
    pub controller: Option<String>,
    /// Write although a running controller was detected.
    pub allow_running_controller: bool,
    /// Restore a backup whose objects lack columns the API server pruned.
    pub accept_lost_columns: bool,
    /// Write data LINSTOR would refuse to load (import, restore, migrate check the rows first).
    pub no_check: bool,
    /// How backup and export read a running controller's Kubernetes database: `revision` (default)
    /// or `stopped-controller`.
    pub consistent: Option<String>,
    /// How many differences verify lists in its report (default 100).
    pub max_differences: Option<u64>,
}

impl OptionsJson {
    /// Parses the `options_json` argument; NULL or an empty string means defaults.
    ///
    /// # Safety
    /// `ptr` is NULL or a NUL-terminated string valid for the call.
    pub(crate) unsafe fn parse(ptr: *const c_char) -> Result<OptionsJson, FfiError> {
        // SAFETY: forwarded from the caller.
        match unsafe { optional_str(ptr, "options_json") }? {
            None => Ok(OptionsJson::default()),
            Some(text) if text.trim().is_empty() => Ok(OptionsJson::default()),
            Some(text) => serde_json::from_str(text)
                .map_err(|e| FfiError::InvalidArgument { name: "options_json", reason: e.to_string() }),
        }
    }
}

/// Runs a job for an exported job function (`None` arguments: the C caller passed NULL): refuses a
/// second concurrent job, honours a cancel that came before the start, and writes the report as JSON
/// into `report_json`, which is set to NULL first.
pub(crate) fn job_call<T: serde::Serialize>(
    context: Option<&lsdb_context>,
    report_json: Option<&mut *mut c_char>,
    body: impl FnOnce(&Job<'_>) -> Result<T, FfiError>,
) -> lsdb_status {
    context_call(context, |context| {
        let out = report_json.ok_or(FfiError::NullArgument("report_json"))?;
        *out = std::ptr::null_mut();
        let _busy = BusyGuard::acquire(&context.busy)?;
        if context.cancel.load(Ordering::Relaxed) {
            return Err(CoreError::Cancelled.into());
        }
        let job =
            Job { settings: context.settings().clone(), runtime: &context.runtime, cancel: context.cancel.clone() };
        let report = body(&job)?;
        let json = serde_json::to_string(&report)
            .map_err(|e| CoreError::Internal(format!("cannot serialise the report: {e}")))?;
        *out = into_c_string(json);
        Ok(())
    })
}

/// Creates a context with default settings: linstor.toml from /etc/linstor when a job needs it,
/// the Kubernetes configuration inferred ($KUBECONFIG, ~/.kube/config, in-cluster), no progress
/// callback, not cancelled.
///
/// Returns NULL only when the runtime cannot be created (no file descriptors or memory left).
/// Ownership: the caller owns the context and frees it with lsdb_context_free.
/// Thread safety: a context may be used from any thread and shared between threads; jobs on one
/// context run one at a time (a concurrent job returns LSDB_STATUS_BUSY).
#[no_mangle]
pub extern "C" fn lsdb_context_new() -> *mut lsdb_context {
    match catch_unwind(lsdb_context::new) {
        Ok(Ok(context)) => Box::into_raw(Box::new(context)),
        _ => std::ptr::null_mut(),
    }
}

/// Frees a context. NULL is ignored.
///
/// # Safety
/// `ctx` is NULL or a context from lsdb_context_new that is not freed yet, and no call on it is
/// running or will start on any thread (free it after every job has returned).
#[no_mangle]
pub unsafe extern "C" fn lsdb_context_free(ctx: *mut lsdb_context) {
    if ctx.is_null() {
        return;
    }
    // SAFETY: per the contract the pointer came from Box::into_raw in lsdb_context_new and is unique now.
    let context = unsafe { Box::from_raw(ctx) };
    // Dropping shuts the runtime down; a panic there must not unwind into C.
    let _ = catch_unwind(AssertUnwindSafe(move || drop(context)));
}

/// Sets the directory holding linstor.toml (as LINSTOR's `-c`); NULL restores the default
/// (/etc/linstor, where a missing file just means defaults when a job names its stores explicitly).
/// With a directory set, its linstor.toml must exist. It is read when a job starts, for etcd TLS,
/// credentials and prefix, and for the store when a job's address is NULL.
///
/// Returns LSDB_STATUS_NULL_ARGUMENT for a NULL context, LSDB_STATUS_INVALID_UTF8 for a non-UTF-8 path.
/// Thread safety: any thread; takes effect for jobs that start afterwards.
///
/// # Safety
/// `ctx` is NULL or a live context; `dir` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn lsdb_context_set_config_dir(ctx: *mut lsdb_context, dir: *const c_char) -> lsdb_status {
    // SAFETY (both blocks): per the contract.
    context_call(unsafe { ctx.as_ref() }, |context| {
        let dir = unsafe { optional_str(dir, "dir") }?;
        context.settings().config_dir = dir.map(PathBuf::from);
        Ok(())
    })
}

/// Sets the kubeconfig file for `k8s` stores; NULL infers it ($KUBECONFIG, ~/.kube/config, or the
/// in-cluster service account).
///
/// Returns and thread safety as lsdb_context_set_config_dir.
///
/// # Safety
/// `ctx` is NULL or a live context; `path` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn lsdb_context_set_kubeconfig(ctx: *mut lsdb_context, path: *const c_char) -> lsdb_status {
    // SAFETY (both blocks): per the contract.
    context_call(unsafe { ctx.as_ref() }, |context| {
        let path = unsafe { optional_str(path, "path") }?;
        context.settings().kubeconfig = path.map(|p| Path::new(p).to_path_buf());
        Ok(())
    })
}

/// Sets the kubeconfig context for `k8s` stores; NULL uses the current context.
///
/// Returns and thread safety as lsdb_context_set_config_dir.
///
/// # Safety
/// `ctx` is NULL or a live context; `name` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn lsdb_context_set_kube_context(ctx: *mut lsdb_context, name: *const c_char) -> lsdb_status {
    // SAFETY (both blocks): per the contract.
    context_call(unsafe { ctx.as_ref() }, |context| {
        let name = unsafe { optional_str(name, "name") }?;
        context.settings().kube_context = name.map(str::to_owned);
        Ok(())
    })
}

/// Sets how long a job keeps retrying a store that fails with transient errors (an etcd member down,
/// a leader election, an API server that does not answer) without any request succeeding, in
/// seconds; 0 restores the default (180). Then the job fails with LSDB_STATUS_STORE_REQUEST (or
/// LSDB_STATUS_WRITE_INTERRUPTED once it wrote), saying what it waited for. While it retries, it
/// logs what it waits for as a warning (through `tracing`, if the caller installed a subscriber).
///
/// Returns LSDB_STATUS_NULL_ARGUMENT for a NULL context.
/// Thread safety: any thread; takes effect for jobs that start afterwards.
///
/// # Safety
/// `ctx` is NULL or a live context.
#[no_mangle]
pub unsafe extern "C" fn lsdb_context_set_retry_timeout(ctx: *mut lsdb_context, seconds: u64) -> lsdb_status {
    // SAFETY: per the contract.
    context_call(unsafe { ctx.as_ref() }, |context| {
        context.settings().retry_timeout = (seconds > 0).then(|| std::time::Duration::from_secs(seconds));
        Ok(())
    })
}

/// Sets the progress callback of later jobs (see lsdb_progress_callback); NULL removes it.
/// `user_data` is passed back untouched on every call.
///
/// Ownership: `user_data` stays the caller's; it must remain valid until the callback is replaced or
/// removed and no job started before that is still running, or until the context is freed.
/// Thread safety: any thread; takes effect for jobs that start afterwards. The callback runs on the
/// thread that called the job, so `user_data` must be usable there.
///
/// # Safety
/// `ctx` is NULL or a live context; `callback`, if not NULL, is a function of the declared type.
#[no_mangle]
pub unsafe extern "C" fn lsdb_context_set_progress(
    ctx: *mut lsdb_context,
    callback: lsdb_progress_callback,
    user_data: *mut c_void,
) -> lsdb_status {
    // SAFETY: per the contract.
    context_call(unsafe { ctx.as_ref() }, |context| {
        context.settings().progress =
            callback.map(|function| ProgressCallback { function, user_data: UserData(user_data) });
        Ok(())
    })
}

/// Cancels: the running job stops at its next batch and returns LSDB_STATUS_CANCELLED, and every job
/// started afterwards returns LSDB_STATUS_CANCELLED at once, until lsdb_context_reset_cancel. (The
/// flag stays set so that a cancel that races with the start of a job is never lost.) A write target
/// of a cancelled job is marked as an incomplete import; re-run with `"replace": true` to finish it.
///
/// Returns LSDB_STATUS_OK, or LSDB_STATUS_NULL_ARGUMENT for a NULL context. Does not change the
/// context's last error.
/// Thread safety: meant to be called from another thread (or from the progress callback) while a job
/// runs; it only sets an atomic flag.
///
/// # Safety
/// `ctx` is NULL or a live context.
#[no_mangle]
pub unsafe extern "C" fn lsdb_context_cancel(ctx: *const lsdb_context) -> lsdb_status {
    // SAFETY: per the contract.
    match unsafe { ctx.as_ref() } {
        Some(context) => {
            context.cancel.store(true, Ordering::Relaxed);
            lsdb_status::Ok
        }
        None => lsdb_status::NullArgument,
    }
}

/// Clears the cancel flag so that jobs can run again on this context.
///
/// Returns LSDB_STATUS_OK, or LSDB_STATUS_NULL_ARGUMENT for a NULL context. Does not change the
/// context's last error.
/// Thread safety: any thread; clearing it while a job runs lets that job continue if it has not yet
/// seen the flag.
///
/// # Safety
/// `ctx` is NULL or a live context.
#[no_mangle]
pub unsafe extern "C" fn lsdb_context_reset_cancel(ctx: *const lsdb_context) -> lsdb_status {
    // SAFETY: per the contract.
    match unsafe { ctx.as_ref() } {
        Some(context) => {
            context.cancel.store(false, Ordering::Relaxed);
            lsdb_status::Ok
        }
        None => lsdb_status::NullArgument,
    }
}

/// The message of the most recent failed call on this context: what failed and what to do. NULL if
/// no call failed yet. Successful calls leave it unchanged, so read it right after a call returned a
/// status other than LSDB_STATUS_OK.
///
/// Ownership: returns a new string the caller frees with lsdb_string_free, or NULL (also for a NULL
/// context).
/// Thread safety: any thread. With several threads calling jobs on one context the most recent call
/// wins; read it on the thread that made the failing call, before that thread makes another call.
///
/// # Safety
/// `ctx` is NULL or a live context.
#[no_mangle]
pub unsafe extern "C" fn lsdb_context_last_error(ctx: *const lsdb_context) -> *mut c_char {
    // SAFETY: per the contract.
    let Some(context) = (unsafe { ctx.as_ref() }) else {
        return std::ptr::null_mut();
    };
    catch_unwind(AssertUnwindSafe(|| {
        let message = context.last_error.lock().unwrap_or_else(PoisonError::into_inner).clone();
        message.map_or(std::ptr::null_mut(), into_c_string)
    }))
    .unwrap_or(std::ptr::null_mut())
}

//! Status codes of the C ABI, and how every error of this crate and of the core maps onto them.

use std::ffi::c_char;

use linstor_db_core::Error as CoreError;

/// The outcome of a call. 0 is success; every other value names a kind of failure, and the context's
/// message (lsdb_context_last_error) says what exactly failed and what to do.
///
/// Values are stable: a code is never renumbered or reused. New kinds of failure may be added, so
/// treat an unknown value like LSDB_STATUS_ERROR.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum lsdb_status {
    /// Success.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullArgument = 1,
    /// A string argument was not valid UTF-8.
    InvalidUtf8 = 2,
    /// An argument had a wrong value: options that are not a JSON object of known keys, an unknown
    /// data version, a row count that does not fit.
    InvalidArgument = 3,
    /// Another job is running on this context; use one context per concurrent job.
    Busy = 4,
    /// A bug: a Rust panic was caught at the boundary. The context stays usable.
    Panic = 5,
    /// A bug or resource problem inside the library (an internal task failed).
    Internal = 6,
    /// The job was cancelled (lsdb_context_cancel). A write target is then marked as an incomplete
    /// import; the message says how to finish or undo it.
    Cancelled = 7,
    /// linstor.toml (or a file it names, such as a TLS certificate) is missing or invalid.
    Config = 10,
    /// A store address this library cannot use.
    InvalidStore = 11,
    /// Connecting to etcd or to the Kubernetes API failed.
    Connect = 12,
    /// The Kubernetes API refused a request for lack of permission.
    Forbidden = 13,
    /// A request to etcd or to the Kubernetes API failed after connecting, or the store kept failing
    /// with transient errors for longer than the retry timeout (lsdb_context_set_retry_timeout).
    StoreRequest = 14,
    /// A file could not be opened, created or written.
    File = 15,
    /// An export file or a stored row is not valid.
    CorruptData = 16,
    /// The store holds no usable LINSTOR database.
    NotLinstor = 17,
    /// The data or store version is outside what this library supports.
    UnsupportedVersion = 18,
    /// The target already holds a LINSTOR database; nothing was written. Pass `"replace": true`.
    TargetNotEmpty = 19,
    /// The store holds an import that did not finish.
    IncompleteImport = 20,
    /// A write failed part-way; the target is marked as an incomplete import.
    WriteInterrupted = 21,
    /// A backup Secret of that name exists already; backups are never overwritten.
    BackupExists = 22,
    /// A running LINSTOR controller would race with the write. Stop it, or pass `controller` (to let
    /// the job scale it down and up) or `allow_running_controller`.
    ControllerRunning = 23,
    /// The LINSTOR controller Deployment could not be stopped or started again.
    Controller = 24,
    /// After writing, the target does not hold what was written.
    VerifyFailed = 25,
    /// A job was refused because its safety condition does not hold (purge; import, restore and migrate
    /// of data LINSTOR would refuse to load, see `no_check`).
    Refused = 26,
    /// Any other failure.
    Error = 99,
}

impl lsdb_status {
    /// One sentence about the code, independent of the call.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            lsdb_status::Ok => "success\0",
            lsdb_status::NullArgument => "a required pointer argument was NULL\0",
            lsdb_status::InvalidUtf8 => "a string argument was not valid UTF-8\0",
            lsdb_status::InvalidArgument => "an argument had an invalid value\0",
            lsdb_status::Busy => "another job is running on this context\0",
            lsdb_status::Panic => "internal error: a panic was caught at the C boundary\0",
            lsdb_status::Internal => "internal error\0",
            lsdb_status::Cancelled => "the job was cancelled\0",
            lsdb_status::Config => "the LINSTOR configuration is missing or invalid\0",
            lsdb_status::InvalidStore => "the store address is not usable\0",
            lsdb_status::Connect => "cannot connect to the store\0",
            lsdb_status::Forbidden => "the Kubernetes API refused a request for lack of permission\0",
            lsdb_status::StoreRequest => "a request to the store failed\0",
            lsdb_status::File => "a file could not be opened, created or written\0",
            lsdb_status::CorruptData => "the data is not a valid LINSTOR database\0",
            lsdb_status::NotLinstor => "the store holds no usable LINSTOR database\0",
            lsdb_status::UnsupportedVersion => "the data version is not supported\0",
            lsdb_status::TargetNotEmpty => "the target already holds a LINSTOR database\0",
            lsdb_status::IncompleteImport => "the store holds an incomplete import\0",
            lsdb_status::WriteInterrupted => "a write failed part-way; the target is marked incomplete\0",
            lsdb_status::BackupExists => "the backup exists already\0",
            lsdb_status::ControllerRunning => "a running LINSTOR controller would race with the write\0",
            lsdb_status::Controller => "the LINSTOR controller could not be stopped or started\0",
            lsdb_status::VerifyFailed => "verification after writing failed\0",
            lsdb_status::Refused => "refused: the safety condition does not hold\0",
            lsdb_status::Error => "error\0",
        }
    }

    fn from_u32(value: u32) -> Option<lsdb_status> {
        ALL_STATUSES.iter().copied().find(|s| *s as u32 == value)
    }
}

/// Every status, for lookups by number (add new variants here too).
const ALL_STATUSES: [lsdb_status; 26] = [
    lsdb_status::Ok,
    lsdb_status::NullArgument,
    lsdb_status::InvalidUtf8,
    lsdb_status::InvalidArgument,
    lsdb_status::Busy,
    lsdb_status::Panic,
    lsdb_status::Internal,
    lsdb_status::Cancelled,
    lsdb_status::Config,
    lsdb_status::InvalidStore,
    lsdb_status::Connect,
    lsdb_status::Forbidden,
    lsdb_status::StoreRequest,
    lsdb_status::File,
    lsdb_status::CorruptData,
    lsdb_status::NotLinstor,
    lsdb_status::UnsupportedVersion,
    lsdb_status::TargetNotEmpty,
    lsdb_status::IncompleteImport,
    lsdb_status::WriteInterrupted,
    lsdb_status::BackupExists,
    lsdb_status::ControllerRunning,
    lsdb_status::Controller,
    lsdb_status::VerifyFailed,
    lsdb_status::Refused,
    lsdb_status::Error,
];

/// The failures of a call through the C ABI.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FfiError {
    /// A required pointer was NULL.
    #[error("argument `{0}` is NULL")]
    NullArgument(&'static str),
    /// A string was not UTF-8.
    #[error("argument `{name}` is not valid UTF-8: {source}")]
    InvalidUtf8 {
        /// The parameter.
        name: &'static str,
        /// Where it went wrong.
        source: std::str::Utf8Error,
    },
    /// A value that cannot be used.
    #[error("argument `{name}`: {reason}")]
    InvalidArgument {
        /// The parameter.
        name: &'static str,
        /// Why.
        reason: String,
    },
    /// The context already runs a job.
    #[error("another job is running on this context; use one context per concurrent job")]
    Busy,
    /// A panic caught at the boundary.
    #[error("internal error (panic): {0}")]
    Panic(String),
    /// The core failed.
    #[error(transparent)]
    Core(#[from] CoreError),
}

impl FfiError {
    /// The status code of this error.
    pub(crate) fn status(&self) -> lsdb_status {
        match self {
            FfiError::NullArgument(_) => lsdb_status::NullArgument,
            FfiError::InvalidUtf8 { .. } => lsdb_status::InvalidUtf8,
            FfiError::InvalidArgument { .. } => lsdb_status::InvalidArgument,
            FfiError::Busy => lsdb_status::Busy,
            FfiError::Panic(_) => lsdb_status::Panic,
            FfiError::Core(error) => core_status(error),
        }
    }

    /// The message with its causes, each cause once (the core often repeats its cause in its own text).
    pub(crate) fn message(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            let part = c.to_string();
            if !text.contains(&part) {
                text.push_str(": ");
                text.push_str(&part);
            }
            cause = c.source();
        }
        text
    }
}

fn core_status(error: &CoreError) -> lsdb_status {
    match error {
        CoreError::ConfigMissing { .. }
        | CoreError::ConfigUnreadable { .. }
        | CoreError::ConfigParse { .. }
        | CoreError::Tls { .. } => lsdb_status::Config,
        CoreError::InvalidStore { .. } => lsdb_status::InvalidStore,
        CoreError::UnknownDataVersion { .. }
        | CoreError::UnknownTable { .. }
        | CoreError::TooNew { .. }
        | CoreError::UnsupportedVersion { .. }
        | CoreError::DataVersionNotSupported { .. } => lsdb_status::UnsupportedVersion,
        CoreError::File { .. } => lsdb_status::File,
        CoreError::CorruptExport { .. } | CoreError::InvalidRow { .. } | CoreError::CorruptBackup { .. } => {
            lsdb_status::CorruptData
        }
        CoreError::NotLinstor { .. } => lsdb_status::NotLinstor,
        CoreError::TargetNotEmpty { .. } => lsdb_status::TargetNotEmpty,
        CoreError::IncompleteImport { .. } => lsdb_status::IncompleteImport,
        // A cancelled copy is reported as interrupted by the core; callers ask "was it cancelled?".
        CoreError::WriteInterrupted { source, .. } if matches!(**source, CoreError::Cancelled) => {
            lsdb_status::Cancelled
        }
        CoreError::WriteInterrupted { .. } => lsdb_status::WriteInterrupted,
        CoreError::EtcdConnect { .. } | CoreError::K8sConnect { .. } => lsdb_status::Connect,
        CoreError::Etcd { .. }
        | CoreError::K8s { .. }
        | CoreError::StoreUnavailable { .. }
        | CoreError::NoConsistentRevision { .. } => lsdb_status::StoreRequest,
        CoreError::K8sForbidden { .. } => lsdb_status::Forbidden,
        CoreError::BackupExists { .. } | CoreError::BackupLeftovers { .. } => lsdb_status::BackupExists,
        CoreError::ControllerRunning { .. } => lsdb_status::ControllerRunning,
        CoreError::Controller { .. } => lsdb_status::Controller,
        CoreError::VerifyFailed { .. } => lsdb_status::VerifyFailed,
        CoreError::Refused(_) | CoreError::CheckFailed { .. } | CoreError::TargetLocked { .. } => lsdb_status::Refused,
        CoreError::InvalidArgument(_) => lsdb_status::InvalidArgument,
        CoreError::Cancelled => lsdb_status::Cancelled,
        CoreError::Internal(_) => lsdb_status::Internal,
        _ => lsdb_status::Error,
    }
}

/// A sentence describing a status code, for callers without a context message (for example after
/// LSDB_STATUS_NULL_ARGUMENT on the context itself).
///
/// Returns a static NUL-terminated string, never NULL and never to be freed; an unknown code gives
/// "unknown status". Thread safety: callable from any thread at any time.
#[no_mangle]
pub extern "C" fn lsdb_status_describe(status: u32) -> *const c_char {
    let text = lsdb_status::from_u32(status).map_or("unknown status\0", lsdb_status::describe);
    text.as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_is_listed_once_and_described() {
        let mut values: Vec<u32> = ALL_STATUSES.iter().map(|s| *s as u32).collect();
        values.sort_unstable();
        values.dedup();
        assert_eq!(values.len(), ALL_STATUSES.len());
        for status in ALL_STATUSES {
            assert!(status.describe().ends_with('\0'));
            assert_eq!(lsdb_status::from_u32(status as u32), Some(status));
        }
        assert_eq!(lsdb_status::from_u32(1234), None);
    }

    #[test]
    fn cancelled_copy_is_cancelled_not_interrupted() {
        let error = FfiError::Core(CoreError::WriteInterrupted {
            store: "etcd://x".into(),
            rows_written: 3,
            recovery: "It is marked as an incomplete import.".into(),
            source: Box::new(CoreError::Cancelled),
        });
        assert_eq!(error.status(), lsdb_status::Cancelled);
        assert!(error.message().contains("incomplete import"), "{}", error.message());
    }

    #[test]
    fn message_lists_a_cause_once() {
        let error = FfiError::Core(CoreError::File {
            action: "open",
            path: "/nope".into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
        assert_eq!(error.message(), "cannot open /nope: no such file");
    }
}

//! One writer per target (issue 14, item 4): two jobs writing one etcd prefix or one cluster at once
//! left a merge of both databases. A writer records itself ([`Holder`]) beside the in-progress
//! marker in the same atomic step that sets the marker, and renews the record while it writes; a
//! second writer finds it and is refused, naming the holder. A record that is not renewed lapses
//! after [`LOCK_TTL`], and one whose process is gone from this host (a killed job) is taken over at
//! once, so that the printed recovery of a killed job runs without waiting.

use std::time::Duration;

use crate::export::now_ms;
use crate::k8s_layout::rfc3339_utc;

/// How long a holder's record outlives its last renewal.
pub const LOCK_TTL: Duration = Duration::from_secs(20);
/// How often a writer renews its record.
pub const LOCK_RENEW: Duration = Duration::from_secs(5);

/// Who writes a target.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Holder {
    /// `linstor-db VERSION`.
    pub tool: String,
    /// The writer's host name.
    pub host: String,
    /// The writer's process id.
    pub pid: u32,
    /// When it took the lock (epoch ms).
    pub started_ms: i64,
    /// When it last renewed the record (epoch ms; Kubernetes, where no lease expires it).
    #[serde(default)]
    pub renewed_ms: i64,
}

impl Holder {
    /// This process, now.
    pub fn this_process() -> Holder {
        let now = now_ms();
        Holder {
            tool: format!("linstor-db {}", crate::TOOL_VERSION),
            host: host_name(),
            pid: std::process::id(),
            started_ms: now,
            renewed_ms: now,
        }
    }

    /// Parses a stored record; an unreadable one is treated as held by someone unknown.
    pub fn parse(text: &str) -> Holder {
        serde_json::from_str(text).unwrap_or_else(|_| Holder {
            tool: format!("an unknown writer ({})", text.chars().take(80).collect::<String>()),
            host: String::new(),
            pid: 0,
            started_ms: 0,
            renewed_ms: 0,
        })
    }

    /// The record as stored.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Its process ran on this host and is gone: nobody renews the record any more.
    pub fn is_gone(&self) -> bool {
        self.pid != 0 && self.host == host_name() && process_gone(self.pid)
    }

    /// Its process renewed the record within [`LOCK_TTL`] (Kubernetes) and is not known to be gone.
    pub fn is_live(&self, now_ms: i64) -> bool {
        !self.is_gone() && now_ms - self.renewed_ms < LOCK_TTL.as_millis() as i64
    }

    /// `linstor-db 0.1.0, pid 4242 on host-a since 2026-12-01T23:10:00Z`.
    pub fn describe(&self) -> String {
        format!("{}, pid {} on {} since {}", self.tool, self.pid, self.host, rfc3339_utc(self.started_ms))
    }
}

/// No process `pid` runs here (Linux: no `/proc/PID`); false where that cannot be told.
pub fn process_gone(pid: u32) -> bool {
    let proc = std::path::Path::new("/proc");
    proc.join("self").exists() && !proc.join(pid.to_string()).exists()
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_is_live_until_its_process_is_gone_or_its_record_lapses() {
        let me = Holder::this_process();
        assert!(!me.is_gone());
        assert!(me.is_live(now_ms()));
        assert!(!me.is_live(now_ms() + LOCK_TTL.as_millis() as i64 + 1));
        // A pid above the kernel's limit never runs.
        let killed = Holder { pid: 4_194_304 + 1, ..me.clone() };
        assert!(killed.is_gone() && !killed.is_live(now_ms()));
        let elsewhere = Holder { host: "another-host".into(), ..killed };
        assert!(!elsewhere.is_gone(), "a process on another host cannot be seen from here");
        assert_eq!(Holder::parse(&me.to_json()), me);
        assert!(Holder::parse("garbage").describe().contains("an unknown writer (garbage)"));
    }
}

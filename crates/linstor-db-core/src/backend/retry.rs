//! Retrying transient store errors under one deadline: a store that answers nothing useful for
//! `retry_timeout` (counted from its last successful request, not from the first failure of each
//! request) is given up on, however many requests are retrying at once. Shared by etcd and k8s.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::error::Error;

/// How often one store may warn about waiting: requests in flight fail together.
const WARN_EVERY: Duration = Duration::from_secs(10);
/// The longest one request may go without an answer: the API server's own `--request-timeout`,
/// past which it answers 504 itself, so waiting longer only hides a server that stopped.
const MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How long one request may go without an answer: a third of the retry timeout (so that a request
/// to a stopped server is retried a few times before the job gives up), at most a minute.
pub(crate) fn request_timeout(retry_timeout: Duration) -> Duration {
    (retry_timeout / 3).clamp(Duration::from_millis(100), MAX_REQUEST_TIMEOUT)
}

/// The progress of one store's requests; clones share it.
#[derive(Clone, Debug)]
pub(crate) struct Patience {
    timeout: Duration,
    state: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    last_success: Instant,
    last_warning: Option<Instant>,
}

impl Patience {
    /// Patience of `timeout` without progress, counted from now.
    pub(crate) fn new(timeout: Duration) -> Patience {
        Patience { timeout, state: Arc::new(Mutex::new(State { last_success: Instant::now(), last_warning: None })) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Plain timestamps stay consistent even if a holder panicked.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A request succeeded: the store makes progress.
    pub(crate) fn progressed(&self) {
        self.state().last_success = Instant::now();
    }

    /// For a request failing since `since`: how long it may still retry, or `Err` with how long
    /// the store has made no progress once the deadline passed.
    pub(crate) fn left(&self, since: Instant) -> Result<Duration, Duration> {
        let stalled = self.state().last_success.max(since).elapsed();
        self.timeout.checked_sub(stalled).filter(|left| !left.is_zero()).ok_or(stalled)
    }

    /// Warns (on stderr in the CLI) what the store is waiting for, at most every [`WARN_EVERY`].
    pub(crate) fn warn(&self, waiting_for: impl FnOnce() -> String, left: Duration) {
        {
            let mut state = self.state();
            let now = Instant::now();
            if state.last_warning.is_some_and(|at| now.duration_since(at) < WARN_EVERY) {
                return;
            }
            state.last_warning = Some(now);
        }
        tracing::warn!("{}; giving up in {} (--retry-timeout)", waiting_for(), human(left));
    }

    /// The error once the deadline passed; `cause` is the last failure.
    pub(crate) fn gave_up(&self, store: String, stalled: Duration, cause: Error) -> Error {
        Error::StoreUnavailable {
            store,
            stalled: human(stalled),
            timeout: human(self.timeout),
            source: Box::new(cause),
        }
    }
}

/// Exponential back-off between attempts.
pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    /// Delays from `first`, doubling up to `max`.
    pub(crate) fn new(first: Duration, max: Duration) -> Backoff {
        Backoff { next: first, max }
    }

    /// The delay before the next attempt, never beyond `left`.
    pub(crate) fn delay(&mut self, left: Duration) -> Duration {
        let delay = self.next.min(left);
        self.next = (self.next * 2).min(self.max);
        delay
    }
}

/// `2m30s`, `45s`, `1.5s`: how long, for messages.
pub fn human(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        0..=9 if duration.subsec_millis() >= 100 => format!("{:.1}s", duration.as_secs_f64()),
        0..=59 => format!("{secs}s"),
        _ if secs % 60 == 0 => format!("{}m", secs / 60),
        _ => format!("{}m{}s", secs / 60, secs % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_written_on_the_command_line() {
        assert_eq!(human(Duration::from_secs(150)), "2m30s");
        assert_eq!(human(Duration::from_secs(180)), "3m");
        assert_eq!(human(Duration::from_secs(30)), "30s");
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_and_never_past_the_deadline() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(300));
        let long = Duration::from_secs(60);
        let delays: Vec<_> = (0..4).map(|_| backoff.delay(long).as_millis()).collect();
        assert_eq!(delays, [100, 200, 300, 300]);
        assert_eq!(backoff.delay(Duration::from_millis(7)), Duration::from_millis(7));
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_counts_from_the_last_progress_of_any_request() {
        let patience = Patience::new(Duration::from_secs(10));
        let failing_since = Instant::now();
        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(patience.left(failing_since), Ok(Duration::from_secs(4)));
        // Another request succeeded: this one may wait again.
        patience.progressed();
        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(patience.left(failing_since), Ok(Duration::from_secs(4)));
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(patience.left(failing_since), Err(Duration::from_secs(11)));
        // A request that only starts failing now still gets no more than the store's patience.
        let later = Instant::now();
        assert_eq!(patience.left(later), Ok(Duration::from_secs(10)));
    }
}

//! Throttled logs: one line per interval at most, with the count of events since the last.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How often at most a refused or closed connection is logged (with the count since).
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// Counts events and says when one is due to be logged: the first, then the first after each
/// `every`, with how many happened since the last line.
#[derive(Debug)]
pub struct Throttle {
    every: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl Throttle {
    /// At most one line per `every`.
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            state: Mutex::new((None, 0)),
        }
    }

    /// Counts an event at `now`; `Some(count)` when a line is due (the count includes this one).
    pub fn hit(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (last, count) = &mut *state;
        *count = count.saturating_add(1);
        let due = last.is_none_or(|last| now.saturating_duration_since(last) >= self.every);
        if due {
            *last = Some(now);
            Some(std::mem::take(count))
        } else {
            None
        }
    }
}

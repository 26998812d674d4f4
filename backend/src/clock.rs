//! Time as the token manager sees it, so tests can move it by hand.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix seconds now.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    fn now(&self) -> i64;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }
}

/// Test doubles: only with the `test-util` feature (this crate's integration
/// tests) or in its own unit tests, never in a production build.
#[cfg(any(test, feature = "test-util"))]
mod manual {
    use super::{Clock, SystemClock};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, Ordering};

    /// A clock that moves only when told to.
    #[derive(Debug, Clone)]
    pub struct ManualClock(Arc<AtomicI64>);

    impl ManualClock {
        /// Starts at the system time.
        pub fn new() -> Self {
            Self(Arc::new(AtomicI64::new(SystemClock.now())))
        }

        pub fn advance(&self, seconds: i64) {
            self.0.fetch_add(seconds, Ordering::SeqCst);
        }
    }

    impl Default for ManualClock {
        fn default() -> Self {
            Self::new()
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> i64 {
            self.0.load(Ordering::SeqCst)
        }
    }
}

#[cfg(any(test, feature = "test-util"))]
pub use manual::ManualClock;

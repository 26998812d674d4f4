//! The in-process half of exactly-once: one flight per order key.
//!
//! The first request for a key spawns its work and records the flight; every
//! request for the same key arriving while it runs awaits that same task and
//! gets its result. The work is spawned so that a browser hanging up cannot
//! cancel an order halfway (sent upstream, answer never recorded). The entry
//! is removed by the task itself when it ends, so the next request for the
//! key starts afresh and consults the ledger, which holds the definite
//! answers. Same shape as the token manager's refresh flight.

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

/// Keyed single flight whose results are cloned to every waiter.
pub struct Flights<T: Clone + Send + Sync + 'static> {
    inflight: Arc<Mutex<HashMap<String, Shared<BoxFuture<'static, T>>>>>,
}

impl<T: Clone + Send + Sync + 'static> std::fmt::Debug for Flights<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flights").finish_non_exhaustive()
    }
}

impl<T: Clone + Send + Sync + 'static> Default for Flights<T> {
    fn default() -> Self {
        Self {
            inflight: Arc::default(),
        }
    }
}

impl<T: Clone + Send + Sync + 'static> Flights<T> {
    /// Runs `work` for `key` unless a flight for it is running, in which case
    /// `work` is dropped unstarted and the running flight's result returned.
    /// The `bool` is `true` for a caller that joined another's flight.
    ///
    /// `failed` turns a task that panicked into a result.
    pub async fn run<F>(&self, key: &str, work: F, failed: fn() -> T) -> (T, bool)
    where
        F: Future<Output = T> + Send + 'static,
    {
        let (flight, joined) = {
            let mut inflight = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
            match inflight.get(key) {
                Some(flight) => (flight.clone(), true),
                None => {
                    let map = Arc::clone(&self.inflight);
                    let owned = key.to_owned();
                    let task = tokio::spawn(async move {
                        // Removed even if `work` panics.
                        let _leave = Leave { map, key: owned };
                        work.await
                    });
                    let flight = async move { task.await.unwrap_or_else(|_| failed()) }
                        .boxed()
                        .shared();
                    inflight.insert(key.to_owned(), flight.clone());
                    (flight, false)
                }
            }
        };
        (flight.await, joined)
    }

    /// Callers holding `key`'s flight now, the starter included (tests wait
    /// for all of them before letting the work finish).
    pub fn holders(&self, key: &str) -> usize {
        let inflight = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
        inflight
            .get(key)
            .and_then(Shared::strong_count)
            .map_or(0, |n| n.saturating_sub(1))
    }
}

/// Takes a finished flight out of the map.
struct Leave<T: Clone + Send + Sync + 'static> {
    map: Arc<Mutex<HashMap<String, Shared<BoxFuture<'static, T>>>>>,
    key: String,
}

impl<T: Clone + Send + Sync + 'static> Drop for Leave<T> {
    fn drop(&mut self) {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key);
    }
}

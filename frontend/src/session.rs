//! The browser's view of its session: `/api/ts/status`, a one-second clock
//! for the countdown, and the notices that explain a sign-out.
//!
//! Provided once by [`crate::App`] as context. The backend's `/status` only
//! reports and never refreshes tokens, so the countdown can reach zero while a refresh
//! token is held; the backend refreshes on the next data request, and the
//! next poll (every [`POLL_SECS`] while signed in) moves `expires_at`
//! forward, which is the "jump" a person sees.
//!
//! Views ask [`Session::auth`], a memo that changes only on sign-in/out, so a
//! poll does not re-render (and reconnect) what sits behind it.

use leptos::prelude::*;
use shared::api::StatusResponse;

use crate::api::{self, ApiError};
use crate::clock;

/// How often `/status` is polled while signed in.
pub const POLL_SECS: i64 = 15;

/// Why the person is looking at a signed-out page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// They signed out here; `everywhere` when the backend revoked the
    /// refresh token, which TradeStation applies to every session.
    SignedOut { everywhere: bool },
    /// A request answered `session_expired`.
    SessionEnded,
}

/// Coarse state for choosing a view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// First `/status` not back yet.
    Checking,
    SignedOut,
    SignedIn,
    /// `/status` failed and nothing is known.
    Unreachable(ApiError),
}

/// Handle to the session state; `Copy`, pass it around freely.
#[derive(Debug, Clone, Copy)]
pub struct Session {
    status: RwSignal<Option<Result<StatusResponse, ApiError>>>,
    now: RwSignal<i64>,
    notice: RwSignal<Option<Notice>>,
    auth: Memo<Auth>,
}

impl Session {
    /// A session with `status` already known: no fetch, no clock. Tests and
    /// [`Session::provide`] build on it.
    pub fn with_status(status: Option<Result<StatusResponse, ApiError>>) -> Self {
        let status = RwSignal::new(status);
        let auth = Memo::new(move |_| match status.get() {
            None => Auth::Checking,
            Some(Ok(s)) if s.authenticated => Auth::SignedIn,
            Some(Ok(_)) => Auth::SignedOut,
            Some(Err(e)) if e.needs_sign_in() => Auth::SignedOut,
            Some(Err(e)) => Auth::Unreachable(e),
        });
        Self {
            status,
            now: RwSignal::new(clock::now_secs()),
            notice: RwSignal::new(None),
            auth,
        }
    }

    /// Creates the app's session, provides it as context, fetches
    /// `/status` and starts the clock and the poll.
    pub fn provide() -> Self {
        let session = Self::with_status(None);
        provide_context(session);
        session.refresh();
        let ticks = StoredValue::new(0i64);
        if let Ok(handle) = set_interval_with_handle(
            move || {
                session.now.set(clock::now_secs());
                let n = ticks.get_value() + 1;
                ticks.set_value(n);
                if n % POLL_SECS == 0 && session.auth.get_untracked() == Auth::SignedIn {
                    session.refresh();
                }
            },
            std::time::Duration::from_secs(1),
        ) {
            on_cleanup(move || handle.clear());
        }
        session
    }

    /// Fetches `/status` again. A failed poll keeps what was known.
    pub fn refresh(self) {
        leptos::task::spawn_local(async move {
            let result = api::status().await;
            let known = matches!(self.status.get_untracked(), Some(Ok(_)));
            match result {
                Err(e) if known && !e.needs_sign_in() => {
                    leptos::logging::warn!("session: status poll failed: {e}");
                }
                result => self.set_status(result),
            }
        });
    }

    fn set_status(self, result: Result<StatusResponse, ApiError>) {
        if self.status.with_untracked(|s| s.as_ref() != Some(&result)) {
            self.status.set(Some(result));
        }
    }

    /// The last `/status` answer, if it was one.
    pub fn status(self) -> Option<StatusResponse> {
        self.status
            .with(|s| s.as_ref().and_then(|r| r.as_ref().ok()).cloned())
    }

    pub fn auth(self) -> Memo<Auth> {
        self.auth
    }

    /// Unix seconds, ticking once a second.
    pub fn now(self) -> i64 {
        self.now.get()
    }

    pub fn notice(self) -> Option<Notice> {
        self.notice.get()
    }

    /// Seconds until the access token expires (negative once past).
    pub fn secs_left(self) -> Option<i64> {
        let expires_at = self.status()?.expires_at?;
        Some(expires_at - self.now())
    }

    /// A request found the session gone: show the signed-out state, and say
    /// why when TradeStation ended it.
    pub fn lost(self, error: &ApiError) {
        if !error.needs_sign_in() {
            return;
        }
        if *error == ApiError::SessionExpired {
            self.notice.set(Some(Notice::SessionEnded));
        }
        self.set_status(Ok(StatusResponse::signed_out()));
    }

    /// `POST /api/ts/logout`; on success the app is signed out and says
    /// whether the sign-out reached every session.
    pub async fn sign_out(self) -> Result<(), ApiError> {
        let everywhere = self
            .status
            .with_untracked(|s| matches!(s, Some(Ok(s)) if s.has_refresh_token));
        api::logout().await?;
        self.notice.set(Some(Notice::SignedOut { everywhere }));
        self.set_status(Ok(StatusResponse::signed_out()));
        Ok(())
    }
}

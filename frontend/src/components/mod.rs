//! Pieces every page uses: the header, the session panel, the sign-in
//! prompt, loading and error states, the stream badge.
//!
//! Pages live in [`crate::pages`]; the data they show comes through
//! [`crate::api`].

mod error_view;
mod loader;
mod loading;
mod require_session;
mod session_panel;
mod shell;
mod sign_in;
mod stream_status;

pub use error_view::ErrorView;
pub use loader::Loader;
pub use loading::Loading;
pub use require_session::RequireSession;
pub use session_panel::{SessionBadge, SessionPanel};
pub use shell::Shell;
pub use sign_in::{SignInLink, SignInPrompt, SignedOutNotice};
pub use stream_status::StreamBadge;

//! One module per route (see [`crate::App`]).
//!
//! Each page wraps its content in
//! [`RequireSession`](crate::components::RequireSession) except the home
//! page, which is also the signed-out landing page, and the not-found page.

mod accounts;
mod chart;
mod home;
mod not_found;
mod options;
mod quotes;

pub use accounts::{AccountCard, AccountsData, AccountsPage};
pub use chart::{ChartPage, ChartSvg};
pub use home::HomePage;
pub use not_found::NotFound;
pub use options::{ChainTable, OptionsPage};
pub use quotes::{QuoteTable, QuotesPage};

//! Integration tests: the real app on 127.0.0.1, driven over HTTP with a
//! cookie jar, against the built-in simulator or a scripted fault upstream.

mod helpers;
mod upstream;

mod auth_flow;
mod contract_errors;
mod faults;
mod hardening;
mod orders;
mod passthrough;
mod secrets_stay_secret;
mod signing_keys;
mod trading;

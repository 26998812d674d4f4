//! The backend binary: read the configuration, start logging, serve.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    backend::main_entry().await
}

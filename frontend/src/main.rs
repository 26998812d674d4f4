//! Mounts the app on `<body>`; everything else lives in the library.
//!
//! On the host (native `cargo test`, `cargo clippy`) there is no app to
//! mount: the library's browser half is not compiled there.

fn main() {
    #[cfg(target_arch = "wasm32")]
    {
        console_error_panic_hook::set_once();
        leptos::mount::mount_to_body(frontend::App);
    }
}

//! The engine's Web Worker (see `worker/mod.rs`): Trunk builds this binary with `data-type="worker"`, and the page
//! starts it for each import it runs.

#[cfg(target_arch = "wasm32")]
fn main() {
    sluice::browser::expose_memory_size();
    sluice::worker::service::serve();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("sluice-worker is the web app's import worker: `trunk build --release` builds it (see README.md).");
    std::process::exit(2);
}

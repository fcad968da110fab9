//! Throughput of the engine's hot path on generated data of realistic shape. Prints figures; asserts nothing.
//!
//! Run: `cargo bench -p sluice-engine --bench throughput` (SLUICE_BENCH_MB sets the data size, default 256). The
//! same workloads run in WebAssembly with `./scripts/bench-wasm.sh`.

mod workloads;

use std::time::{Duration, Instant};

use workloads::{cases, CHUNK, KINDS};

const RUNS: usize = 3;

fn time_best<F: FnMut() -> u64>(mut run: F) -> (Duration, u64) {
    let mut best = Duration::MAX;
    let mut records = 0;
    for _ in 0..RUNS {
        let start = Instant::now();
        records = run();
        best = best.min(start.elapsed());
    }
    (best, records)
}

fn report(name: &str, bytes: usize, (elapsed, records): (Duration, u64)) {
    let seconds = elapsed.as_secs_f64();
    println!(
        "{name:<44} {:>9.0} MB/s {:>12.0} records/s  ({records} records, {:.3} s)",
        bytes as f64 / seconds / 1e6,
        records as f64 / seconds,
        seconds
    );
}

fn main() {
    let megabytes: usize = std::env::var("SLUICE_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    println!("sluice-engine throughput: {megabytes} MB per format, {CHUNK}-byte chunks, best of {RUNS} runs");
    for kind in KINDS {
        let (input, count) = kind.generate(megabytes * 1_000_000);
        println!(
            "\n{}: {} bytes, {count} records, {:.0} bytes/record",
            kind.label(),
            input.len(),
            input.len() as f64 / count as f64
        );
        for case in cases(kind) {
            report(&case.name, input.len(), time_best(|| (case.run)(&input)));
        }
    }
}

//! The `sluice` binary.

fn main() {
    eprintln!(
        "sluice {}: `sluice serve` and `sluice import` are being built; see README.md.",
        sluice_engine::VERSION
    );
    std::process::exit(2);
}

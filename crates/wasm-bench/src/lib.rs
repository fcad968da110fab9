//! The throughput benchmark's workloads (`crates/engine/benches/workloads`) as WebAssembly exports, so the
//! figures of the browser's engine code can be set beside the native ones. The clock is the runner's
//! (`scripts/bench-wasm.mjs`): `std::time` has none in wasm32-unknown-unknown.
#![cfg(target_arch = "wasm32")]

#[path = "../../engine/benches/workloads/mod.rs"]
mod workloads;

use wasm_bindgen::prelude::*;
use workloads::{cases, Case, Kind, KINDS};

/// A generated source and the workloads measured on it, held in the module's memory between runs.
#[wasm_bindgen]
pub struct Source {
    kind: Kind,
    input: Vec<u8>,
    records: u64,
    cases: Vec<Case>,
}

#[wasm_bindgen]
impl Source {
    /// The source `index` of the native benchmark's order (0: JSON Lines, 1: JSON array, 2: CSV), of about
    /// `bytes` bytes.
    #[wasm_bindgen(constructor)]
    pub fn new(index: usize, bytes: usize) -> Result<Source, JsError> {
        let kind = *KINDS
            .get(index)
            .ok_or_else(|| JsError::new(&format!("there are {} sources, not {}", KINDS.len(), index + 1)))?;
        let (input, records) = kind.generate(bytes);
        Ok(Source {
            kind,
            input,
            records,
            cases: cases(kind),
        })
    }

    pub fn kinds() -> usize {
        KINDS.len()
    }

    pub fn label(&self) -> String {
        self.kind.label().to_string()
    }

    pub fn bytes(&self) -> usize {
        self.input.len()
    }

    pub fn records(&self) -> f64 {
        self.records as f64
    }

    pub fn cases(&self) -> usize {
        self.cases.len()
    }

    pub fn case_name(&self, case: usize) -> String {
        self.cases[case].name.clone()
    }

    /// Runs workload `case` once over the whole source; returns the records it handled.
    pub fn run(&self, case: usize) -> f64 {
        (self.cases[case].run)(&self.input) as f64
    }
}

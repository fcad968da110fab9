//! The engine's start-up self-check: a developer's diagnostic, kept out of the analyst's way (a closed
//! "Diagnostics" section, open only when the check fails).

use leptos::prelude::*;
use sluice_engine::batch::{BatchBuilder, BatchLimits};
use sluice_engine::split::{Splitter, DEFAULT_MAX_RECORD_BYTES};
use sluice_engine::ImportSettings;

/// Shows the result of the start-up self-check.
#[component]
pub fn EngineCheck(check: Result<SelfCheck, String>) -> impl IntoView {
    match check {
        Ok(SelfCheck {
            records,
            batched,
            dead_letters,
        }) => view! {
            <p class="check ok muted" id="engine-check">
                {format!(
                    "Engine check passed in this browser: {records} sample records split, {batched} batched for \
                     OpenSearch, {dead_letters} malformed one set aside as a dead letter."
                )}
            </p>
        }
        .into_any(),
        Err(message) => view! {
            <p role="alert" class="check failed" id="engine-check">
                {format!("Engine check failed: {message}. Please report this with your browser's name and version.")}
            </p>
        }
        .into_any(),
    }
}

/// What the self-check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfCheck {
    records: usize,
    batched: usize,
    dead_letters: usize,
}

/// Runs the engine's splitter and batcher on a small built-in sample, cut into awkward chunks, with one malformed
/// record, and checks the result. It proves the compiled engine works in this browser before any import starts.
pub fn engine_self_check() -> Result<SelfCheck, String> {
    const SAMPLE: &[u8] =
        "\u{feff}{\"id\":1,\"city\":\"Zürich\"}\r\n{\"id\":2,\"q\":\"say \\\"hi\\\"\"}\n{broken\n{\"id\":3}".as_bytes();
    let mut settings = ImportSettings::new("self-check");
    settings.id = sluice_engine::IdStrategy::Field { pointer: "/id".into() };
    let limits = BatchLimits {
        max_bytes: 1 << 20,
        max_records: 100,
    };
    let mut builder = BatchBuilder::new(&settings, "self-check", &Default::default(), limits, 0)?;
    let mut splitter = Splitter::new(settings.format, DEFAULT_MAX_RECORD_BYTES);
    for chunk in SAMPLE.chunks(5) {
        splitter.push(chunk, &mut builder).map_err(|e| e.to_string())?;
    }
    splitter.finish(&mut builder).map_err(|e| e.to_string())?;
    builder.flush();
    let batches: Vec<_> = builder.take_ready().collect();
    let batched: usize = batches.iter().map(|b| b.items.len()).sum();
    let dead_letters: usize = batches.iter().map(|b| b.dead_letters.len()).sum();
    let body_ok = batches
        .first()
        .is_some_and(|b| b.body.starts_with(br#"{"index":{"_index":"self-check","_id":"1"}}"#));
    if (batched, dead_letters, body_ok) != (3, 1, true) {
        return Err(format!(
            "expected 3 records batched and 1 dead letter, got {batched} and {dead_letters}"
        ));
    }
    Ok(SelfCheck {
        records: batched + dead_letters,
        batched,
        dead_letters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_self_check_passes_natively() {
        assert_eq!(
            engine_self_check(),
            Ok(SelfCheck {
                records: 4,
                batched: 3,
                dead_letters: 1
            })
        );
    }
}

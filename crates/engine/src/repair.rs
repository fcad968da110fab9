//! Repair: failed records grouped by reason, and only those records sent again once the cause is fixed.
//!
//! A dead letter keeps its source offsets and its text, so a retry sends it with the same `_id` an import would
//! have given it (an id field, or the source's namespace and the record's offset): a record retried twice, or
//! retried after an interrupted retry, overwrites itself. That is what makes an interrupted retry resumable by
//! simply running it again over the dead letters that are still stored: nothing lost, nothing twice.
//!
//! The job's *current* settings apply (transforms, pipeline): fixing the cause is the analyst's step before the
//! retry. Transforms are idempotent on a record they already changed (a rename whose source is gone, a date already
//! in ISO-8601, a constant set again), so a record refused by the cluster after a transform can go through them
//! again. After each batch the [`RetryLedger`] removes what was indexed and replaces what still fails with its new
//! reason, so an interruption between batches loses nothing.
//!
//! Rows of a CSV/TSV source refused before sending are kept as their text; given the source's [`CsvLayout`] they
//! are made into documents again, with the settings' column types winning over the layout's (choosing `keyword` for
//! a column whose cells were not numbers is the fix). Documents the cluster refused were kept as sent, JSON.

#![allow(async_fn_in_trait)] // ?Send like the job driver's traits.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::batch::{Batch, BatchBuilder, BatchLimits};
use crate::bulk::{classify, ItemOutcome, Verdict};
use crate::checkpoint::Checkpoint;
use crate::csv_rows::{ColumnType, RowConverter};
use crate::csv_source::{CsvLayout, DocumentSink};
use crate::dead_letter::DeadLetter;
use crate::job::{BulkSink, Clock, StoreError};
use crate::settings::{ImportSettings, Tuning};
use crate::split::{RecordSink, Span};
use crate::transform::{Transform, TransformContext};

/// What the analyst changes for a retry, over the settings the import ran with: transforms added after the job's
/// own and, for CSV/TSV sources, column types that win over the job's (a column inferred as numbers whose later rows
/// hold text: its refused rows are made into documents again with the new type). The page, the edge's
/// `POST /jobs/{id}/retry` and their stored markers all use this shape.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepairChoice {
    /// Transforms applied after the job's own.
    #[serde(default)]
    pub transforms: Vec<Transform>,
    /// Column types by column name (CSV/TSV sources only).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub column_types: BTreeMap<String, ColumnType>,
}

impl RepairChoice {
    /// The settings a retry of `checkpoint`'s dead letters runs with, or why this choice does not fit its source.
    pub fn settings_for(&self, checkpoint: &Checkpoint) -> Result<ImportSettings, String> {
        let mut settings = checkpoint.settings.clone();
        settings.transforms.extend(self.transforms.iter().cloned());
        match &checkpoint.csv {
            Some(layout) => {
                settings
                    .csv
                    .column_types
                    .extend(self.column_types.iter().map(|(name, kind)| (name.clone(), *kind)));
                crate::csv_source::check_chosen_columns(&settings.csv, &layout.columns.names)?;
            }
            None if !self.column_types.is_empty() => {
                return Err(
                    "column types apply to CSV and TSV sources; this import read JSON, so change its \
                            records with transforms instead"
                        .into(),
                )
            }
            None => {}
        }
        settings.validate()?;
        Ok(settings)
    }
}

/// Where a part's dead letters live, seen from a retry.
pub trait RetryLedger {
    /// After one batch: the records at `indexed` offsets are in the index now (remove them); `still_failing` are
    /// stored again with their new reasons (replacing the old ones at the same offsets). Durable when it returns.
    async fn settle(&self, indexed: &[u64], still_failing: &[DeadLetter]) -> Result<(), StoreError>;
}

/// What a retry did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetryReport {
    /// Records indexed this time.
    pub indexed: u64,
    /// Records that failed again (with their new reasons, in the ledger).
    pub failed: u64,
    /// Records that could not be sent because their text was not kept (oversize records): they stay.
    pub skipped: u64,
}

/// Why a retry stopped before the end. What was settled before it stays settled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RetryStopped(pub String);

/// Sends the dead letters again with `settings`, in batches; calls `on_progress(done, total)` after each batch.
#[allow(clippy::too_many_arguments)]
pub async fn retry_dead_letters<K: BulkSink, T: Clock, L: RetryLedger>(
    mut letters: Vec<DeadLetter>,
    settings: &ImportSettings,
    id_namespace: &str,
    context: &TransformContext,
    csv: Option<&CsvLayout>,
    tuning: &Tuning,
    sink: &K,
    clock: &T,
    ledger: &L,
    on_progress: &mut dyn FnMut(u64, u64),
) -> Result<RetryReport, RetryStopped> {
    letters.sort_by_key(|l| l.offset);
    let total = letters.len() as u64;
    let mut report = RetryReport::default();
    let mut builder = BatchBuilder::new(
        settings,
        id_namespace,
        context,
        BatchLimits {
            max_bytes: tuning.batch_bytes,
            max_records: tuning.batch_docs,
        },
        0,
    )
    .map_err(RetryStopped)?;
    let mut rows = match csv {
        Some(layout) => {
            crate::csv_source::check_chosen_columns(&settings.csv, &layout.columns.names).map_err(RetryStopped)?;
            let mut columns = layout.columns.clone();
            for (name, kind) in columns.names.iter().zip(columns.types.iter_mut()) {
                if let Some(chosen) = settings.csv.column_types.get(name) {
                    *kind = *chosen;
                }
            }
            Some(RowConverter::new(layout.dialect(), columns, settings.csv.nest_dotted).map_err(RetryStopped)?)
        }
        None => None,
    };
    let mut document = Vec::new();
    let mut rng = clock.now_ms() | 1;
    let mut done = 0;
    let mut pending = letters.into_iter().peekable();
    while pending.peek().is_some() {
        // Fill one batch (the builder seals it by size or count).
        for letter in pending.by_ref() {
            let span = Span {
                start: letter.offset,
                end: letter.end,
            };
            match &letter.record {
                Some(text) => match rows.as_mut().filter(|_| !is_json_object(text)) {
                    Some(converter) => {
                        document.clear();
                        match converter.write_document(text.as_bytes(), &mut document) {
                            Ok(()) => builder.record(span, &document),
                            Err(reason) => builder.reject(span, reason, text.as_bytes()),
                        }
                    }
                    None => builder.record(span, text.as_bytes()),
                },
                None => {
                    report.skipped += 1;
                    done += 1;
                }
            }
            if builder.has_ready() {
                break;
            }
        }
        builder.flush();
        let batches: Vec<Batch> = builder.take_ready().collect();
        for batch in batches {
            let (indexed, mut failing) = send_batch(&batch, settings, tuning, sink, clock, &mut rng).await?;
            failing.extend(batch.dead_letters.iter().cloned());
            ledger
                .settle(&indexed, &failing)
                .await
                .map_err(|e| RetryStopped(format!("could not update the failed records: {e}")))?;
            report.indexed += indexed.len() as u64;
            report.failed += failing.len() as u64;
            done += batch.record_count();
            on_progress(done, total);
        }
    }
    Ok(report)
}

/// A document kept as sent (a CSV row refused by the cluster), rather than a row's text.
fn is_json_object(text: &str) -> bool {
    text.trim_start().starts_with('{') && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

/// One batch, with retries of what the cluster asks to retry. Returns the offsets indexed and what still fails.
async fn send_batch<K: BulkSink, T: Clock>(
    batch: &Batch,
    settings: &ImportSettings,
    tuning: &Tuning,
    sink: &K,
    clock: &T,
    rng: &mut u64,
) -> Result<(Vec<u64>, Vec<DeadLetter>), RetryStopped> {
    let mut indexed = Vec::new();
    let mut failing = Vec::new();
    let mut queue: Vec<(Vec<usize>, u32)> = vec![((0..batch.items.len()).collect(), 1)];
    while let Some((items, attempt)) = queue.pop() {
        if items.is_empty() {
            continue;
        }
        let result = sink.send(batch.body_for(&items)).await;
        let verdict = match result {
            Ok(response) => classify(
                &response,
                items.len(),
                settings.action,
                settings.id.is_deterministic(),
                clock.now_ms(),
            ),
            Err(error) => Verdict::RetryAll {
                reason: format!("the request did not complete ({error})"),
                retry_after_ms: None,
            },
        };
        let mut again = Vec::new();
        let mut wait = None;
        match verdict {
            Verdict::Items(outcomes) => {
                for (&item, outcome) in items.iter().zip(outcomes) {
                    let span = batch.items[item].span;
                    match outcome {
                        ItemOutcome::Indexed | ItemOutcome::AlreadyIndexed => indexed.push(span.start),
                        ItemOutcome::Rejected(reason) => failing.push(DeadLetter::with_record(
                            span,
                            format!("refused by the cluster: {reason}"),
                            batch.item_record(item),
                        )),
                        ItemOutcome::Retry(reason) => {
                            again.push(item);
                            wait = Some((reason, None));
                        }
                    }
                }
            }
            Verdict::RetryAll { reason, retry_after_ms } => {
                again = items;
                wait = Some((reason, retry_after_ms));
            }
            Verdict::Split if items.len() > 1 => {
                let (first, second) = items.split_at(items.len() / 2);
                queue.push((second.to_vec(), attempt));
                queue.push((first.to_vec(), attempt));
            }
            Verdict::Split => {
                let item = items[0];
                failing.push(DeadLetter::with_record(
                    batch.items[item].span,
                    "the record is too large for the cluster or proxy even on its own (413)",
                    batch.item_record(item),
                ));
            }
            Verdict::Fatal(message) => return Err(RetryStopped(message)),
        }
        if let Some((reason, retry_after_ms)) = wait {
            *rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let unit = (*rng >> 11) as f64 / (1u64 << 53) as f64;
            match tuning.retry.delay_ms(attempt + 1, unit, retry_after_ms) {
                Some(delay) => {
                    clock.sleep(delay).await;
                    queue.push((again, attempt + 1));
                }
                None => {
                    return Err(RetryStopped(format!(
                        "gave up after {attempt} attempts: {reason}. The records not yet retried are still in the \
                         failed list; retry later."
                    )))
                }
            }
        }
    }
    Ok((indexed, failing))
}

/// A dead letter's reason in a few words, for grouping: the same cause across records reads the same
/// ("`status` is not a number"), whatever the record's id or value.
pub fn reason_group(reason: &str) -> String {
    let after = |marker: &str| reason.split_once(marker).map(|(_, rest)| rest);
    let bracketed = |text: &str| text.split_once(']').map(|(inside, _)| inside.to_string());
    if let Some(rest) = after("failed to parse field [") {
        if let Some(field) = bracketed(rest) {
            let kind = after(" of type [").and_then(bracketed).unwrap_or_default();
            return match kind.as_str() {
                "long" | "integer" | "short" | "byte" | "double" | "float" | "half_float" | "scaled_float"
                | "unsigned_long" => format!("`{field}` is not a number"),
                "boolean" => format!("`{field}` is not a boolean"),
                "date" | "date_nanos" => format!("`{field}` is not a date the mapping accepts"),
                "" => format!("`{field}` does not fit the mapping"),
                other => format!("`{field}` does not fit its type `{other}`"),
            };
        }
    }
    if let Some(rest) = after("dynamic introduction of [") {
        if let Some(field) = bracketed(rest) {
            return format!("`{field}` is not in the strict mapping");
        }
    }
    if let Some(rest) = after("object mapping for [") {
        if let Some(field) = bracketed(rest) {
            return format!("`{field}` is an object in the mapping, not a value");
        }
    }
    // A CSV cell that is not its column's type: the column and the type, without the cell's value.
    if let Some(rest) = after("the cell of '") {
        if let Some((column, what)) = rest.split_once("' ") {
            let what = what.split_once(": \"").map_or(what, |(kind, _)| kind);
            return format!("`{column}` {what}");
        }
    }
    if let Some(rest) = after("the transform '") {
        if let Some((name, _)) = rest.split_once('\'') {
            return format!("transform '{name}' failed");
        }
    }
    for (needle, group) in [
        ("not valid JSON", "not valid JSON"),
        ("not a JSON object", "not a JSON object"),
        ("not valid UTF-8", "not UTF-8 text"),
        ("over the maximum record size", "too large"),
        ("too large for the cluster", "too large for the cluster"),
        ("is missing", "the id field is missing"),
        ("version_conflict", "a document with this id exists (create)"),
        ("index_not_found", "the index does not exist"),
    ] {
        if reason.contains(needle) {
            return group.to_string();
        }
    }
    let short: String = reason.chars().take(80).collect();
    if short.len() < reason.len() {
        format!("{short}…")
    } else {
        short
    }
}

/// Dead letters counted by [`reason_group`], biggest group first.
pub fn group_reasons<'a>(reasons: impl IntoIterator<Item = &'a str>) -> Vec<(String, u64)> {
    let mut groups: BTreeMap<String, u64> = BTreeMap::new();
    for reason in reasons {
        *groups.entry(reason_group(reason)).or_insert(0) += 1;
    }
    let mut groups: Vec<(String, u64)> = groups.into_iter().collect();
    groups.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repair_choice_adds_to_the_jobs_settings_and_fits_its_source() {
        let mut settings = ImportSettings::new("logs");
        settings.transforms = vec![Transform::Drop { field: "tmp".into() }];
        let mut checkpoint = Checkpoint::start("job", Default::default(), settings, 0);
        let rename = Transform::Rename {
            from: "status".into(),
            to: "status_text".into(),
        };
        let choice: RepairChoice =
            serde_json::from_str(r#"{"transforms": [{"op": "rename", "from": "status", "to": "status_text"}]}"#)
                .unwrap();
        let chosen = choice.settings_for(&checkpoint).unwrap();
        assert_eq!(chosen.transforms, [Transform::Drop { field: "tmp".into() }, rename]);
        assert_eq!(chosen.index, "logs");
        let typed = RepairChoice {
            column_types: [("qty".to_string(), ColumnType::Keyword)].into(),
            ..RepairChoice::default()
        };
        assert!(typed.settings_for(&checkpoint).unwrap_err().contains("CSV and TSV"));
        checkpoint.csv = Some(CsvLayout {
            delimiter: ',',
            columns: crate::csv_rows::Columns {
                names: vec!["id".into(), "qty".into()],
                types: vec![ColumnType::Keyword, ColumnType::Long],
            },
        });
        let chosen = typed.settings_for(&checkpoint).unwrap();
        assert_eq!(chosen.csv.column_types["qty"], ColumnType::Keyword);
        let unknown = RepairChoice {
            column_types: [("qtty".to_string(), ColumnType::Keyword)].into(),
            ..RepairChoice::default()
        };
        assert!(unknown.settings_for(&checkpoint).unwrap_err().contains("qtty"));
        assert!(
            serde_json::from_str::<RepairChoice>(r#"{"transform": []}"#).is_err(),
            "a misspelt field is refused"
        );
    }

    #[test]
    fn reasons_group_by_cause_not_by_record() {
        let reasons = [
            "refused by the cluster: 400 mapper_parsing_exception: failed to parse field [status] of type [long] in \
             document with id 'a'. Preview of field's value: 'n/a'",
            "refused by the cluster: 400 mapper_parsing_exception: failed to parse field [status] of type [long] in \
             document with id 'b'. Preview of field's value: 'x'",
            "not valid JSON: expected value at line 1 column 1 (within the record)",
            "refused by the cluster: 400 strict_dynamic_mapping_exception: mapping set to strict, dynamic \
             introduction of [extra] within [_doc] is not allowed",
        ];
        assert_eq!(
            group_reasons(reasons),
            [
                ("`status` is not a number".to_string(), 2),
                ("`extra` is not in the strict mapping".to_string(), 1),
                ("not valid JSON".to_string(), 1),
            ]
        );
        assert_eq!(
            reason_group("the transform 'parse t as a date' could not read \"x\" as a date"),
            "transform 'parse t as a date' failed"
        );
        assert_eq!(
            group_reasons([
                "the cell of 'code' is not a whole number: \"A-15000\"",
                "the cell of 'code' is not a whole number: \"A-15050\"",
                "the cell of 'when' is not an ISO-8601 date: \"soon\"",
            ]),
            [
                ("`code` is not a whole number".to_string(), 2),
                ("`when` is not an ISO-8601 date".to_string(), 1),
            ]
        );
    }
}

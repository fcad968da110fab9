//! Optional per-field transforms applied to each record before it is sent: rename, drop, keep only some fields,
//! set a constant, set the source's name or the import's time, parse a date into ISO-8601.
//!
//! # Why here, and why this way
//! Transforms are part of a job's [`ImportSettings`](crate::ImportSettings), so they are hashed into the checkpoint:
//! a resume with other transforms would make the replayed records differ from those already indexed, and is
//! refused. Every transform is deterministic for a given job (the import time is the job's creation time, not
//! "now"), so a record replayed after a crash is sent exactly as it was the first time.
//!
//! With no transform the batcher copies each record's bytes verbatim (the fast path); with at least one, a record
//! is scanned into a [`RawObject`]: its members stay the source's bytes unless a step touches them, so a record is
//! not rebuilt as a `serde_json::Value` and serialised again. Field order is kept, and the result means what
//! serde_json would have made of it (a repeated key keeps its first place and its last value).
//!
//! Field paths are dotted (`user.name`), as in OpenSearch mappings. A path names nested objects; a key that itself
//! contains a dot is found too when it is spelled whole at the top level.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::raw_object::{RawObject, Slot, Unreadable};

/// One transform. Applied in the order they are listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Transform {
    /// Moves a field to another name (or path). A record without the field is left as it is.
    Rename {
        /// Current path.
        from: String,
        /// New path.
        to: String,
    },
    /// Removes a field.
    Drop {
        /// Path to remove.
        field: String,
    },
    /// Keeps only the listed fields (paths); every other field is removed.
    Keep {
        /// Paths to keep.
        fields: Vec<String>,
    },
    /// Sets a field to a constant. The value is JSON text (`"EU"`, `42`, `true`), or plain text taken as a string.
    Set {
        /// Path to set.
        field: String,
        /// The value, as JSON text.
        value: String,
    },
    /// Sets a field to the source's name (the object key or the file name).
    SetSourceName {
        /// Path to set.
        field: String,
    },
    /// Sets a field to the time the import started (ISO-8601, UTC): the same for every record and every resume.
    SetImportTime {
        /// Path to set.
        field: String,
    },
    /// Parses a date in a field into ISO-8601 (UTC). `format` is a strftime pattern (`%d/%m/%Y %H:%M`), or
    /// `epoch_millis` / `epoch_seconds`; without one, common forms are recognised (ISO-8601 with a space or a `T`,
    /// with or without a zone, a date alone, epoch milliseconds). A value that does not parse makes the record a
    /// dead letter, with the reason.
    ParseDate {
        /// Path of the date.
        field: String,
        /// The pattern, if the dates are not in a common form.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        format: Option<String>,
    },
}

impl Transform {
    /// Checks what can be checked before any record is read.
    pub fn validate(&self) -> Result<(), String> {
        let path_ok = |path: &str| {
            if path.is_empty() || path.split('.').any(str::is_empty) {
                Err(format!(
                    "'{path}' is not a field path (use names separated by dots, like user.name)"
                ))
            } else {
                Ok(())
            }
        };
        match self {
            Transform::Rename { from, to } => {
                path_ok(from)?;
                path_ok(to)
            }
            Transform::Drop { field }
            | Transform::SetSourceName { field }
            | Transform::SetImportTime { field }
            | Transform::Set { field, .. } => path_ok(field),
            Transform::Keep { fields } if fields.is_empty() => Err("keep needs at least one field".into()),
            Transform::Keep { fields } => fields.iter().try_for_each(|f| path_ok(f)),
            Transform::ParseDate { field, format } => {
                path_ok(field)?;
                match format.as_deref() {
                    None | Some("epoch_millis" | "epoch_seconds") => Ok(()),
                    Some(pattern) if pattern.contains('%') => Ok(()),
                    Some(pattern) => Err(format!(
                        "the date format '{pattern}' is not a strftime pattern (such as %d/%m/%Y %H:%M), \
                         epoch_millis or epoch_seconds"
                    )),
                }
            }
        }
    }

    /// A short description for a person ("rename a → b").
    pub fn describe(&self) -> String {
        match self {
            Transform::Rename { from, to } => format!("rename {from} → {to}"),
            Transform::Drop { field } => format!("drop {field}"),
            Transform::Keep { fields } => format!("keep only {}", fields.join(", ")),
            Transform::Set { field, value } => format!("set {field} = {value}"),
            Transform::SetSourceName { field } => format!("set {field} = the source's name"),
            Transform::SetImportTime { field } => format!("set {field} = the import's start time"),
            Transform::ParseDate { field, format: None } => format!("parse {field} as a date"),
            Transform::ParseDate {
                field,
                format: Some(format),
            } => format!("parse {field} as a date ({format})"),
        }
    }
}

/// What transforms may read about the job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransformContext {
    /// The source's name (object key or file name).
    pub source_name: String,
    /// The import's start time, ms since the Unix epoch.
    pub import_started_ms: u64,
}

/// Transforms ready to run on records.
#[derive(Debug, Clone)]
pub struct TransformPlan {
    steps: Vec<Transform>,
    /// The value each step sets (null for steps that set none), worked out once for the job.
    constants: Vec<Value>,
}

impl TransformPlan {
    /// Checks the transforms and binds them to the job. `None` when there are none (the verbatim fast path).
    pub fn new(steps: &[Transform], context: &TransformContext) -> Result<Option<Self>, String> {
        if steps.is_empty() {
            return Ok(None);
        }
        for step in steps {
            step.validate()
                .map_err(|m| format!("transform '{}': {m}", step.describe()))?;
        }
        let constants = steps
            .iter()
            .map(|step| match step {
                Transform::Set { value, .. } => constant(value),
                Transform::SetSourceName { .. } => Value::String(context.source_name.clone()),
                Transform::SetImportTime { .. } => Value::String(iso_from_millis(context.import_started_ms as i64)),
                _ => Value::Null,
            })
            .collect();
        Ok(Some(TransformPlan {
            steps: steps.to_vec(),
            constants,
        }))
    }

    /// Transforms one record, which must already be known to be a JSON object, and returns its new bytes. An
    /// error names the transform and the value.
    pub fn apply_to_bytes(&self, bytes: &[u8]) -> Result<Vec<u8>, String> {
        match RawObject::parse(bytes) {
            Ok(record) => self.transformed(record, bytes.len()),
            // What the scanner leaves (a very wide object, say) is parsed by serde_json, whose words explain a
            // record that is not JSON at all.
            Err(Unreadable) => {
                let map: Map<String, Value> =
                    serde_json::from_slice(bytes).map_err(|e| format!("not a JSON object: {e}"))?;
                self.transformed(RawObject::from_map(map), bytes.len())
            }
        }
    }

    fn transformed(&self, mut record: RawObject<'_>, size_hint: usize) -> Result<Vec<u8>, String> {
        self.apply(&mut record)?;
        let mut out = Vec::with_capacity(size_hint + 64);
        record.write(&mut out);
        Ok(out)
    }

    fn apply(&self, record: &mut RawObject<'_>) -> Result<(), String> {
        for (step, constant) in self.steps.iter().zip(&self.constants) {
            match step {
                Transform::Rename { from, to } => {
                    if let Some(value) = take(record, from) {
                        put(record, to, value);
                    }
                }
                Transform::Drop { field } => {
                    take(record, field);
                }
                Transform::Keep { fields } => {
                    let mut kept = RawObject::default();
                    for field in fields {
                        if let Some(value) = take(record, field) {
                            put(&mut kept, field, value);
                        }
                    }
                    *record = kept;
                }
                Transform::Set { field, .. }
                | Transform::SetSourceName { field }
                | Transform::SetImportTime { field } => put(record, field, Slot::Value(constant.clone())),
                Transform::ParseDate { field, format } => {
                    let Some(slot) = get_mut(record, field) else { continue };
                    let value = slot.to_value().map_err(|e| format!("not a JSON object: {e}"))?;
                    if value.is_null() {
                        continue;
                    }
                    match parse_date(&value, format.as_deref()) {
                        Some(iso) => *slot = Slot::Value(Value::String(iso)),
                        None => {
                            return Err(format!(
                                "the transform '{}' could not read {} as a date{}",
                                step.describe(),
                                compact(&value, 60),
                                format
                                    .as_deref()
                                    .map(|f| format!(" in the format {f}"))
                                    .unwrap_or_else(|| " (give its format, such as %d/%m/%Y)".into())
                            ))
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// A `--set` value: JSON when it parses as JSON, else the text itself.
fn constant(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// The value at `path`: a top-level key spelled whole first, else the dotted path through nested objects.
fn get_mut<'r, 'a>(record: &'r mut RawObject<'a>, path: &str) -> Option<&'r mut Slot<'a>> {
    if record.contains_key(path) {
        return record.get_mut(path);
    }
    let mut parts = path.split('.');
    let mut current = record.get_mut(parts.next()?)?;
    for part in parts {
        current = current.as_object_mut()?.get_mut(part)?;
    }
    Some(current)
}

fn take<'a>(record: &mut RawObject<'a>, path: &str) -> Option<Slot<'a>> {
    if let Some(value) = record.shift_remove(path) {
        return Some(value);
    }
    let (parent, leaf) = path.rsplit_once('.')?;
    get_mut(record, parent)?.as_object_mut()?.shift_remove(leaf)
}

/// Sets `path`, creating the objects on the way (and replacing a value that is in the way by one).
fn put<'a>(record: &mut RawObject<'a>, path: &str, value: Slot<'a>) {
    let (parents, leaf) = match path.rsplit_once('.') {
        Some((parents, leaf)) => (Some(parents), leaf),
        None => (None, path),
    };
    let mut current = record;
    for part in parents.into_iter().flat_map(|p| p.split('.')) {
        let slot = current.entry_object(part);
        if slot.as_object_mut().is_none() {
            *slot = Slot::Object(RawObject::default());
        }
        current = slot.as_object_mut().expect("made an object above");
    }
    current.insert(leaf, value);
}

/// A value in a few characters, for messages and previews: JSON text, cut with an ellipsis.
pub fn compact(value: &Value, max_chars: usize) -> String {
    let text = value.to_string();
    if text.chars().count() <= max_chars {
        text
    } else {
        let cut: String = text.chars().take(max_chars.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// ISO-8601 in UTC with milliseconds, from ms since the Unix epoch.
pub fn iso_from_millis(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(time) => time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => ms.to_string(),
    }
}

fn parse_date(value: &Value, format: Option<&str>) -> Option<String> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    let number = || value.as_i64().or_else(|| value.as_str()?.trim().parse::<i64>().ok());
    match format {
        Some("epoch_millis") => return Some(iso_from_millis(number()?)),
        Some("epoch_seconds") => return Some(iso_from_millis(number()?.checked_mul(1000)?)),
        _ => {}
    }
    if let Some(ms) = value.as_i64() {
        return Some(iso_from_millis(ms));
    }
    let text = value.as_str()?.trim();
    let iso = |t: NaiveDateTime| t.and_utc().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    if let Some(pattern) = format {
        if let Ok(zoned) = DateTime::parse_from_str(text, pattern) {
            return Some(iso(zoned.naive_utc()));
        }
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, pattern) {
            return Some(iso(naive));
        }
        return NaiveDate::parse_from_str(text, pattern)
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(iso);
    }
    if let Ok(zoned) = DateTime::parse_from_rfc3339(text) {
        return Some(iso(zoned.naive_utc()));
    }
    for pattern in [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ] {
        if let Ok(zoned) = DateTime::parse_from_str(text, pattern) {
            return Some(iso(zoned.naive_utc()));
        }
    }
    for pattern in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, pattern) {
            return Some(iso(naive));
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return date.and_hms_opt(0, 0, 0).map(iso);
    }
    text.parse::<i64>().ok().map(iso_from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(steps: Vec<Transform>, record: Value) -> Result<Value, String> {
        let context = TransformContext {
            source_name: "exports/sales.jsonl".into(),
            import_started_ms: 1_767_225_600_000,
        };
        let plan = TransformPlan::new(&steps, &context)?.expect("some steps");
        let out = plan.apply_to_bytes(record.to_string().as_bytes())?;
        Ok(serde_json::from_slice(&out).expect("JSON out"))
    }

    #[test]
    fn rename_drop_keep_and_set() {
        let record = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": "x"});
        let out = run(
            vec![
                Transform::Rename {
                    from: "b.c".into(),
                    to: "moved.c".into(),
                },
                Transform::Drop { field: "e".into() },
                Transform::Set {
                    field: "region".into(),
                    value: "EU".into(),
                },
                Transform::Set {
                    field: "n".into(),
                    value: "42".into(),
                },
                Transform::SetSourceName { field: "source".into() },
                Transform::SetImportTime {
                    field: "imported_at".into(),
                },
            ],
            record,
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"a": 1, "b": {"d": 3}, "moved": {"c": 2}, "region": "EU", "n": 42,
                   "source": "exports/sales.jsonl", "imported_at": "2026-01-01T00:00:00.000Z"})
        );
        let kept = run(
            vec![Transform::Keep {
                fields: vec!["a".into(), "b.d".into(), "missing".into()],
            }],
            json!({"a": 1, "b": {"c": 2, "d": 3}, "e": "x"}),
        )
        .unwrap();
        assert_eq!(kept, json!({"a": 1, "b": {"d": 3}}));
    }

    #[test]
    fn field_order_is_kept() {
        let plan = TransformPlan::new(&[Transform::Drop { field: "b".into() }], &TransformContext::default())
            .unwrap()
            .unwrap();
        let out = plan.apply_to_bytes(br#"{"z":1,"b":2,"a":3}"#).unwrap();
        assert_eq!(out, br#"{"z":1,"a":3}"#);
    }

    #[test]
    fn dates_parse_into_iso_or_fail_with_the_value() {
        let parse = |value: Value, format: Option<&str>| {
            run(
                vec![Transform::ParseDate {
                    field: "t".into(),
                    format: format.map(String::from),
                }],
                json!({ "t": value }),
            )
            .map(|v| v["t"].clone())
        };
        assert_eq!(
            parse(json!("2026-03-04 05:06:07"), None).unwrap(),
            json!("2026-03-04T05:06:07.000Z")
        );
        assert_eq!(
            parse(json!("2026-03-04T05:06:07+02:00"), None).unwrap(),
            json!("2026-03-04T03:06:07.000Z")
        );
        assert_eq!(
            parse(json!("2026-03-04"), None).unwrap(),
            json!("2026-03-04T00:00:00.000Z")
        );
        assert_eq!(
            parse(json!(1_767_225_600_000i64), None).unwrap(),
            json!("2026-01-01T00:00:00.000Z")
        );
        assert_eq!(
            parse(json!("04/03/2026 05:06"), Some("%d/%m/%Y %H:%M")).unwrap(),
            json!("2026-03-04T05:06:00.000Z")
        );
        assert_eq!(
            parse(json!("04/03/2026"), Some("%d/%m/%Y")).unwrap(),
            json!("2026-03-04T00:00:00.000Z")
        );
        assert_eq!(
            parse(json!("1767225600"), Some("epoch_seconds")).unwrap(),
            json!("2026-01-01T00:00:00.000Z")
        );
        let error = parse(json!("n/a"), None).unwrap_err();
        assert!(error.contains("\"n/a\"") && error.contains("format"), "{error}");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;
        use proptest::sample::select;

        fn object_of(members: Vec<(&str, &str, String)>) -> String {
            let members: Vec<String> = members
                .iter()
                .map(|(key, space, value)| format!("{space}{key}{space}:{space}{value}{space}"))
                .collect();
            format!("{{{}}}", members.join(","))
        }

        /// Object text as a source may spell it: whitespace, escaped and repeated keys, a dotted key, strings with
        /// brackets and quotes, arrays holding objects, nested objects.
        fn object_text() -> impl Strategy<Value = String> {
            let key = select(vec![
                "\"a\"",
                "\"b\"",
                "\"c\"",
                "\"x.y\"",
                "\"\\u0061\"",
                "\"é\"",
                "\"d\"",
            ]);
            let space = select(vec!["", " ", "\n  ", "\t"]);
            let leaf = select(vec![
                "1",
                "-2.5e3",
                "\"s\"",
                "\"a \\\"q\\\" ] }\"",
                "true",
                "null",
                "[1, {\"a\": \"]\"}, []]",
                "1767225600000",
                "\"2026-03-04\"",
            ])
            .prop_map(String::from);
            let members = move |value: BoxedStrategy<String>| {
                prop::collection::vec((key.clone(), space.clone(), value), 0..5).prop_map(object_of)
            };
            let value = {
                let members = members.clone();
                leaf.prop_recursive(3, 24, 5, move |inner| members(inner.boxed()))
            };
            members(value.boxed())
        }

        fn steps() -> impl Strategy<Value = Vec<Transform>> {
            let path = select(vec!["a", "b", "c", "a.b", "b.c", "c.a.b", "x.y", "d", "é"]).prop_map(String::from);
            let step = prop_oneof![
                (path.clone(), path.clone()).prop_map(|(from, to)| Transform::Rename { from, to }),
                path.clone().prop_map(|field| Transform::Drop { field }),
                prop::collection::vec(path.clone(), 1..3).prop_map(|fields| Transform::Keep { fields }),
                (path.clone(), select(vec!["\"EU\"", "42", "{\"n\":1}", "plain"])).prop_map(|(field, value)| {
                    Transform::Set {
                        field,
                        value: value.into(),
                    }
                }),
                path.clone().prop_map(|field| Transform::SetSourceName { field }),
                path.prop_map(|field| Transform::ParseDate { field, format: None }),
            ];
            prop::collection::vec(step, 1..4)
        }

        fn normalised(bytes: &[u8]) -> String {
            serde_json::from_slice::<Value>(bytes).expect("JSON out").to_string()
        }

        proptest! {
            /// Editing the source's bytes in place gives what parsing the record into serde_json values and
            /// editing those gives: the same members, in the same order, with the same values, or the same error.
            #[test]
            fn in_place_edits_mean_what_editing_parsed_values_means(text in object_text(), steps in steps()) {
                let plan = TransformPlan::new(&steps, &TransformContext::default()).unwrap().unwrap();
                prop_assert!(RawObject::parse(text.as_bytes()).is_ok(), "the scanner reads {}", text);
                let parsed: Map<String, Value> = serde_json::from_str(&text).unwrap();
                let in_place = plan.apply_to_bytes(text.as_bytes()).map(|out| normalised(&out));
                let from_values = plan.transformed(RawObject::from_map(parsed), text.len()).map(|out| normalised(&out));
                prop_assert_eq!(in_place, from_values);
            }
        }
    }

    #[test]
    fn bad_paths_and_formats_are_refused_up_front() {
        let context = TransformContext::default();
        assert!(TransformPlan::new(&[Transform::Drop { field: "a..b".into() }], &context).is_err());
        assert!(TransformPlan::new(&[Transform::Keep { fields: vec![] }], &context).is_err());
        assert!(TransformPlan::new(
            &[Transform::ParseDate {
                field: "t".into(),
                format: Some("dd/mm/yyyy".into())
            }],
            &context
        )
        .is_err());
        assert!(TransformPlan::new(&[], &context).unwrap().is_none());
    }
}

//! The target index's mapping, checked against a preview's sample before anything is sent; and a mapping proposed
//! from the sample when the index does not exist yet.
//!
//! The checks follow OpenSearch's documented defaults for field types: numbers are coerced from numeric strings
//! (`coerce: true`), booleans accept `true`/`false` and their strings, dates take the default format
//! `strict_date_optional_time||epoch_millis`, keyword and text take any scalar, and an object field takes only
//! objects. Where a mapping says more than we model (a custom date format, `ip`, `geo_point`...) no conflict is
//! claimed: the check must never cry wolf, since the analyst would stop trusting it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::preview::{is_iso_date, walk, FieldType, Preview};

/// What an object does with fields its mapping does not name (`dynamic`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dynamic {
    /// New fields are added to the mapping (the default).
    True,
    /// New fields are kept in `_source` but not indexed: not searchable.
    False,
    /// A document with a new field is refused (`strict_dynamic_mapping_exception`).
    Strict,
    /// New fields become runtime fields.
    Runtime,
}

impl Dynamic {
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Bool(true) => Some(Dynamic::True),
            Value::Bool(false) => Some(Dynamic::False),
            Value::String(s) => match s.as_str() {
                "true" => Some(Dynamic::True),
                "false" => Some(Dynamic::False),
                "strict" => Some(Dynamic::Strict),
                "runtime" => Some(Dynamic::Runtime),
                _ => None,
            },
            _ => None,
        }
    }
}

/// One mapped field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappedField {
    /// The mapping type (`long`, `keyword`, `object`, `nested` ...).
    pub kind: String,
    /// A date field's `format`, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// For objects: what they do with unknown fields (inherited from the parent when not set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic: Option<Dynamic>,
}

/// An index's mapping, flattened to dotted paths.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IndexMapping {
    /// The concrete index name OpenSearch answered with (differs from the requested name for an alias).
    pub index: String,
    /// The root's `dynamic` (default `true`).
    pub dynamic: Option<Dynamic>,
    /// Fields by dotted path. Objects are listed too, with kind `object` or `nested`.
    pub fields: BTreeMap<String, MappedField>,
}

impl IndexMapping {
    /// Reads a `GET /{index}/_mapping` answer: `{"<index>": {"mappings": {"dynamic": ..., "properties": {...}}}}`.
    pub fn from_response(body: &Value) -> Result<Self, String> {
        let Some((index, entry)) = body.as_object().and_then(|m| m.iter().next()) else {
            return Err("the mapping answer names no index".into());
        };
        let mappings = &entry["mappings"];
        if !mappings.is_object() {
            return Err(format!("the mapping answer for {index} has no \"mappings\" object"));
        }
        let mut mapping = IndexMapping {
            index: index.clone(),
            dynamic: Dynamic::from_value(&mappings["dynamic"]),
            fields: BTreeMap::new(),
        };
        if let Some(properties) = mappings["properties"].as_object() {
            flatten(properties, "", &mut mapping.fields);
        }
        Ok(mapping)
    }

    /// What the object at `path` (or the root, for a top-level field) does with fields it does not map.
    fn dynamic_for_parent_of(&self, path: &str) -> Dynamic {
        let mut parent = path;
        while let Some((up, _)) = parent.rsplit_once('.') {
            parent = up;
            if let Some(dynamic) = self.fields.get(parent).and_then(|f| f.dynamic) {
                return dynamic;
            }
        }
        self.dynamic.unwrap_or(Dynamic::True)
    }

    /// True when a field under `path`'s ancestors is mapped as something that takes any sub-structure
    /// (`flat_object`, or an object with `enabled: false`, which we list with kind `disabled`).
    fn under_opaque(&self, path: &str) -> bool {
        let mut parent = path;
        while let Some((up, _)) = parent.rsplit_once('.') {
            parent = up;
            if self
                .fields
                .get(parent)
                .is_some_and(|f| matches!(f.kind.as_str(), "flat_object" | "disabled"))
            {
                return true;
            }
        }
        false
    }
}

fn flatten(properties: &Map<String, Value>, prefix: &str, out: &mut BTreeMap<String, MappedField>) {
    for (name, spec) in properties {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let children = spec["properties"].as_object();
        let mut kind = spec["type"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| "object".to_string());
        if spec["enabled"] == Value::Bool(false) {
            kind = "disabled".into();
        }
        out.insert(
            path.clone(),
            MappedField {
                kind,
                format: spec["format"].as_str().map(String::from),
                dynamic: Dynamic::from_value(&spec["dynamic"]),
            },
        );
        if let Some(children) = children {
            flatten(children, &path, out);
        }
    }
}

/// Why some sampled records will fail (or not be searchable) in the target index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// Field path.
    pub path: String,
    /// Its type in the mapping, or `strict: not mapped` / `false: not mapped`.
    pub mapped: String,
    /// The type of the values that do not fit.
    pub found: String,
    /// How many sampled records hold such a value.
    pub count: u64,
    /// One of them (compact JSON).
    pub example: String,
    /// True when those records will be refused; false for a warning (the field will not be searchable).
    pub fails: bool,
}

impl Conflict {
    /// The sentence the page and the CLI show.
    pub fn explain(&self, index: &str, sampled: usize) -> String {
        let records = if self.count == 1 { "records has" } else { "records have" };
        if self.mapped.ends_with("not mapped") && self.fails {
            format!(
                "field `{}` is not in the mapping of {index}, which is strict (dynamic: strict); {} of the {sampled} \
                 sampled {records} it (e.g. {}): those records will fail. Drop or rename the field, or add it to \
                 the mapping.",
                self.path, self.count, self.example
            )
        } else if self.mapped.ends_with("not mapped") {
            format!(
                "field `{}` is not in the mapping of {index}, which does not add new fields (dynamic: false); {} of \
                 the {sampled} sampled {records} it: it will be stored but not searchable.",
                self.path, self.count
            )
        } else {
            format!(
                "field `{}` is `{}` in {index}; {} of the {sampled} sampled {records} {} there (e.g. {}): those \
                 records will fail.",
                self.path,
                self.mapped,
                self.count,
                article(&self.found),
                self.example
            )
        }
    }
}

fn article(found: &str) -> String {
    match found {
        "keyword" | "text" => "text".into(),
        "object" => "an object".into(),
        "boolean" => "a boolean".into(),
        "date" => "a date".into(),
        "long" => "an integer".into(),
        "double" => "a decimal number".into(),
        other => other.to_string(),
    }
}

/// Whether a value fits a mapped field, following OpenSearch's defaults. `None`: not modelled, assume it fits.
fn fits(field: &MappedField, value: &Value) -> Option<bool> {
    if value.is_null() {
        return Some(true);
    }
    let numeric_text = |v: &Value| v.as_str().is_some_and(|s| s.trim().parse::<f64>().is_ok());
    let integer_in = |v: &Value, min: f64, max: f64| {
        let n = v.as_f64().or_else(|| v.as_str()?.trim().parse::<f64>().ok());
        n.is_some_and(|n| n.is_finite() && n.trunc() >= min && n.trunc() <= max)
    };
    Some(match field.kind.as_str() {
        "long" => integer_in(value, i64::MIN as f64, i64::MAX as f64),
        "integer" => integer_in(value, i32::MIN as f64, i32::MAX as f64),
        "short" => integer_in(value, i16::MIN as f64, i16::MAX as f64),
        "byte" => integer_in(value, i8::MIN as f64, i8::MAX as f64),
        "unsigned_long" => integer_in(value, 0.0, u64::MAX as f64),
        "double" | "float" | "half_float" | "scaled_float" => value.is_number() || numeric_text(value),
        "boolean" => match value {
            Value::Bool(_) => true,
            Value::String(s) => matches!(s.as_str(), "true" | "false" | ""),
            _ => false,
        },
        "date" | "date_nanos" => {
            let default_format = field.format.as_deref().is_none_or(|f| {
                f.split("||").all(|part| {
                    matches!(
                        part,
                        "strict_date_optional_time" | "date_optional_time" | "epoch_millis"
                    )
                })
            });
            if !default_format {
                return if value.is_object() || value.is_boolean() {
                    Some(false)
                } else {
                    None
                };
            }
            match value {
                Value::Number(n) => n.is_i64() || n.is_u64(),
                Value::String(s) => is_iso_date(s) || s.trim().parse::<i64>().is_ok(),
                _ => false,
            }
        }
        "keyword" | "text" | "match_only_text" | "wildcard" | "constant_keyword" | "search_as_you_type" => {
            !value.is_object()
        }
        "object" | "nested" | "flat_object" => value.is_object(),
        "disabled" => true,
        _ => return None,
    })
}

/// Checks the preview's records against the mapping. One entry per field and kind of problem, biggest first.
pub fn check_sample(preview: &Preview, mapping: &IndexMapping) -> Vec<Conflict> {
    #[derive(Default)]
    struct Tally {
        mapped: String,
        found: BTreeMap<FieldType, u64>,
        count: u64,
        example: String,
        fails: bool,
    }
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    for record in &preview.records {
        let mut flagged: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        walk(record, &mut String::new(), &mut |path, value, _| {
            let problem = match mapping.fields.get(path) {
                Some(field) => match fits(field, value) {
                    Some(false) => Some((field.kind.clone(), true)),
                    _ => None,
                },
                None if mapping.under_opaque(path) => None,
                None => match mapping.dynamic_for_parent_of(path) {
                    Dynamic::Strict => Some(("strict: not mapped".to_string(), true)),
                    Dynamic::False => Some(("false: not mapped".to_string(), false)),
                    _ => None,
                },
            };
            let Some((mapped, fails)) = problem else { return };
            // A strict parent refuses the whole unknown subtree: report its root only.
            if !fails || mapped.ends_with("not mapped") {
                let mut parent = path;
                while let Some((up, _)) = parent.rsplit_once('.') {
                    parent = up;
                    if tallies.get(parent).is_some_and(|t| t.mapped.ends_with("not mapped")) && flagged.contains(parent)
                    {
                        return;
                    }
                }
            }
            let tally = tallies.entry(path.to_string()).or_default();
            tally.mapped = mapped;
            tally.fails = fails;
            *tally.found.entry(FieldType::of(path, value)).or_insert(0) += 1;
            if flagged.insert(path.to_string()) {
                tally.count += 1;
                if tally.example.is_empty() {
                    tally.example = crate::transform::compact(value, 60);
                }
            }
        });
    }
    let mut conflicts: Vec<Conflict> = tallies
        .into_iter()
        .map(|(path, tally)| Conflict {
            path,
            mapped: tally.mapped,
            found: tally
                .found
                .iter()
                .max_by_key(|(_, n)| **n)
                .map(|(t, _)| t.name().to_string())
                .unwrap_or_default(),
            count: tally.count,
            example: tally.example,
            fails: tally.fails,
        })
        .collect();
    conflicts.sort_by(|a, b| {
        b.fails
            .cmp(&a.fails)
            .then(b.count.cmp(&a.count))
            .then(a.path.cmp(&b.path))
    });
    conflicts
}

/// A mapping for a new index from the sample's inferred types, with per-field choices (`overrides`) applied.
/// Fields seen only as `null` are left to dynamic mapping. Returns the `mappings` object of a create-index body.
pub fn propose_mapping(preview: &Preview, overrides: &BTreeMap<String, FieldType>) -> Value {
    let mut root = Map::new();
    for field in &preview.fields {
        let kind = overrides.get(&field.path).copied().unwrap_or_else(|| field.inferred());
        if field.types.keys().all(|t| *t == FieldType::Null) && !overrides.contains_key(&field.path) {
            continue;
        }
        // A field under a parent the analyst chose to map as a scalar is not mapped on its own.
        let mut parent = field.path.as_str();
        let mut hidden = false;
        while let Some((up, _)) = parent.rsplit_once('.') {
            parent = up;
            let parent_kind = overrides
                .get(parent)
                .copied()
                .or_else(|| preview.field(parent).map(|f| f.inferred()));
            if parent_kind.is_some_and(|k| k != FieldType::Object) {
                hidden = true;
            }
        }
        if hidden {
            continue;
        }
        let mut properties = &mut root;
        let mut parts: Vec<&str> = field.path.split('.').collect();
        let Some(leaf) = parts.pop() else { continue };
        for part in parts {
            let entry = properties
                .entry(part.to_string())
                .or_insert_with(|| json!({"properties": {}}));
            if entry.get("properties").is_none() {
                *entry = json!({"properties": {}});
            }
            properties = entry["properties"].as_object_mut().expect("made above");
        }
        let spec = match kind {
            FieldType::Object => json!({"properties": {}}),
            FieldType::Null => continue,
            other => json!({"type": other.name()}),
        };
        match properties.get_mut(leaf) {
            Some(existing) if kind == FieldType::Object && existing.get("properties").is_some() => {}
            _ => {
                properties.insert(leaf.to_string(), spec);
            }
        }
    }
    json!({ "properties": root })
}

/// The names and descriptions of a `GET /_ingest/pipeline` answer (`{"<id>": {"description": ..., "processors":
/// [...]}}`), sorted by name. Only these are shown in the page; the proxy strips the rest.
pub fn pipeline_names(body: &Value) -> Vec<(String, Option<String>)> {
    let mut names: Vec<(String, Option<String>)> = body
        .as_object()
        .map(|pipelines| {
            pipelines
                .iter()
                .map(|(name, spec)| (name.clone(), spec["description"].as_str().map(String::from)))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preview(lines: &str) -> Preview {
        Preview::from_head(lines.as_bytes(), true, &crate::settings::ImportSettings::new("logs"))
    }

    /// The shape of OpenSearch's documented `GET /{index}/_mapping` answer, with a multi-field, an object, a
    /// nested field and a date with the default format.
    fn sales_mapping(dynamic: &str) -> IndexMapping {
        IndexMapping::from_response(&json!({
            "sales-2024": {"mappings": {
                "dynamic": dynamic,
                "properties": {
                    "status": {"type": "long"},
                    "name": {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 256}}},
                    "price": {"type": "double"},
                    "count": {"type": "integer"},
                    "paid": {"type": "boolean"},
                    "at": {"type": "date"},
                    "local": {"type": "date", "format": "dd/MM/yyyy"},
                    "customer": {"properties": {"id": {"type": "keyword"}, "age": {"type": "short"}}},
                    "lines": {"type": "nested", "properties": {"sku": {"type": "keyword"}}},
                    "ip": {"type": "ip"}
                }
            }}
        }))
        .unwrap()
    }

    #[test]
    fn reads_opensearch_mapping_shapes() {
        let mapping = sales_mapping("true");
        assert_eq!(mapping.index, "sales-2024");
        assert_eq!(mapping.dynamic, Some(Dynamic::True));
        assert_eq!(mapping.fields["customer"].kind, "object");
        assert_eq!(mapping.fields["customer.age"].kind, "short");
        assert_eq!(mapping.fields["lines"].kind, "nested");
        assert_eq!(mapping.fields["lines.sku"].kind, "keyword");
        assert_eq!(mapping.fields["local"].format.as_deref(), Some("dd/MM/yyyy"));
        assert!(
            !mapping.fields.contains_key("name.raw"),
            "multi-fields are not document fields"
        );
    }

    #[test]
    fn finds_what_will_fail_and_nothing_else() {
        let sample = preview(concat!(
            r#"{"status":1,"name":"a","price":"2.5","count":3,"paid":"true","at":"2026-03-04","local":"04/03/2026","customer":{"id":7,"age":40},"lines":[{"sku":"x"}],"ip":"10.0.0.1"}"#,
            "\n",
            r#"{"status":"n/a","name":5,"price":1,"count":3000000000,"paid":"yes","at":"tomorrow","customer":{"age":40000},"lines":[{"sku":{"a":1}}]}"#,
            "\n",
            r#"{"status":"7","at":1767225600000,"customer":"gold","name":{"first":"x"}}"#,
            "\n",
        ));
        let conflicts = check_sample(&sample, &sales_mapping("true"));
        let found: BTreeMap<&str, (&str, u64, &str)> = conflicts
            .iter()
            .map(|c| (c.path.as_str(), (c.mapped.as_str(), c.count, c.example.as_str())))
            .collect();
        assert_eq!(
            found["status"],
            ("long", 1, "\"n/a\""),
            "a numeric string coerces; n/a does not"
        );
        assert_eq!(found["count"], ("integer", 1, "3000000000"));
        assert_eq!(found["paid"], ("boolean", 1, "\"yes\""));
        assert_eq!(found["at"], ("date", 1, "\"tomorrow\""));
        assert_eq!(found["customer.age"], ("short", 1, "40000"));
        assert_eq!(found["customer"], ("object", 1, "\"gold\""));
        assert_eq!(found["lines.sku"].0, "keyword");
        assert_eq!(
            found["name"].0, "text",
            "an object in a text field fails; a number does not"
        );
        assert!(!found.contains_key("price") && !found.contains_key("local") && !found.contains_key("ip"));
        let status = conflicts.iter().find(|c| c.path == "status").unwrap();
        assert_eq!(
            status.explain("sales-2024", 3),
            "field `status` is `long` in sales-2024; 1 of the 3 sampled records has text there (e.g. \"n/a\"): \
             those records will fail."
        );
    }

    #[test]
    fn strict_mappings_refuse_unknown_fields() {
        let sample =
            preview("{\"status\":1,\"extra\":{\"deep\":1}}\n{\"status\":2,\"extra\":{\"deep\":2}}\n{\"status\":3}\n");
        let conflicts = check_sample(&sample, &sales_mapping("strict"));
        assert_eq!(conflicts.len(), 1, "{conflicts:?}");
        assert_eq!(
            (conflicts[0].path.as_str(), conflicts[0].count, conflicts[0].fails),
            ("extra", 2, true)
        );
        assert!(conflicts[0].explain("sales-2024", 3).contains("dynamic: strict"));
        let relaxed = check_sample(&sample, &sales_mapping("false"));
        assert!(relaxed.iter().all(|c| !c.fails) && !relaxed.is_empty());
        assert!(check_sample(&sample, &sales_mapping("true")).is_empty());
    }

    #[test]
    fn proposes_a_nested_mapping_with_choices_applied() {
        let sample = preview(
            "{\"id\":1,\"at\":\"2026-03-04\",\"user\":{\"name\":\"a\",\"age\":3},\"gone\":null,\"price\":2.5}\n",
        );
        let mut overrides = BTreeMap::new();
        overrides.insert("id".to_string(), FieldType::Keyword);
        assert_eq!(
            propose_mapping(&sample, &overrides),
            json!({"properties": {
                "id": {"type": "keyword"},
                "at": {"type": "date"},
                "user": {"properties": {"name": {"type": "keyword"}, "age": {"type": "long"}}},
                "price": {"type": "double"}
            }})
        );
        overrides.insert("user".to_string(), FieldType::Text);
        assert_eq!(
            propose_mapping(&sample, &overrides)["properties"]["user"],
            json!({"type": "text"})
        );
    }

    #[test]
    fn pipeline_answers_become_names_and_descriptions() {
        let names = pipeline_names(&json!({
            "zeta": {"processors": [{"set": {"field": "a", "value": 1}}]},
            "alpha": {"description": "adds geo", "processors": []}
        }));
        assert_eq!(
            names,
            [
                ("alpha".to_string(), Some("adds geo".to_string())),
                ("zeta".to_string(), None)
            ]
        );
    }
}

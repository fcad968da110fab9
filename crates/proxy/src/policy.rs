//! What the proxy lets through: plain logic, no HTTP, so it can be tested exhaustively (and run elsewhere later).
//!
//! A bulk body is checked line by line *while it streams in*: every action line must be `index` or `create` on an
//! allowed index, with no metadata beyond a short allow-list. Source lines are skipped without being parsed or
//! buffered. The first offending line refuses the whole request, before anything is sent upstream.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// Action lines longer than this are refused (a real one is a few hundred bytes).
const MAX_ACTION_LINE: usize = 64 * 1024;

/// Metadata keys an action line may carry.
const ALLOWED_METADATA: [&str; 5] = ["_index", "_id", "pipeline", "routing", "require_alias"];

/// Index name patterns (`logs-*`, `sales-2026-??`, `products`). System indices (starting with `.`) never match,
/// whatever the pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexPatterns(Vec<String>);

impl IndexPatterns {
    /// Parses patterns; each is a glob with `*` and `?`.
    pub fn new(patterns: impl IntoIterator<Item = impl Into<String>>) -> Result<Self, String> {
        let patterns: Vec<String> = patterns.into_iter().map(Into::into).filter(|p| !p.is_empty()).collect();
        if patterns.is_empty() {
            return Err("at least one allowed index pattern is needed (--allow-index logs-*)".into());
        }
        if let Some(bad) = patterns.iter().find(|p| p.starts_with('.')) {
            return Err(format!("'{bad}': system indices (starting with '.') cannot be allowed"));
        }
        Ok(IndexPatterns(patterns))
    }

    /// The patterns as given.
    pub fn patterns(&self) -> &[String] {
        &self.0
    }

    /// True when `index` is a valid, non-system index name that matches a pattern.
    pub fn allows(&self, index: &str) -> bool {
        valid_index_name(index)
            && self
                .0
                .iter()
                .any(|pattern| glob_match(pattern.as_bytes(), index.as_bytes()))
    }
}

/// OpenSearch's index name rules, plus: no system indices, no wildcards, no date math.
fn valid_index_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name.starts_with(['.', '_', '-', '+'])
        && !name.chars().any(|c| {
            c.is_ascii_uppercase()
                || c.is_control()
                || matches!(
                    c,
                    ' ' | '"' | '*' | '\\' | '<' | '>' | '|' | ',' | '/' | '?' | '#' | ':'
                )
        })
}

fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|skip| glob_match(rest, &text[skip..])),
        Some((b'?', rest)) => !text.is_empty() && glob_match(rest, &text[1..]),
        Some((&c, rest)) => text.first() == Some(&c) && glob_match(rest, &text[1..]),
    }
}

/// Why a request is refused: an HTTP status, a stable code, and a message for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// HTTP status to answer with.
    pub status: u16,
    /// Machine-readable code.
    pub code: &'static str,
    /// What happened and what to do.
    pub message: String,
}

impl Refusal {
    fn forbidden(code: &'static str, message: String) -> Self {
        Refusal {
            status: 403,
            code,
            message,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Action,
    Source,
}

/// Checks a bulk body as it streams in. Feed chunks in order with [`BulkGuard::feed`], then call
/// [`BulkGuard::finish`].
#[derive(Debug)]
pub struct BulkGuard<'a> {
    patterns: &'a IndexPatterns,
    path_index: Option<String>,
    line: usize,
    expect: Expect,
    action_line: Vec<u8>,
    actions: usize,
}

impl<'a> BulkGuard<'a> {
    /// A guard for a body posted to `/_bulk` (`path_index: None`) or `/{index}/_bulk`.
    pub fn new(patterns: &'a IndexPatterns, path_index: Option<&str>) -> Result<Self, Refusal> {
        if let Some(index) = path_index {
            if !patterns.allows(index) {
                return Err(index_refusal(index, "the request path"));
            }
        }
        Ok(BulkGuard {
            patterns,
            path_index: path_index.map(str::to_string),
            line: 1,
            expect: Expect::Action,
            action_line: Vec::new(),
            actions: 0,
        })
    }

    /// Checks the next chunk of the body.
    pub fn feed(&mut self, mut chunk: &[u8]) -> Result<(), Refusal> {
        while !chunk.is_empty() {
            let newline = memchr::memchr(b'\n', chunk);
            let (piece, rest, complete) = match newline {
                Some(at) => (&chunk[..at], &chunk[at + 1..], true),
                None => (chunk, &[][..], false),
            };
            match self.expect {
                Expect::Action => {
                    if self.action_line.len() + piece.len() > MAX_ACTION_LINE {
                        return Err(Refusal::forbidden(
                            "action_line_too_long",
                            format!(
                                "line {} is over {MAX_ACTION_LINE} bytes and is not an action line",
                                self.line
                            ),
                        ));
                    }
                    self.action_line.extend_from_slice(piece);
                    if complete {
                        self.check_action_line()?;
                    }
                }
                Expect::Source => {
                    if complete {
                        self.expect = Expect::Action;
                    }
                }
            }
            if complete {
                self.line += 1;
            }
            chunk = rest;
        }
        Ok(())
    }

    /// Ends the body. Returns the number of actions.
    pub fn finish(mut self) -> Result<usize, Refusal> {
        if self.expect == Expect::Action && !self.action_line.is_empty() {
            self.check_action_line()?;
        }
        if self.actions == 0 {
            return Err(Refusal {
                status: 400,
                code: "empty_bulk",
                message: "the bulk body holds no action".into(),
            });
        }
        Ok(self.actions)
    }

    fn check_action_line(&mut self) -> Result<(), Refusal> {
        let line = std::mem::take(&mut self.action_line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(()); // OpenSearch skips blank lines between actions
        }
        let number = self.line;
        let refuse = |code, message: String| Err(Refusal::forbidden(code, format!("line {number}: {message}")));
        let action: StrictObject<Box<RawValue>> = match serde_json::from_slice(&line) {
            Ok(action) => action,
            Err(error) => return refuse("malformed_action", format!("not a valid action line ({error})")),
        };
        let mut entries = action.0.into_iter();
        let (name, metadata) = match (entries.next(), entries.next()) {
            (Some(entry), None) => entry,
            _ => return refuse("malformed_action", "an action line must hold exactly one action".into()),
        };
        if name != "index" && name != "create" {
            return refuse(
                "action_not_allowed",
                format!("the '{name}' action is not allowed; this proxy only accepts 'index' and 'create'"),
            );
        }
        let metadata: StrictObject<Value> = match serde_json::from_str(metadata.get()) {
            Ok(metadata) => metadata,
            Err(error) => {
                return refuse(
                    "malformed_action",
                    format!("the action's metadata is invalid ({error})"),
                )
            }
        };
        if let Some(key) = metadata.0.keys().find(|key| !ALLOWED_METADATA.contains(&key.as_str())) {
            return refuse(
                "metadata_not_allowed",
                format!(
                    "the action metadata '{key}' is not allowed (allowed: {})",
                    ALLOWED_METADATA.join(", ")
                ),
            );
        }
        match metadata.0.get("_index") {
            Some(Value::String(index)) => {
                if !self.patterns.allows(index) {
                    return Err(index_refusal(index, &format!("line {number}")));
                }
            }
            Some(_) => return refuse("malformed_action", "_index must be a string".into()),
            None if self.path_index.is_some() => {}
            None => {
                return refuse(
                    "index_missing",
                    "the action names no _index and the path names none".into(),
                )
            }
        }
        self.actions += 1;
        self.expect = Expect::Source;
        Ok(())
    }
}

fn index_refusal(index: &str, place: &str) -> Refusal {
    Refusal::forbidden(
        "index_not_allowed",
        format!("{place}: writing to index '{index}' is not allowed by this proxy; ask the admin to allow it"),
    )
}

/// A JSON object whose keys are unique: with a duplicate key the proxy and the cluster could disagree on which
/// value counts. The action level keeps raw values so the metadata object is parsed strictly too.
struct StrictObject<V>(BTreeMap<String, V>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for StrictObject<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrictVisitor<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for StrictVisitor<V> {
            type Value = StrictObject<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StrictObject<V>, A::Error> {
                let mut entries = BTreeMap::new();
                while let Some((key, value)) = map.next_entry::<String, V>()? {
                    if entries.insert(key.clone(), value).is_some() {
                        return Err(de::Error::custom(format!("duplicate key '{key}'")));
                    }
                }
                Ok(StrictObject(entries))
            }
        }
        deserializer.deserialize_map(StrictVisitor(std::marker::PhantomData))
    }
}

/// Field types a proxied create-index body may name: plain data types, no scripts, analyzers or anything that
/// reaches beyond the new index.
const CREATE_INDEX_TYPES: &[&str] = &[
    "keyword",
    "text",
    "match_only_text",
    "wildcard",
    "constant_keyword",
    "long",
    "integer",
    "short",
    "byte",
    "unsigned_long",
    "double",
    "float",
    "half_float",
    "scaled_float",
    "boolean",
    "date",
    "date_nanos",
    "object",
    "nested",
    "flat_object",
    "ip",
    "geo_point",
    "binary",
];

/// Checks a create-index body the browser sends (`PUT /{index}`, only with `--allow-create-index`): at most
/// `mappings` (`dynamic` and `properties` of plain field types, with `format`, `fields`, `ignore_above`) and
/// `settings.number_of_shards` / `number_of_replicas` (1–64 and 0–8). Anything else is refused, so the proxy cannot
/// be used to create aliases, analyzers that read files, ingest defaults, scripts or other settings.
pub fn check_create_index_body(body: &[u8]) -> Result<(), Refusal> {
    let refuse = |message: String| Refusal {
        status: 400,
        code: "create_index_body",
        message,
    };
    let body: serde_json::Value = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::json!({})
    } else {
        serde_json::from_slice(body).map_err(|e| refuse(format!("the create-index body is not JSON: {e}")))?
    };
    let Some(top) = body.as_object() else {
        return Err(refuse("the create-index body must be a JSON object".into()));
    };
    for (key, value) in top {
        match key.as_str() {
            "mappings" => check_mappings(value).map_err(refuse)?,
            "settings" => check_index_settings(value).map_err(refuse)?,
            other => {
                return Err(refuse(format!(
                    "'{other}' is not allowed in a create-index body through this proxy; only mappings and the \
                     number of shards and replicas are"
                )))
            }
        }
    }
    Ok(())
}

fn check_mappings(mappings: &serde_json::Value) -> Result<(), String> {
    let Some(mappings) = mappings.as_object() else {
        return Err("mappings must be an object".into());
    };
    for (key, value) in mappings {
        match key.as_str() {
            "dynamic" => check_dynamic(value)?,
            "properties" => check_properties(value, "", 0)?,
            other => {
                return Err(format!(
                    "mappings.{other} is not allowed; only dynamic and properties are"
                ))
            }
        }
    }
    Ok(())
}

fn check_dynamic(value: &serde_json::Value) -> Result<(), String> {
    match value {
        serde_json::Value::Bool(_) => Ok(()),
        serde_json::Value::String(s) if matches!(s.as_str(), "true" | "false" | "strict") => Ok(()),
        other => Err(format!("dynamic must be true, false or \"strict\", not {other}")),
    }
}

fn check_properties(properties: &serde_json::Value, prefix: &str, depth: usize) -> Result<(), String> {
    if depth > 20 {
        return Err("the mapping nests objects more than 20 levels deep".into());
    }
    let Some(properties) = properties.as_object() else {
        return Err(format!("properties of '{prefix}' must be an object"));
    };
    for (name, spec) in properties {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let Some(spec) = spec.as_object() else {
            return Err(format!("the mapping of field '{path}' must be an object"));
        };
        for (key, value) in spec {
            match key.as_str() {
                "type" => match value.as_str() {
                    Some(kind) if CREATE_INDEX_TYPES.contains(&kind) => {}
                    _ => {
                        return Err(format!(
                            "field '{path}' has type {value}, which this proxy does not create"
                        ))
                    }
                },
                "properties" => check_properties(value, &path, depth + 1)?,
                "fields" => check_properties(value, &path, depth + 1)?,
                "dynamic" => check_dynamic(value)?,
                "format" if value.is_string() => {}
                "ignore_above" if value.is_u64() => {}
                other => {
                    return Err(format!(
                        "'{other}' in the mapping of field '{path}' is not allowed through this proxy"
                    ))
                }
            }
        }
    }
    Ok(())
}

fn check_index_settings(settings: &serde_json::Value) -> Result<(), String> {
    let Some(settings) = settings.as_object() else {
        return Err("settings must be an object".into());
    };
    for (key, value) in settings {
        let (name, value) = match (key.as_str(), value) {
            ("index", serde_json::Value::Object(inner)) => {
                check_index_settings(&serde_json::Value::Object(inner.clone()))?;
                continue;
            }
            (name, value) => (name.strip_prefix("index.").unwrap_or(name), value),
        };
        let number = value.as_u64().or_else(|| value.as_str()?.parse().ok());
        let range = match name {
            "number_of_shards" => 1..=64,
            "number_of_replicas" => 0..=8,
            other => {
                return Err(format!(
                "settings.{other} is not allowed through this proxy; only number_of_shards and number_of_replicas are"
            ))
            }
        };
        if !number.is_some_and(|n| range.contains(&n)) {
            return Err(format!(
                "settings.{name} must be a whole number from {} to {}",
                range.start(),
                range.end()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn create_index_bodies_hold_only_mappings_and_shard_counts() {
        let ok = br#"{"settings":{"number_of_shards":1,"index":{"number_of_replicas":"1"}},
            "mappings":{"dynamic":"strict","properties":{"a":{"type":"keyword"},"b":{"properties":{"c":{"type":"date","format":"yyyy"}}},
            "t":{"type":"text","fields":{"raw":{"type":"keyword","ignore_above":256}}}}}}"#;
        assert!(check_create_index_body(ok).is_ok());
        assert!(check_create_index_body(b"").is_ok());
        for bad in [
            r#"{"aliases":{"secret":{}}}"#,
            r#"{"settings":{"number_of_shards":1000}}"#,
            r#"{"settings":{"default_pipeline":"x"}}"#,
            r#"{"settings":{"index":{"analysis":{}}}}"#,
            r#"{"mappings":{"_source":{"enabled":false}}}"#,
            r#"{"mappings":{"properties":{"a":{"type":"keyword","script":"x"}}}}"#,
            r#"{"mappings":{"properties":{"a":{"type":"percolator"}}}}"#,
            r#"{"mappings":{"dynamic":"runtime"}}"#,
            r#"[1]"#,
            r#"not json"#,
        ] {
            let refusal = check_create_index_body(bad.as_bytes()).expect_err(bad);
            assert_eq!((refusal.status, refusal.code), (400, "create_index_body"), "{bad}");
        }
    }

    use super::*;

    fn patterns() -> IndexPatterns {
        IndexPatterns::new(["logs-*", "products"]).unwrap()
    }

    fn check(path_index: Option<&str>, body: &str) -> Result<usize, Refusal> {
        let patterns = patterns();
        let mut guard = BulkGuard::new(&patterns, path_index)?;
        // Byte by byte: the guard must not depend on chunk boundaries.
        for byte in body.as_bytes().chunks(1) {
            guard.feed(byte)?;
        }
        guard.finish()
    }

    #[test]
    fn globs_and_system_indices() {
        let p = patterns();
        assert!(p.allows("logs-2026") && p.allows("products"));
        assert!(!p.allows("products2") && !p.allows("logs") && !p.allows(".logs-x"));
        assert!(!p.allows("logs-*") && !p.allows("logs-<now>") && !p.allows("logs-a,secret"));
        assert!(IndexPatterns::new([".kibana"]).is_err());
        assert!(IndexPatterns::new(Vec::<String>::new()).is_err());
        assert!(IndexPatterns::new(["*"]).unwrap().allows("anything"));
        assert!(!IndexPatterns::new(["*"]).unwrap().allows(".security"));
    }

    #[test]
    fn accepts_index_and_create_on_allowed_indices() {
        let body = "{\"index\":{\"_index\":\"logs-a\",\"_id\":\"1\"}}\n{\"x\":{\"delete\":1}}\n\
                    {\"create\":{\"_index\":\"products\",\"pipeline\":\"p\"}}\n{\"_index\":\"secret\"}\n";
        assert_eq!(check(None, body), Ok(2));
        assert_eq!(check(Some("logs-b"), "{\"index\":{}}\n{}\n"), Ok(1));
    }

    #[test]
    fn refuses_hostile_bodies_naming_the_line() {
        let cases = [
            ("{\"delete\":{\"_index\":\"logs-a\",\"_id\":\"1\"}}\n", "action_not_allowed", "line 1"),
            ("{\"index\":{\"_index\":\"logs-a\"}}\n{}\n{\"update\":{\"_index\":\"logs-a\",\"_id\":\"1\"}}\n{\"doc\":{}}\n", "action_not_allowed", "line 3"),
            ("{\"index\":{\"_index\":\"secret\"}}\n{}\n", "index_not_allowed", "secret"),
            ("{\"index\":{\"_index\":\".kibana\"}}\n{}\n", "index_not_allowed", ".kibana"),
            ("{\"index\":{\"_index\":\"logs-a\",\"_index\":\"secret\"}}\n{}\n", "malformed_action", "duplicate key"),
            ("{\"index\":{\"_index\":\"logs-a\"},\"delete\":{\"_index\":\"logs-a\"}}\n{}\n", "malformed_action", "exactly one"),
            ("{\"index\":{\"_index\":\"logs-a\",\"version_type\":\"external\"}}\n{}\n", "metadata_not_allowed", "version_type"),
            ("{\"index\":{}}\n{}\n", "index_missing", "line 1"),
            ("not json\n", "malformed_action", "line 1"),
            ("{\"index\":{\"_index\":\"\\u006c\\u006fgs-a\"}}\n{}\n{\"index\":{\"_index\":\"\\u002esecret\"}}\n{}\n", "index_not_allowed", ".secret"),
            ("{\"index\":{\"_index\":\"logs-a\"}}\n{}\n{\"delete\":{\"_index\":\"logs-a\",\"_id\":\"1\"}}", "action_not_allowed", "line 3"),
        ];
        for (body, code, needle) in cases {
            let refusal = check(None, body).expect_err(body);
            assert_eq!(refusal.code, code, "{body}: {refusal}");
            assert!(refusal.message.contains(needle), "{body}: {refusal}");
            assert_eq!(refusal.status, 403);
        }
        assert_eq!(
            check(Some("secret"), "{\"index\":{}}\n{}\n").unwrap_err().code,
            "index_not_allowed"
        );
        assert_eq!(check(None, "\n\n").unwrap_err().code, "empty_bulk");
    }

    #[test]
    fn finds_a_bad_line_deep_in_a_large_body() {
        let mut body = String::new();
        for i in 0..5000 {
            body.push_str(&format!(
                "{{\"index\":{{\"_index\":\"logs-a\",\"_id\":\"{i}\"}}}}\n{{\"n\":{i}}}\n"
            ));
        }
        body.push_str("{\"index\":{\"_index\":\"secret\"}}\n{}\n");
        let patterns = patterns();
        let mut guard = BulkGuard::new(&patterns, None).unwrap();
        let refusal = body
            .as_bytes()
            .chunks(4096)
            .try_for_each(|c| guard.feed(c))
            .unwrap_err();
        assert!(refusal.message.starts_with("line 10001:"), "{refusal}");
    }
}

//! Checks on one record before it is batched: is it a JSON object, and what is its `_id`.
//!
//! Validation and id extraction are one pass of serde_json over the record's bytes with a visitor that skips
//! everything but the path to the id field (no `serde_json::Value` tree is built).

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::settings::Validation;

/// OpenSearch refuses `_id` values longer than 512 bytes (since 2.9).
pub const MAX_ID_BYTES: usize = 512;

/// A parsed RFC 6901 JSON pointer such as `/user/id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPointer {
    segments: Vec<String>,
    text: String,
}

impl JsonPointer {
    /// Parses a pointer. It must name a field inside the document (not the whole document).
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some(rest) = text.strip_prefix('/') else {
            return Err(format!(
                "the id field '{text}' must be a JSON pointer starting with '/', for example '/{text}' or '/user/id'"
            ));
        };
        let segments = rest
            .split('/')
            .map(|segment| segment.replace("~1", "/").replace("~0", "~"))
            .collect();
        Ok(JsonPointer {
            segments,
            text: text.to_string(),
        })
    }

    /// The pointer as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The field names it walks, outermost first, unescaped.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }
}

/// Why a record cannot be sent. The text is what an analyst reads in the dead-letter list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordProblem {
    /// The bytes are not UTF-8.
    NotUtf8 {
        /// Offset of the first bad byte within the record.
        at: usize,
    },
    /// serde_json's message (line and column are relative to the record).
    InvalidJson(String),
    /// Valid JSON but not an object.
    NotAnObject(&'static str),
    /// The id field is absent.
    MissingId(String),
    /// The id field holds something that cannot be an id.
    BadId {
        /// The pointer.
        pointer: String,
        /// What was found, in words.
        found: &'static str,
    },
    /// The id is longer than OpenSearch allows.
    IdTooLong(usize),
}

impl fmt::Display for RecordProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordProblem::NotUtf8 { at } => {
                write!(f, "not valid UTF-8 text (bad byte at position {at} of the record)")
            }
            RecordProblem::InvalidJson(message) => write!(f, "not valid JSON: {message} (within the record)"),
            RecordProblem::NotAnObject(found) => {
                write!(f, "not a JSON object (found {found}); each record must be {{...}}")
            }
            RecordProblem::MissingId(pointer) => write!(f, "the id field {pointer} is missing"),
            RecordProblem::BadId { pointer, found } => {
                write!(
                    f,
                    "the id field {pointer} holds {found}; it must be a non-empty string or an integer"
                )
            }
            RecordProblem::IdTooLong(len) => {
                write!(
                    f,
                    "the id is {len} bytes long; OpenSearch accepts at most {MAX_ID_BYTES}"
                )
            }
        }
    }
}

/// Checks a record and extracts its id when a pointer is given. Returns the id (if a pointer was given).
pub fn check_record(
    bytes: &[u8],
    validation: Validation,
    id_field: Option<&JsonPointer>,
) -> Result<Option<String>, RecordProblem> {
    if id_field.is_none() && validation == Validation::Structural {
        return match (bytes.first(), bytes.last()) {
            (Some(b'{'), Some(b'}')) => Ok(None),
            (first, _) => Err(RecordProblem::NotAnObject(describe_start(first.copied()))),
        };
    }
    if let Err(error) = std::str::from_utf8(bytes) {
        return Err(RecordProblem::NotUtf8 {
            at: error.valid_up_to(),
        });
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let found = TopLevel {
        path: id_field.map(|p| p.segments.as_slice()),
    }
    .deserialize(&mut deserializer)
    .and_then(|found| deserializer.end().map(|()| found))
    .map_err(|error| RecordProblem::InvalidJson(error.to_string()))?;
    let found = match found {
        Top::NotObject(kind) => return Err(RecordProblem::NotAnObject(kind)),
        Top::Object(found) => found,
    };
    let Some(pointer) = id_field else {
        return Ok(None);
    };
    match found {
        Found::Missing => checked_id(pointer, None).map(Some),
        Found::Other(kind) => Err(RecordProblem::BadId {
            pointer: pointer.text.clone(),
            found: kind,
        }),
        Found::Id(id) => checked_id(pointer, Some(id)).map(Some),
    }
}

/// The id of a document whose id field, found by its source rather than by parsing the document, holds `text` (a
/// string or a whole number written as text; `None`: the field is absent). The same checks as [`check_record`].
pub fn id_from_text(pointer: &JsonPointer, text: Option<&str>) -> Result<String, RecordProblem> {
    checked_id(pointer, text.map(str::to_string))
}

fn checked_id(pointer: &JsonPointer, id: Option<String>) -> Result<String, RecordProblem> {
    match id {
        None => Err(RecordProblem::MissingId(pointer.text.clone())),
        Some(id) if id.is_empty() => Err(RecordProblem::BadId {
            pointer: pointer.text.clone(),
            found: "an empty string",
        }),
        Some(id) if id.len() > MAX_ID_BYTES => Err(RecordProblem::IdTooLong(id.len())),
        Some(id) => Ok(id),
    }
}

fn describe_start(first: Option<u8>) -> &'static str {
    match first {
        None => "nothing",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b'-' | b'0'..=b'9') => "a number",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        Some(b'{') => "an object that does not end with '}'",
        Some(_) => "something that is not JSON",
    }
}

enum Top {
    NotObject(&'static str),
    Object(Found),
}

enum Found {
    Missing,
    Id(String),
    Other(&'static str),
}

/// The document itself: must be an object; walks to the id when a path is given.
struct TopLevel<'p> {
    path: Option<&'p [String]>,
}

impl<'de> DeserializeSeed<'de> for TopLevel<'_> {
    type Value = Top;
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Top, D::Error> {
        deserializer.deserialize_any(self)
    }
}

macro_rules! not_object {
    ($($method:ident($ty:ty) => $kind:expr),* $(,)?) => {
        $(fn $method<E: de::Error>(self, _: $ty) -> Result<Self::Value, E> {
            Ok(Top::NotObject($kind))
        })*
    };
}

impl<'de> Visitor<'de> for TopLevel<'_> {
    type Value = Top;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    not_object! {
        visit_bool(bool) => "a boolean",
        visit_i64(i64) => "a number",
        visit_u64(u64) => "a number",
        visit_f64(f64) => "a number",
        visit_str(&str) => "a string",
    }
    fn visit_unit<E: de::Error>(self) -> Result<Top, E> {
        Ok(Top::NotObject("null"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Top, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Top::NotObject("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Top, A::Error> {
        match self.path {
            None => {
                IgnoredAny.visit_map(map)?;
                Ok(Top::Object(Found::Missing))
            }
            Some(path) => Probe { path }.visit_map(map).map(Top::Object),
        }
    }
}

/// Looks for `path` inside a value; everything off the path is skipped.
struct Probe<'p> {
    path: &'p [String],
}

impl<'de> DeserializeSeed<'de> for Probe<'_> {
    type Value = Found;
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Found, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Probe<'_> {
    type Value = Found;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: de::Error>(self, value: &str) -> Result<Found, E> {
        Ok(self.leaf(|| Found::Id(value.to_string())))
    }
    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Found, E> {
        Ok(self.leaf(|| Found::Id(value.to_string())))
    }
    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Found, E> {
        Ok(self.leaf(|| Found::Id(value.to_string())))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Found, E> {
        Ok(self.leaf(|| Found::Other("a decimal number")))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Found, E> {
        Ok(self.leaf(|| Found::Other("a boolean")))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Found, E> {
        Ok(self.leaf(|| Found::Other("null")))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found, A::Error> {
        let Some((wanted, rest)) = self.path.split_first() else {
            IgnoredAny.visit_map(map)?;
            return Ok(Found::Other("an object"));
        };
        let mut found = Found::Missing;
        while let Some(matches) = map.next_key_seed(KeyIs(wanted))? {
            if matches && matches!(found, Found::Missing) {
                found = map.next_value_seed(Probe { path: rest })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Found, A::Error> {
        let Some((wanted, rest)) = self.path.split_first() else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(Found::Other("an array"));
        };
        let index = wanted.parse::<usize>().ok();
        let mut found = Found::Missing;
        let mut position = 0usize;
        loop {
            if Some(position) == index {
                match seq.next_element_seed(Probe { path: rest })? {
                    Some(value) => found = value,
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            position += 1;
        }
        Ok(found)
    }
}

impl Probe<'_> {
    /// A scalar: it is the id if the path ends here, else the path does not exist.
    fn leaf(&self, found: impl FnOnce() -> Found) -> Found {
        if self.path.is_empty() {
            found()
        } else {
            Found::Missing
        }
    }
}

/// Compares an object key with the wanted segment without allocating.
struct KeyIs<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(record: &str, pointer: &str) -> Result<Option<String>, RecordProblem> {
        check_record(
            record.as_bytes(),
            Validation::Full,
            Some(&JsonPointer::parse(pointer).unwrap()),
        )
    }

    #[test]
    fn extracts_ids_from_nested_fields_and_arrays() {
        assert_eq!(id(r#"{"id":"a1","x":[1,2]}"#, "/id").unwrap().as_deref(), Some("a1"));
        assert_eq!(
            id(r#"{"x":{"id":2},"user":{"id":42}}"#, "/user/id").unwrap().as_deref(),
            Some("42")
        );
        assert_eq!(id(r#"{"ids":[7,-8]}"#, "/ids/1").unwrap().as_deref(), Some("-8"));
        assert_eq!(id(r#"{"a/b":"s"}"#, "/a~1b").unwrap().as_deref(), Some("s"));
        assert_eq!(id(r#"{"id":"\u00e9\""}"#, "/id").unwrap().as_deref(), Some("é\""));
    }

    #[test]
    fn reports_bad_ids() {
        assert_eq!(id(r#"{"x":1}"#, "/id"), Err(RecordProblem::MissingId("/id".into())));
        assert!(matches!(
            id(r#"{"id":1.5}"#, "/id"),
            Err(RecordProblem::BadId {
                found: "a decimal number",
                ..
            })
        ));
        assert!(matches!(
            id(r#"{"id":null}"#, "/id"),
            Err(RecordProblem::BadId { found: "null", .. })
        ));
        assert!(matches!(id(r#"{"id":""}"#, "/id"), Err(RecordProblem::BadId { .. })));
        assert!(matches!(
            id(r#"{"id":{"a":1}}"#, "/id"),
            Err(RecordProblem::BadId { found: "an object", .. })
        ));
        let long = format!(r#"{{"id":"{}"}}"#, "x".repeat(513));
        assert_eq!(id(&long, "/id"), Err(RecordProblem::IdTooLong(513)));
    }

    #[test]
    fn rejects_non_objects_and_invalid_json() {
        let full = |s: &[u8]| check_record(s, Validation::Full, None);
        assert_eq!(full(br#"{"a":[1,{"b":null}]}"#), Ok(None));
        assert_eq!(full(b"[1,2]"), Err(RecordProblem::NotAnObject("an array")));
        assert_eq!(full(b"42"), Err(RecordProblem::NotAnObject("a number")));
        assert!(matches!(full(br#"{"a":1"#), Err(RecordProblem::InvalidJson(_))));
        assert!(matches!(full(br#"{"a":1} x"#), Err(RecordProblem::InvalidJson(_))));
        assert!(matches!(
            full(b"{\"a\":\"\xff\"}"),
            Err(RecordProblem::NotUtf8 { at: 6 })
        ));
        let problem = full(br#"{"a":tru}"#).unwrap_err().to_string();
        assert!(problem.starts_with("not valid JSON: "), "{problem}");
    }

    #[test]
    fn structural_mode_only_checks_the_braces() {
        let quick = |s: &[u8]| check_record(s, Validation::Structural, None);
        assert_eq!(quick(br#"{"a":tru}"#), Ok(None));
        assert_eq!(quick(b"[1]"), Err(RecordProblem::NotAnObject("an array")));
    }
}

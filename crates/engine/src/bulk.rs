//! Reading OpenSearch's `_bulk` answers: what happened to the request, and to each record in it.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;

use crate::retry::parse_retry_after;
use crate::settings::Action;

/// The query that asks a `_bulk` answer for only what [`classify`] reads: whether any item failed, and each item's
/// status and error (so the items still count one per record). Without it a cluster answers about 170 bytes per
/// record (`_index`, `_id`, `_version`, `result`, `_shards`, `_seq_no`...), nearly as much as it was sent, and the
/// client downloads and parses all of it; with it, about 25. OpenSearch and Elasticsearch take `filter_path` on every
/// REST call; a server that ignores it answers in full, which reads the same.
pub const RESPONSE_FILTER: &str = "took,errors,items.*.status,items.*.error";

/// [`RESPONSE_FILTER`] as the query of a `_bulk` URL, percent-encoded as SigV4's canonical form has it, so a signed
/// request reads the same to the signer, the wire and the cluster.
pub const RESPONSE_FILTER_QUERY: &str = "filter_path=took%2Cerrors%2Citems.%2A.status%2Citems.%2A.error";

/// What a sink got back for one bulk request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkResponse {
    /// HTTP status.
    pub status: u16,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<String>,
    /// The body, unparsed.
    pub body: Vec<u8>,
}

/// What to do with a whole request.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The cluster answered per item, in request order.
    Items(Vec<ItemOutcome>),
    /// Nothing is known about the items: send the same request again later.
    RetryAll {
        /// Why, in words.
        reason: String,
        /// The server's `Retry-After`, in milliseconds.
        retry_after_ms: Option<u64>,
    },
    /// 413: the body is too large for the server; send it again in halves.
    Split,
    /// The request cannot succeed by retrying (credentials, permissions, a refused index...): stop the job.
    Fatal(String),
}

/// True when a retry reason from [`classify`] is back-pressure: a 429 for the request or an item, or a rejected
/// execution (the cluster's write queue is full). It is retried for as long as it lasts, and it slows the sender.
pub fn is_back_pressure(reason: &str) -> bool {
    reason.starts_with("the cluster is busy (429")
        || reason.starts_with("429 ")
        || reason.contains("rejected_execution_exception")
}

/// What happened to one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Indexed (created or updated).
    Indexed,
    /// `create` found the id already there; with deterministic ids that is this record from an earlier run.
    AlreadyIndexed,
    /// Rejected for now (429 `rejected_execution_exception`, 502/503/504): send again later.
    Retry(String),
    /// Refused for good (a mapping conflict, an invalid document...): a dead letter with this reason.
    Rejected(String),
}

/// The error body a Sluice proxy sends for its own refusals, so they can be told apart from OpenSearch's:
/// `{"sluice_error":{"code":"index_not_allowed","message":"..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct ProxyError {
    /// Machine-readable code.
    pub code: String,
    /// What happened and what to do, for a person.
    pub message: String,
}

/// Classifies a `_bulk` response to a request that held `expected_items` records.
///
/// `deterministic_ids` says whether a `create` conflict (409) can be taken as "this record is already there".
pub fn classify(
    response: &SinkResponse,
    expected_items: usize,
    action: Action,
    deterministic_ids: bool,
    now_ms: u64,
) -> Verdict {
    let retry_after_ms = || {
        response
            .retry_after
            .as_deref()
            .and_then(|v| parse_retry_after(v, now_ms))
    };
    match response.status {
        200..=299 => classify_items(&response.body, expected_items, action, deterministic_ids),
        413 => Verdict::Split,
        429 => Verdict::RetryAll {
            reason: format!("the cluster is busy (429 {})", describe_error_body(&response.body)),
            retry_after_ms: retry_after_ms(),
        },
        500 | 502 | 503 | 504 => Verdict::RetryAll {
            reason: format!(
                "the cluster or proxy is unavailable ({} {})",
                response.status,
                describe_error_body(&response.body)
            ),
            retry_after_ms: retry_after_ms(),
        },
        401 => Verdict::Fatal(format!(
            "authentication failed (401): {}. Check the proxy's token or the cluster credentials.",
            describe_error_body(&response.body)
        )),
        403 => Verdict::Fatal(format!(
            "the request was refused (403): {}",
            describe_error_body(&response.body)
        )),
        status => Verdict::Fatal(format!(
            "the bulk request failed with HTTP {status}: {}",
            describe_error_body(&response.body)
        )),
    }
}

fn classify_items(body: &[u8], expected: usize, action: Action, deterministic_ids: bool) -> Verdict {
    let unreadable = |why: String| Verdict::RetryAll {
        reason: format!("the bulk response could not be read ({why})"),
        retry_after_ms: None,
    };
    // Fast path: most answers say `"errors":false`; then only the item count matters.
    let quick: QuickBody = match serde_json::from_slice(body) {
        Ok(quick) => quick,
        Err(error) => return unreadable(error.to_string()),
    };
    if quick.items.0 != expected {
        return Verdict::Fatal(format!(
            "the cluster answered {} items for a request of {expected} records; the proxy or cluster is not \
             speaking the _bulk protocol",
            quick.items.0
        ));
    }
    if !quick.errors {
        return Verdict::Items(vec![ItemOutcome::Indexed; expected]);
    }
    let full: FullBody = match serde_json::from_slice(body) {
        Ok(full) => full,
        Err(error) => return unreadable(error.to_string()),
    };
    Verdict::Items(
        full.items
            .into_iter()
            .map(|envelope| match envelope.into_values().next() {
                Some(item) => item.outcome(action, deterministic_ids),
                None => ItemOutcome::Retry("the cluster sent an empty item".into()),
            })
            .collect(),
    )
}

#[derive(Deserialize)]
struct QuickBody {
    #[serde(default)]
    errors: bool,
    items: Count,
}

/// The number of elements of a JSON array, without keeping them.
struct Count(usize);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CountVisitor;
        impl<'de> Visitor<'de> for CountVisitor {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of items")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Count, A::Error> {
                let mut count = 0;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    count += 1;
                }
                Ok(Count(count))
            }
        }
        deserializer.deserialize_seq(CountVisitor)
    }
}

#[derive(Deserialize)]
struct FullBody {
    items: Vec<BTreeMap<String, ItemResult>>,
}

#[derive(Deserialize)]
struct ItemResult {
    status: u16,
    #[serde(default)]
    error: Option<ErrorDetail>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    caused_by: Option<Box<ErrorDetail>>,
}

impl ErrorDetail {
    fn describe(&self) -> String {
        let mut text = match &self.reason {
            Some(reason) => format!("{}: {reason}", self.kind),
            None => self.kind.clone(),
        };
        if let Some(cause) = &self.caused_by {
            text.push_str(" (caused by ");
            text.push_str(&cause.describe());
            text.push(')');
        }
        text
    }

    fn is_rejection(&self) -> bool {
        // OpenSearch names it `rejected_execution_exception`; Elasticsearch and older forks add an `es_` prefix.
        self.kind.ends_with("rejected_execution_exception")
    }
}

impl ItemResult {
    fn outcome(self, action: Action, deterministic_ids: bool) -> ItemOutcome {
        let describe = || match &self.error {
            Some(error) => format!("{} {}", self.status, error.describe()),
            None => format!("HTTP {}", self.status),
        };
        match self.status {
            200..=299 => ItemOutcome::Indexed,
            409 if action == Action::Create && deterministic_ids => ItemOutcome::AlreadyIndexed,
            429 | 502 | 503 | 504 => ItemOutcome::Retry(describe()),
            _ if self.error.as_ref().is_some_and(ErrorDetail::is_rejection) => ItemOutcome::Retry(describe()),
            _ => ItemOutcome::Rejected(describe()),
        }
    }
}

/// A one-line description of an error body from OpenSearch or a Sluice proxy (or its first bytes otherwise).
pub fn describe_error_body(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Envelope {
        #[serde(default)]
        error: Option<ErrorField>,
        #[serde(default)]
        sluice_error: Option<ProxyError>,
        #[serde(default)]
        message: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ErrorField {
        Detail(ErrorDetail),
        Text(String),
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return "no details in the response".into();
    }
    match serde_json::from_slice::<Envelope>(body) {
        Ok(Envelope {
            sluice_error: Some(proxy),
            ..
        }) => format!("{} [proxy: {}]", proxy.message, proxy.code),
        Ok(Envelope {
            error: Some(ErrorField::Detail(detail)),
            ..
        }) => detail.describe(),
        Ok(Envelope {
            error: Some(ErrorField::Text(text)),
            ..
        }) => text,
        Ok(Envelope {
            message: Some(message), ..
        }) => message,
        _ => {
            let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str) -> SinkResponse {
        SinkResponse {
            status,
            retry_after: None,
            body: body.as_bytes().to_vec(),
        }
    }

    // Shapes as in OpenSearch's bulk API documentation.
    const ALL_OK: &str = r#"{"took":11,"errors":false,"items":[
        {"index":{"_index":"movies","_id":"tt1979320","_version":1,"result":"created","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1,"status":201}},
        {"create":{"_index":"movies","_id":"tt0816711","_version":1,"result":"created","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":1,"_primary_term":1,"status":201}}]}"#;

    const MIXED: &str = r#"{"took":4,"errors":true,"items":[
        {"index":{"_index":"movies","_id":"1","_version":2,"result":"updated","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":3,"_primary_term":1,"status":200}},
        {"index":{"_index":"movies","_id":"2","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [year] of type [long] in document with id '2'. Preview of field's value: 'abc'","caused_by":{"type":"illegal_argument_exception","reason":"For input string: \"abc\""}}}},
        {"index":{"_index":"movies","_id":"3","status":429,"error":{"type":"rejected_execution_exception","reason":"rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, coordinating_operation_bytes=1, max_coordinating_and_primary_bytes=0]"}}},
        {"create":{"_index":"movies","_id":"4","status":409,"error":{"type":"version_conflict_engine_exception","reason":"[4]: version conflict, document already exists (current version [1])","index":"movies","shard":"0","index_uuid":"yhizhusbSWmP0G7OJnmcLg"}}},
        {"index":{"_index":"movies","_id":"5","status":503,"error":{"type":"unavailable_shards_exception","reason":"[movies][0] primary shard is not active"}}},
        {"index":{"_index":"movies","_id":"6","status":500,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution"}}}]}"#;

    #[test]
    fn all_ok_takes_the_fast_path() {
        let verdict = classify(&response(200, ALL_OK), 2, Action::Index, true, 0);
        assert_eq!(
            verdict,
            Verdict::Items(vec![ItemOutcome::Indexed, ItemOutcome::Indexed])
        );
    }

    /// `body` as a cluster answers it with [`RESPONSE_FILTER`]: only `took`, `errors` and each item's `status` and
    /// `error`.
    fn filtered(body: &str) -> String {
        let mut value: serde_json::Value = serde_json::from_str(body).unwrap();
        let object = value.as_object_mut().unwrap();
        object.retain(|key, _| ["took", "errors", "items"].contains(&key.as_str()));
        for item in object["items"].as_array_mut().unwrap() {
            for (_, result) in item.as_object_mut().unwrap() {
                result
                    .as_object_mut()
                    .unwrap()
                    .retain(|key, _| key == "status" || key == "error");
            }
        }
        value.to_string()
    }

    #[test]
    fn an_answer_filtered_to_statuses_and_errors_classifies_as_the_full_one() {
        assert_eq!(
            RESPONSE_FILTER.split(',').collect::<Vec<_>>(),
            ["took", "errors", "items.*.status", "items.*.error"],
            "the fields `filtered` keeps"
        );
        let query = RESPONSE_FILTER_QUERY.strip_prefix("filter_path=").unwrap();
        assert_eq!(query.replace("%2C", ",").replace("%2A", "*"), RESPONSE_FILTER);
        for (body, items) in [(ALL_OK, 2), (MIXED, 6)] {
            let small = filtered(body);
            assert!(small.len() < body.len(), "{small}");
            for (action, deterministic) in [(Action::Index, true), (Action::Create, true), (Action::Create, false)] {
                assert_eq!(
                    classify(&response(200, &small), items, action, deterministic, 0),
                    classify(&response(200, body), items, action, deterministic, 0)
                );
            }
        }
    }

    #[test]
    fn classifies_each_item() {
        let Verdict::Items(items) = classify(&response(200, MIXED), 6, Action::Create, true, 0) else {
            panic!("expected items")
        };
        assert_eq!(items[0], ItemOutcome::Indexed);
        assert!(
            matches!(&items[1], ItemOutcome::Rejected(r) if r.starts_with("400 mapper_parsing_exception: failed to parse field [year]") && r.contains("For input string")),
            "{:?}",
            items[1]
        );
        assert!(matches!(&items[2], ItemOutcome::Retry(r) if r.contains("rejected_execution_exception")));
        assert_eq!(items[3], ItemOutcome::AlreadyIndexed);
        assert!(matches!(&items[4], ItemOutcome::Retry(_)));
        assert!(matches!(&items[5], ItemOutcome::Retry(_)));
        // Without deterministic ids a conflict is a real refusal.
        let Verdict::Items(items) = classify(&response(200, MIXED), 6, Action::Create, false, 0) else {
            panic!("expected items")
        };
        assert!(matches!(&items[3], ItemOutcome::Rejected(r) if r.contains("version_conflict")));
    }

    #[test]
    fn whole_request_answers() {
        assert_eq!(classify(&response(413, ""), 3, Action::Index, true, 0), Verdict::Split);
        let mut busy = response(
            429,
            r#"{"error":{"root_cause":[{"type":"rejected_execution_exception","reason":"rejected execution of bulk"}],"type":"rejected_execution_exception","reason":"rejected execution of bulk"},"status":429}"#,
        );
        busy.retry_after = Some("7".into());
        assert_eq!(
            classify(&busy, 1, Action::Index, true, 0),
            Verdict::RetryAll {
                reason: "the cluster is busy (429 rejected_execution_exception: rejected execution of bulk)".into(),
                retry_after_ms: Some(7000)
            }
        );
        assert!(matches!(
            classify(&response(503, ""), 1, Action::Index, true, 0),
            Verdict::RetryAll { .. }
        ));
        let malformed = r#"{"error":{"root_cause":[{"type":"illegal_argument_exception","reason":"Malformed action/metadata line [1], expected START_OBJECT or END_OBJECT but found [VALUE_STRING]"}],"type":"illegal_argument_exception","reason":"Malformed action/metadata line [1], expected START_OBJECT or END_OBJECT but found [VALUE_STRING]"},"status":400}"#;
        assert!(
            matches!(classify(&response(400, malformed), 1, Action::Index, true, 0), Verdict::Fatal(m) if m.contains("Malformed action/metadata line [1]"))
        );
        let proxy = r#"{"sluice_error":{"code":"index_not_allowed","message":"index 'secret' is not allowed"}}"#;
        assert!(
            matches!(classify(&response(403, proxy), 1, Action::Index, true, 0), Verdict::Fatal(m) if m.contains("index 'secret' is not allowed [proxy: index_not_allowed]"))
        );
        assert!(
            matches!(classify(&response(401, ""), 1, Action::Index, true, 0), Verdict::Fatal(m) if m.contains("401"))
        );
    }

    #[test]
    fn unreadable_or_mismatched_answers() {
        assert!(matches!(
            classify(&response(200, "<html>"), 1, Action::Index, true, 0),
            Verdict::RetryAll { .. }
        ));
        assert!(
            matches!(classify(&response(200, ALL_OK), 3, Action::Index, true, 0), Verdict::Fatal(m) if m.contains("2 items for a request of 3"))
        );
    }
}

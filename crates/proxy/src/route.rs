//! Which call a request is, and whether it may pass: the proxy's whole routing table as plain logic, so
//! `sluice serve` (axum) and the edge Worker (workerd) answer every request the same way.
//!
//! [`ProxyRules::authorize`] runs first (analyst tokens), then [`ProxyRules::route`] turns a method and path into a
//! [`Route`] with its index already checked, or a [`Refusal`]. A shell only carries out routes: it forwards to the
//! cluster, serves the site, or answers with the refusal in the proxy's own JSON shape ([`refusal_body`]).

use serde_json::{json, Value};

use crate::policy::{IndexPatterns, Refusal};

/// A call the proxy carries out. Index names are percent-decoded and allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /`: the site's page for a browser, the health report otherwise.
    Root,
    /// `GET /_sluice/health`: can the proxy reach the cluster.
    Health,
    /// `GET /_sluice/config`: what the page needs to know about this proxy.
    Config,
    /// `GET /_sluice/index/{index}`: `{exists, mapping}` in one answer.
    IndexStatus(String),
    /// `POST /_bulk` (`None`) or `POST /{index}/_bulk`.
    Bulk(Option<String>),
    /// `GET /{index}/_count`.
    Count(String),
    /// `GET /{index}/_mapping`.
    Mapping(String),
    /// `GET /_ingest/pipeline`, reduced to names and descriptions.
    Pipelines,
    /// `HEAD /{index}`: does the index exist.
    HeadIndex(String),
    /// `PUT /{index}` with a body of mappings and shard counts (only when index creation is allowed).
    CreateIndex(String),
    /// A file of the site (only when a site is served).
    Site,
}

/// What the proxy allows, shared by every shell.
#[derive(Debug, Clone)]
pub struct ProxyRules {
    /// Indices the page may write to and read the count and mapping of.
    pub indices: IndexPatterns,
    /// Analyst tokens (`Authorization: Bearer …`); empty means none required.
    pub tokens: Vec<String>,
    /// `PUT /{index}` is allowed (with a checked body).
    pub allow_create_index: bool,
    /// Largest bulk body accepted, in bytes.
    pub max_body: usize,
    /// The built site is served on the same origin.
    pub serves_site: bool,
}

impl ProxyRules {
    /// Checks the analyst token. Preflights, the config and health reports and the site's files are open: the page
    /// must load and learn that a token is needed before it has one.
    pub fn authorize(&self, method: &str, path: &str, authorization: Option<&str>) -> Result<(), Refusal> {
        let open = method == "OPTIONS"
            || matches!(path, "/_sluice/config" | "/_sluice/health")
            || (method == "GET" && self.serves_site && !is_api_path(path));
        if self.tokens.is_empty() || open {
            return Ok(());
        }
        let given = authorization.and_then(|v| v.strip_prefix("Bearer ")).map(str::trim);
        let valid = given.is_some_and(|given| {
            self.tokens.iter().fold(false, |found, token| {
                found | constant_time_eq(token.as_bytes(), given.as_bytes())
            })
        });
        match (valid, given) {
            (true, _) => Ok(()),
            (false, None) => Err(Refusal {
                status: 401,
                code: "token_required",
                message: "this proxy requires an analyst token (Authorization: Bearer <token>); ask your admin for one"
                    .into(),
            }),
            (false, Some(_)) => Err(Refusal {
                status: 401,
                code: "token_invalid",
                message: "the analyst token is not valid; check it or ask your admin for a new one".into(),
            }),
        }
    }

    /// The call a request is, or why it is refused. `path` is the request's path without the query string (a
    /// query is never forwarded).
    pub fn route(&self, method: &str, path: &str) -> Result<Route, Refusal> {
        let read = matches!(method, "GET" | "HEAD");
        let raw: Vec<&str> = match path.strip_prefix('/') {
            Some("") => Vec::new(),
            Some(rest) => rest.split('/').collect(),
            None => return Err(not_allowed(method, path)),
        };
        let segments = match raw.iter().map(|s| decode_segment(s)).collect::<Option<Vec<String>>>() {
            Some(segments) if segments.iter().all(|s| !s.is_empty()) => segments,
            _ => return self.unmatched(method, path),
        };
        let named: Vec<&str> = segments.iter().map(String::as_str).collect();
        let (route, wanted) = match named.as_slice() {
            [] => (Route::Root, read),
            ["_sluice", "health"] => (Route::Health, read),
            ["_sluice", "config"] => (Route::Config, read),
            ["_sluice", "index", index] if read => (Route::IndexStatus(self.allowed(index)?), true),
            ["_bulk"] => (Route::Bulk(None), method == "POST"),
            [index, "_bulk"] => {
                if method != "POST" {
                    return Err(not_allowed(method, path));
                }
                (Route::Bulk(Some(self.allowed(index)?)), true)
            }
            [index, "_count"] if read => (Route::Count(self.allowed(index)?), true),
            [index, "_mapping"] if read => (Route::Mapping(self.allowed(index)?), true),
            [_, "_count" | "_mapping"] => return Err(not_allowed(method, path)),
            ["_ingest", "pipeline"] => (Route::Pipelines, read),
            [index] if method == "HEAD" && !index.starts_with('_') => (Route::HeadIndex(self.allowed(index)?), true),
            [index] if method == "PUT" => {
                if !self.allow_create_index {
                    return Err(Refusal {
                        status: 403,
                        code: "create_index_disabled",
                        message: format!(
                            "this proxy does not create indices; create '{index}' in OpenSearch, or ask the admin to \
                             allow index creation (`sluice serve --allow-create-index`, or SLUICE_ALLOW_CREATE_INDEX \
                             at the edge)"
                        ),
                    });
                }
                (Route::CreateIndex(self.allowed(index)?), true)
            }
            _ => return self.unmatched(method, path),
        };
        if wanted {
            Ok(route)
        } else {
            Err(not_allowed(method, path))
        }
    }

    /// The checks of a bulk request's headers before its body is read.
    pub fn check_bulk_headers(&self, content_type: Option<&str>, content_length: Option<&str>) -> Result<(), Refusal> {
        let content_type = content_type.unwrap_or("");
        if content_type.split(';').next().map(str::trim) != Some("application/x-ndjson") {
            return Err(Refusal {
                status: 415,
                code: "content_type",
                message: format!("bulk bodies must be sent as application/x-ndjson, not '{content_type}'"),
            });
        }
        if content_length
            .and_then(|v| v.parse::<usize>().ok())
            .is_some_and(|length| length > self.max_body)
        {
            return Err(self.body_too_large());
        }
        Ok(())
    }

    /// The refusal for a bulk body over the limit.
    pub fn body_too_large(&self) -> Refusal {
        Refusal {
            status: 413,
            code: "body_too_large",
            message: format!(
                "the bulk body is over this proxy's limit of {} bytes; send smaller batches",
                self.max_body
            ),
        }
    }

    /// `GET /_sluice/config`'s answer.
    pub fn client_config(&self) -> Value {
        json!({
            "sluice": sluice_engine::VERSION,
            "allowed_indices": self.indices.patterns(),
            "max_body_bytes": self.max_body,
            "token_required": !self.tokens.is_empty(),
            "create_index_allowed": self.allow_create_index,
        })
    }

    fn allowed(&self, index: &str) -> Result<String, Refusal> {
        if self.indices.allows(index) {
            Ok(index.to_string())
        } else {
            Err(Refusal {
                status: 403,
                code: "index_not_allowed",
                message: format!("index '{index}' is not allowed by this proxy; ask the admin to allow it"),
            })
        }
    }

    fn unmatched(&self, method: &str, path: &str) -> Result<Route, Refusal> {
        if self.serves_site && matches!(method, "GET" | "HEAD") {
            Ok(Route::Site)
        } else {
            Err(not_allowed(method, path))
        }
    }
}

/// The proxy's refusal for any call it does not carry out.
pub fn not_allowed(method: &str, path: &str) -> Refusal {
    Refusal {
        status: 403,
        code: "not_allowed",
        message: format!(
            "{method} {path} is not allowed through this proxy; it only accepts bulk writes (POST /_bulk) to allowed \
             indices and a few reads the web app needs (an allowed index's count and mapping, pipeline names)"
        ),
    }
}

/// The proxy's own error shape, `{"sluice_error":{"code","message"}}`, which clients tell apart from OpenSearch's.
pub fn error_body(code: &str, message: &str) -> String {
    json!({ "sluice_error": { "code": code, "message": message } }).to_string()
}

/// A refusal's body.
pub fn refusal_body(refusal: &Refusal) -> String {
    error_body(refusal.code, &refusal.message)
}

/// `GET /_sluice/index/{index}`'s answer from the cluster's `GET /{index}/_mapping` answer (200 or 404).
pub fn index_status_answer(mapping_status: u16, body: &[u8]) -> Value {
    if mapping_status == 200 {
        let mapping: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        json!({ "exists": true, "mapping": mapping })
    } else {
        json!({ "exists": false })
    }
}

/// `GET /_ingest/pipeline` reduced to names and descriptions: processors can hold secrets (credentials in a script,
/// an enrich policy's source) and the page only needs the names. OpenSearch answers 404 with `{}` when none exist.
pub fn pipelines_answer(body: &[u8]) -> Value {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    Value::Object(
        sluice_engine::mapping::pipeline_names(&parsed)
            .into_iter()
            .map(|(name, description)| (name, json!({ "description": description })))
            .collect(),
    )
}

/// The upstream path and query of a bulk request to `index` (or none): the client's query is never forwarded, and
/// the proxy asks the cluster for the short answer the engine reads ([`sluice_engine::bulk::RESPONSE_FILTER`]).
pub fn upstream_bulk_path(index: Option<&str>) -> String {
    let query = sluice_engine::bulk::RESPONSE_FILTER_QUERY;
    match index {
        Some(index) => format!("/{index}/_bulk?{query}"),
        None => format!("/_bulk?{query}"),
    }
}

/// Paths of the API (never the site's files, so never open without a token).
pub fn is_api_path(path: &str) -> bool {
    path == "/_bulk"
        || path.ends_with("/_bulk")
        || path.ends_with("/_count")
        || path.ends_with("/_mapping")
        || path.starts_with("/_ingest/")
        || path.starts_with("/_sluice/")
        || path == "/jobs"
        || path.starts_with("/jobs/")
}

/// Compares in time independent of where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A path segment with `%XX` escapes decoded (as axum's path extractor does), or `None` when the escapes are broken
/// or do not decode to UTF-8: such a request matches no route.
fn decode_segment(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let value = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            decoded.push(value);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> ProxyRules {
        ProxyRules {
            indices: IndexPatterns::new(["logs-*"]).unwrap(),
            tokens: vec!["t".into()],
            allow_create_index: false,
            max_body: 100,
            serves_site: false,
        }
    }

    #[test]
    fn routes_the_calls_the_page_makes() {
        let rules = rules();
        assert_eq!(rules.route("POST", "/_bulk"), Ok(Route::Bulk(None)));
        assert_eq!(
            rules.route("POST", "/logs-a/_bulk"),
            Ok(Route::Bulk(Some("logs-a".into())))
        );
        assert_eq!(rules.route("GET", "/logs-a/_count"), Ok(Route::Count("logs-a".into())));
        assert_eq!(
            rules.route("GET", "/logs-%61/_mapping"),
            Ok(Route::Mapping("logs-a".into()))
        );
        assert_eq!(rules.route("HEAD", "/logs-a"), Ok(Route::HeadIndex("logs-a".into())));
        assert_eq!(
            rules.route("GET", "/_sluice/index/logs-a"),
            Ok(Route::IndexStatus("logs-a".into()))
        );
        assert_eq!(rules.route("GET", "/_ingest/pipeline"), Ok(Route::Pipelines));
        assert_eq!(rules.route("GET", "/"), Ok(Route::Root));
    }

    #[test]
    fn refuses_everything_else() {
        let rules = rules();
        let code = |method, path| rules.route(method, path).unwrap_err().code;
        assert_eq!(code("GET", "/_cat/indices"), "not_allowed");
        assert_eq!(code("PUT", "/_bulk"), "not_allowed");
        assert_eq!(code("GET", "/logs-a/_bulk"), "not_allowed");
        assert_eq!(code("DELETE", "/logs-a"), "not_allowed");
        assert_eq!(code("POST", "/logs-a/_count"), "not_allowed");
        assert_eq!(code("GET", "/secret/_count"), "index_not_allowed");
        assert_eq!(code("GET", "/%2Ekibana/_mapping"), "index_not_allowed");
        assert_eq!(code("GET", "/logs-a%2F..%2F_all/_count"), "index_not_allowed");
        assert_eq!(code("GET", "/logs-a/%ZZ"), "not_allowed");
        assert_eq!(code("PUT", "/logs-a"), "create_index_disabled");
        assert_eq!(code("GET", "/logs-a/"), "not_allowed");
    }

    #[test]
    fn tokens_guard_everything_but_the_open_calls() {
        let rules = rules();
        assert_eq!(
            rules.authorize("POST", "/_bulk", None).unwrap_err().code,
            "token_required"
        );
        assert_eq!(
            rules.authorize("POST", "/_bulk", Some("Bearer x")).unwrap_err().code,
            "token_invalid"
        );
        assert!(rules.authorize("POST", "/_bulk", Some("Bearer t")).is_ok());
        assert!(rules.authorize("GET", "/_sluice/config", None).is_ok());
        assert!(rules.authorize("OPTIONS", "/_bulk", None).is_ok());
        assert!(rules.authorize("GET", "/index.html", None).is_err());
        let site = ProxyRules {
            serves_site: true,
            ..rules
        };
        assert!(site.authorize("GET", "/index.html", None).is_ok());
        assert!(site.authorize("GET", "/jobs", None).is_err());
        assert_eq!(site.route("GET", "/app.js"), Ok(Route::Site));
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }
}

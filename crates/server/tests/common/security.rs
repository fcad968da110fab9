//! The proxy's security table: hostile requests and the refusal each must get, shared by the tests of `sluice serve`
//! and of the edge Worker, which must answer them the same way without a single one reaching the cluster.

use serde_json::Value;

/// The analyst token both proxies are started with in the tests.
pub const TOKEN: &str = "analyst-token-1";

pub struct Call {
    pub method: &'static str,
    pub path: String,
    pub content_type: Option<&'static str>,
    pub token: Option<&'static str>,
    pub body: String,
}

pub fn bulk(body: impl Into<String>) -> Call {
    Call {
        method: "POST",
        path: "/_bulk".into(),
        content_type: Some("application/x-ndjson"),
        token: Some(TOKEN),
        body: body.into(),
    }
}

pub async fn send(proxy: &str, call: &Call) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut request = reqwest::Client::new()
        .request(call.method.parse().unwrap(), format!("{proxy}{}", call.path))
        .body(call.body.clone());
    if let Some(content_type) = call.content_type {
        request = request.header("content-type", content_type);
    }
    if let Some(token) = call.token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null), headers)
}

pub fn action(index: &str) -> String {
    format!("{{\"index\":{{\"_index\":\"{index}\"}}}}\n{{\"a\":1}}\n")
}

/// A hostile request: what it is, the call, and the status and `sluice_error.code` it must be refused with. The
/// eighth (a bad index on line 10 001) must also name the line. Index patterns: `logs-*` and `products`; body limit
/// 1 MiB; the token [`TOKEN`].
pub fn hostile_calls() -> Vec<(&'static str, Call, u16, &'static str)> {
    let mut deep = String::new();
    for i in 0..5000 {
        deep.push_str(&format!(
            "{{\"index\":{{\"_index\":\"logs-a\",\"_id\":\"{i}\"}}}}\n{{\"n\":{i}}}\n"
        ));
    }
    deep.push_str(&action("secret"));
    vec![
        (
            "another endpoint",
            Call {
                method: "GET",
                path: "/_cat/indices".into(),
                content_type: None,
                token: Some(TOKEN),
                body: String::new(),
            },
            403,
            "not_allowed",
        ),
        (
            "a search",
            Call {
                method: "POST",
                path: "/logs-a/_search".into(),
                content_type: Some("application/json"),
                token: Some(TOKEN),
                body: "{}".into(),
            },
            403,
            "not_allowed",
        ),
        (
            "deleting an index",
            Call {
                method: "DELETE",
                path: "/logs-a".into(),
                content_type: None,
                token: Some(TOKEN),
                body: String::new(),
            },
            403,
            "not_allowed",
        ),
        (
            "a single-document write",
            Call {
                method: "POST",
                path: "/logs-a/_doc".into(),
                content_type: Some("application/json"),
                token: Some(TOKEN),
                body: "{}".into(),
            },
            403,
            "not_allowed",
        ),
        (
            "delete action",
            bulk("{\"delete\":{\"_index\":\"logs-a\",\"_id\":\"1\"}}\n"),
            403,
            "action_not_allowed",
        ),
        (
            "update action on line 3",
            bulk(format!(
                "{}{{\"update\":{{\"_index\":\"logs-a\",\"_id\":\"1\"}}}}\n{{\"doc\":{{}}}}\n",
                action("logs-a")
            )),
            403,
            "action_not_allowed",
        ),
        (
            "another index on line 1",
            bulk(action("secret")),
            403,
            "index_not_allowed",
        ),
        ("another index on line 10 001", bulk(deep), 403, "index_not_allowed"),
        (
            "a system index",
            bulk(action(".opendistro_security")),
            403,
            "index_not_allowed",
        ),
        ("a wildcard index", bulk(action("logs-*")), 403, "index_not_allowed"),
        (
            "an escaped system index",
            bulk("{\"index\":{\"_index\":\"\\u002ekibana\"}}\n{}\n"),
            403,
            "index_not_allowed",
        ),
        (
            "duplicate _index keys",
            bulk("{\"index\":{\"_index\":\"logs-a\",\"_index\":\"secret\"}}\n{}\n"),
            403,
            "malformed_action",
        ),
        (
            "a forbidden path index",
            Call {
                path: "/secret/_bulk".into(),
                ..bulk(action("logs-a"))
            },
            403,
            "index_not_allowed",
        ),
        (
            "an oversized body",
            bulk(action("logs-a").repeat(40_000)),
            413,
            "body_too_large",
        ),
        (
            "no token",
            Call {
                token: None,
                ..bulk(action("logs-a"))
            },
            401,
            "token_required",
        ),
        (
            "a wrong token",
            Call {
                token: Some("guess"),
                ..bulk(action("logs-a"))
            },
            401,
            "token_invalid",
        ),
        (
            "a wrong content type",
            Call {
                content_type: Some("text/plain"),
                ..bulk(action("logs-a"))
            },
            415,
            "content_type",
        ),
        (
            "counting a forbidden index",
            Call {
                method: "GET",
                path: "/secret/_count".into(),
                content_type: None,
                token: Some(TOKEN),
                body: String::new(),
            },
            403,
            "index_not_allowed",
        ),
        (
            "the mapping of a forbidden index",
            Call {
                method: "GET",
                path: "/secret/_mapping".into(),
                content_type: None,
                token: Some(TOKEN),
                body: String::new(),
            },
            403,
            "index_not_allowed",
        ),
        (
            "the mapping of a system index",
            Call {
                method: "GET",
                path: "/.opendistro_security/_mapping".into(),
                content_type: None,
                token: Some(TOKEN),
                body: String::new(),
            },
            403,
            "index_not_allowed",
        ),
        (
            "every index's mapping",
            Call {
                method: "GET",
                path: "/_mapping".into(),
                content_type: None,
                token: Some(TOKEN),
                body: String::new(),
            },
            403,
            "not_allowed",
        ),
        (
            "creating an index without --allow-create-index",
            Call {
                method: "PUT",
                path: "/logs-new".into(),
                content_type: Some("application/json"),
                token: Some(TOKEN),
                body: "{}".into(),
            },
            403,
            "create_index_disabled",
        ),
        (
            "writing a pipeline",
            Call {
                method: "PUT",
                path: "/_ingest/pipeline/evil".into(),
                content_type: Some("application/json"),
                token: Some(TOKEN),
                body: "{\"processors\":[]}".into(),
            },
            403,
            "not_allowed",
        ),
        (
            "pipelines without a token",
            Call {
                method: "GET",
                path: "/_ingest/pipeline".into(),
                content_type: None,
                token: None,
                body: String::new(),
            },
            401,
            "token_required",
        ),
    ]
}

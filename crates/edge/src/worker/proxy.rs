//! The bulk proxy at the edge: the routes of `sluice serve`, decided by the same [`ProxyRules`] and carried out over
//! the Worker's `fetch`. A bulk body is checked by the same streaming [`BulkGuard`] while it arrives.

use futures::StreamExt;
use serde_json::json;
use sluice_proxy::policy::{check_create_index_body, BulkGuard, Refusal};
use sluice_proxy::route::{index_status_answer, pipelines_answer, refusal_body, Route};
use web_sys::{Request, Response};

use super::js::{self, Fetcher};
use super::upstream::Upstream;
use crate::config::EdgeConfig;

/// A refusal in the proxy's own shape (with `WWW-Authenticate` for a missing or wrong token).
pub fn refusal_response(refusal: &Refusal) -> Response {
    let mut headers = vec![("content-type", "application/json")];
    if refusal.status == 401 {
        headers.push(("www-authenticate", "Bearer realm=\"sluice\""));
    }
    js::response(refusal.status, &headers, Some(refusal_body(refusal).as_bytes()))
}

/// Carries out a proxy route.
pub async fn handle(config: &EdgeConfig, assets: Option<&Fetcher>, route: Route, request: &Request) -> Response {
    let upstream = Upstream::new(config);
    match route {
        Route::Root => {
            let wants_page = js::header(&request.headers(), "accept").is_some_and(|a| a.contains("text/html"));
            match (wants_page, assets) {
                (true, Some(assets)) => site(assets, request, Some("/index.html")).await,
                _ => health(&upstream).await,
            }
        }
        Route::Health => health(&upstream).await,
        Route::Config => {
            let mut answer = config.rules.client_config();
            // The page learns that this origin also runs imports (the jobs API).
            answer["edge_jobs"] = json!(true);
            js::json_response(200, &answer)
        }
        Route::IndexStatus(index) => match read(&upstream, &format!("/{index}/_mapping")).await {
            Ok((status, body)) => js::json_response(200, &index_status_answer(status, &body)),
            Err(response) => response,
        },
        Route::Bulk(index) => bulk(config, &upstream, index, request).await,
        Route::Count(index) => forward(upstream.send("GET", &format!("/{index}/_count"), None).await).await,
        Route::Mapping(index) => forward(upstream.send("GET", &format!("/{index}/_mapping"), None).await).await,
        Route::HeadIndex(index) => forward(upstream.send("HEAD", &format!("/{index}"), None).await).await,
        Route::Pipelines => match read(&upstream, "/_ingest/pipeline").await {
            Ok((_, body)) => js::json_response(200, &pipelines_answer(&body)),
            Err(response) => response,
        },
        Route::CreateIndex(index) => {
            let body = match js::request_bytes(request, 1024 * 1024).await {
                Ok(body) => body,
                Err(_) => return js::error_response(413, "body_too_large", "a create-index body may be at most 1 MiB"),
            };
            if let Err(refusal) = check_create_index_body(&body) {
                return refusal_response(&refusal);
            }
            let body = (!body.is_empty()).then_some((body.as_slice(), "application/json"));
            forward(upstream.send("PUT", &format!("/{index}"), body).await).await
        }
        Route::Site => match assets {
            Some(assets) => site(assets, request, None).await,
            None => js::error_response(404, "not_found", "this Worker serves no site"),
        },
    }
}

/// A file of the site from the `ASSETS` binding (`path` replaces the request's: `/` is the page).
async fn site(assets: &Fetcher, request: &Request, path: Option<&str>) -> Response {
    let url = web_sys::Url::new(&request.url()).ok();
    let asked = url.as_ref().map(|u| u.pathname()).unwrap_or_default();
    let served_path = path.map(str::to_string).unwrap_or_else(|| asked.clone());
    let fetched = match (path, &url) {
        (Some(path), Some(url)) => {
            url.set_pathname(path);
            match js::request(&request.method(), &url.href(), &[], None) {
                Ok(request) => assets.send(&request).await,
                Err(message) => Err(message),
            }
        }
        _ => assets.send(request).await,
    };
    match fetched {
        Ok(response) if response.status() == 404 => {
            js::error_response(404, "not_found", &format!("{asked} is not part of the site"))
        }
        Ok(response) => {
            let stated = js::header(&response.headers(), "content-type");
            match crate::site::content_type(&served_path) {
                Some(media) if stated.as_deref().is_none_or(|t| t == "application/octet-stream") => {
                    js::with_headers(response, &[("content-type", media.to_string())])
                }
                _ => response,
            }
        }
        Err(message) => js::error_response(
            502,
            "site_unavailable",
            &format!("the site's files cannot be read: {message}"),
        ),
    }
}

async fn health(upstream: &Upstream) -> Response {
    let (reachable, body) = match upstream.send("GET", "/", None).await {
        Ok(response) => {
            let status = response.status();
            let bytes = js::body_bytes(&response).await.unwrap_or_default();
            let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
            (
                status < 400,
                json!({"reachable": true, "status": status, "version": body["version"]["number"], "distribution": body["version"]["distribution"]}),
            )
        }
        Err(error) => (false, json!({"reachable": false, "error": error})),
    };
    let answer = json!({"sluice": sluice_engine::VERSION, "edge": true, "upstream": body});
    js::json_response(if reachable { 200 } else { 502 }, &answer)
}

/// The cluster's answer passed on: status, body and the headers a client needs.
async fn forward(answer: Result<Response, String>) -> Response {
    let response = match answer {
        Ok(response) => response,
        Err(message) => return js::error_response(502, "upstream_unreachable", &message),
    };
    let body = match js::body_bytes(&response).await {
        Ok(body) => body,
        Err(message) => {
            return js::error_response(
                502,
                "upstream_interrupted",
                &format!("OpenSearch's answer was cut off: {message}"),
            )
        }
    };
    let copied: Vec<(String, String)> = ["content-type", "retry-after", "www-authenticate"]
        .into_iter()
        .filter_map(|name| js::header(&response.headers(), name).map(|value| (name.to_string(), value)))
        .collect();
    let headers: Vec<(&str, &str)> = copied.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    js::response(
        response.status(),
        &headers,
        (!body.is_empty()).then_some(body.as_slice()),
    )
}

/// GETs `path` for the answers the proxy makes itself: a 200 or 404 with its body, or the response to pass on.
async fn read(upstream: &Upstream, path: &str) -> Result<(u16, Vec<u8>), Response> {
    let response = match upstream.send("GET", path, None).await {
        Ok(response) => response,
        Err(message) => return Err(js::error_response(502, "upstream_unreachable", &message)),
    };
    if response.status() != 200 && response.status() != 404 {
        return Err(forward(Ok(response)).await);
    }
    let status = response.status();
    Ok((status, js::body_bytes(&response).await.unwrap_or_default()))
}

async fn bulk(config: &EdgeConfig, upstream: &Upstream, index: Option<String>, request: &Request) -> Response {
    let headers = request.headers();
    let rules = &config.rules;
    if let Err(refusal) = rules.check_bulk_headers(
        js::header(&headers, "content-type").as_deref(),
        js::header(&headers, "content-length").as_deref(),
    ) {
        return refusal_response(&refusal);
    }
    let mut guard = match BulkGuard::new(&rules.indices, index.as_deref()) {
        Ok(guard) => guard,
        Err(refusal) => return refusal_response(&refusal),
    };
    // Checked while it streams in, kept once (the cluster needs the whole body), never past the limit.
    let mut collected = Vec::new();
    if let Some(stream) = request.body() {
        let mut chunks = wasm_streams::ReadableStream::from_raw(stream).into_stream();
        while let Some(chunk) = chunks.next().await {
            let chunk = match chunk {
                Ok(chunk) => js_sys::Uint8Array::new(&chunk).to_vec(),
                Err(error) => {
                    let message = format!("the request body broke off: {}", sluice_web_io::js_error_text(&error));
                    return js::error_response(400, "body_unreadable", &message);
                }
            };
            if collected.len() + chunk.len() > rules.max_body {
                return refusal_response(&rules.body_too_large());
            }
            if let Err(refusal) = guard.feed(&chunk) {
                return refusal_response(&refusal);
            }
            collected.extend_from_slice(&chunk);
        }
    }
    if let Err(refusal) = guard.finish() {
        return refusal_response(&refusal);
    }
    let path = sluice_proxy::route::upstream_bulk_path(index.as_deref());
    forward(
        upstream
            .send("POST", &path, Some((&collected, "application/x-ndjson")))
            .await,
    )
    .await
}

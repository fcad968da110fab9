//! The Worker itself (wasm32 only): [`handle`] answers every request (CORS, analyst tokens, the jobs API, the bulk
//! proxy, the site); [`job::JobObject`] and [`registry::RegistryObject`] are the Durable Objects.

pub mod adapters;
pub mod job;
pub mod js;
pub mod proxy;
pub mod registry;
pub mod upstream;

use serde_json::json;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use web_sys::{Request, Response};

use crate::api::NewJob;
use crate::config::EdgeConfig;
use js::{Fetcher, Namespace};

/// The configuration from the Worker's environment (vars and secrets; `ASSETS` means a site is served).
pub fn config_from(env: &JsValue) -> Result<EdgeConfig, String> {
    let serves_site = js::binding::<Fetcher>(env, "ASSETS").is_some();
    EdgeConfig::from_vars(&|name| js::var(env, name), serves_site)
}

/// The Worker's `fetch` handler.
#[wasm_bindgen]
pub async fn handle(request: Request, env: JsValue) -> Response {
    let config = match config_from(&env) {
        Ok(config) => config,
        Err(message) => {
            return js::error_response(500, "misconfigured", &format!("the Worker is misconfigured: {message}"))
        }
    };
    let method = request.method();
    let path = web_sys::Url::new(&request.url())
        .map(|u| u.pathname())
        .unwrap_or_default();
    let origin = js::header(&request.headers(), "origin");
    let cors = config.cors_headers(origin.as_deref(), method == "OPTIONS");
    if method == "OPTIONS" {
        return js::with_headers(js::response(204, &[], None), &cors);
    }
    let authorization = js::header(&request.headers(), "authorization");
    let answer = if let Err(refusal) = config.rules.authorize(&method, &path, authorization.as_deref()) {
        proxy::refusal_response(&refusal)
    } else if path == "/jobs" || path.starts_with("/jobs/") {
        jobs(&config, &env, &method, &path, &request).await
    } else {
        let assets = js::binding::<Fetcher>(&env, "ASSETS");
        match config.rules.route(&method, &path) {
            Ok(route) => proxy::handle(&config, assets.as_ref(), route, &request).await,
            Err(refusal) => proxy::refusal_response(&refusal),
        }
    };
    js::with_headers(answer, &cors)
}

/// Job ids are `edge-` and 16 hex digits: nothing else names a Durable Object.
fn valid_job_id(id: &str) -> bool {
    id.strip_prefix("edge-")
        .is_some_and(|hex| hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The jobs API: `POST /jobs`, `GET /jobs`, and per job `GET`/`DELETE /jobs/{id}`,
/// `POST /jobs/{id}/pause|resume|cancel|retry`, `PUT /jobs/{id}/urls`, `GET /jobs/{id}/dead-letters`,
/// `GET /jobs/{id}/reasons`.
async fn jobs(config: &EdgeConfig, env: &JsValue, method: &str, path: &str, request: &Request) -> Response {
    let (Some(jobs), Some(registry)) = (
        js::binding::<Namespace>(env, "JOBS"),
        js::binding::<Namespace>(env, "REGISTRY"),
    ) else {
        return js::error_response(
            500,
            "misconfigured",
            "the Worker has no JOBS or REGISTRY Durable Object binding; see wrangler.toml",
        );
    };
    let registry = registry.named("all");
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let result = match (method, segments.as_slice()) {
        ("POST", ["jobs"]) => create(config, &jobs, &registry, request).await,
        ("GET", ["jobs"]) => list(&jobs, &registry).await,
        (_, ["jobs", id, ..]) if !valid_job_id(id) => Ok(js::error_response(
            404,
            "job_not_found",
            &format!("'{id}' is not a job id"),
        )),
        ("GET", ["jobs", id]) => jobs.named(id).call("GET", "status", None).await,
        ("DELETE", ["jobs", id]) => delete(&jobs, &registry, id).await,
        ("POST", ["jobs", id, action @ ("pause" | "resume" | "cancel")]) => {
            jobs.named(id).call("POST", action, None).await
        }
        ("PUT", ["jobs", id, "urls"]) => forward_with_body(&jobs, id, "PUT", "urls", request).await,
        ("POST", ["jobs", id, "retry"]) => forward_with_body(&jobs, id, "POST", "retry", request).await,
        ("GET", ["jobs", id, "reasons"]) => jobs.named(id).call("GET", "reasons", None).await,
        ("GET", ["jobs", id, "dead-letters"]) => {
            let query = web_sys::Url::new(&request.url())
                .map(|u| u.search())
                .unwrap_or_default();
            jobs.named(id).call("GET", &format!("dead-letters{query}"), None).await
        }
        _ => Ok(js::error_response(
            405,
            "not_allowed",
            &format!("{method} {path} is not part of the jobs API"),
        )),
    };
    result.unwrap_or_else(|message| js::error_response(502, "job_unreachable", &message))
}

/// Hands a call with a JSON body to job `id`'s object.
async fn forward_with_body(
    jobs: &Namespace,
    id: &str,
    method: &str,
    action: &str,
    request: &Request,
) -> Result<Response, String> {
    match js::request_bytes(request, 16 * 1024 * 1024).await {
        Ok(body) => {
            jobs.named(id)
                .call(method, action, Some(&String::from_utf8_lossy(&body)))
                .await
        }
        Err(message) => Ok(js::error_response(413, "body_too_large", &message)),
    }
}

async fn create(
    config: &EdgeConfig,
    jobs: &Namespace,
    registry: &Fetcher,
    request: &Request,
) -> Result<Response, String> {
    let body = match js::request_bytes(request, 16 * 1024 * 1024).await {
        Ok(body) => body,
        Err(message) => return Ok(js::error_response(413, "body_too_large", &message)),
    };
    let new_job: NewJob = match serde_json::from_slice(&body) {
        Ok(job) => job,
        Err(error) => {
            return Ok(js::error_response(
                400,
                "bad_request",
                &format!("the job is not valid: {error}"),
            ))
        }
    };
    let id = js::new_job_id();
    let now = js_sys::Date::now() as u64;
    let (manifest, urls) = match new_job.plan(&id, now, &config.rules.indices) {
        Ok(plan) => plan,
        Err(message) => return Ok(js::error_response(400, "bad_request", &message)),
    };
    let created = jobs
        .named(&id)
        .call(
            "POST",
            "create",
            Some(&json!({"manifest": manifest, "urls": urls}).to_string()),
        )
        .await?;
    if created.status() != 201 {
        return Ok(created);
    }
    let entry = json!({"id": id, "created_at_ms": now}).to_string();
    registry.call("POST", "add", Some(&entry)).await?;
    let view = js::body_bytes(&created).await?;
    Ok(js::response(
        201,
        &[
            ("content-type", "application/json"),
            ("location", &format!("/jobs/{id}")),
        ],
        Some(&view),
    ))
}

async fn list(jobs: &Namespace, registry: &Fetcher) -> Result<Response, String> {
    let answer = registry.call("GET", "list", None).await?;
    let entries: Vec<registry::Entry> = serde_json::from_slice(&js::body_bytes(&answer).await?).unwrap_or_default();
    let mut views = Vec::with_capacity(entries.len());
    for entry in entries.iter().take(200) {
        let status = jobs.named(&entry.id).call("GET", "status", None).await?;
        if status.status() == 200 {
            let view: serde_json::Value = serde_json::from_slice(&js::body_bytes(&status).await?).unwrap_or_default();
            views.push(view);
        }
    }
    Ok(js::json_response(200, &json!({ "jobs": views })))
}

async fn delete(jobs: &Namespace, registry: &Fetcher, id: &str) -> Result<Response, String> {
    let answer = jobs.named(id).call("DELETE", "delete", None).await?;
    let entry = json!({"id": id, "created_at_ms": 0}).to_string();
    registry.call("POST", "remove", Some(&entry)).await?;
    Ok(answer)
}

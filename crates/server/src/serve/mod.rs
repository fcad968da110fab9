//! `sluice serve`: the proxy between the browser and OpenSearch. It is the one place that knows the cluster and its
//! credentials; it lets through bulk writes to allowed indices and a few read-only calls the web app needs, and
//! refuses everything else with a JSON error of its own shape (`{"sluice_error":{"code","message"}}`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures::StreamExt;
use serde_json::json;
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::ServeDir;

use crate::http_error::describe;
use sluice_proxy::policy::{BulkGuard, IndexPatterns, Refusal};
use sluice_proxy::route::{error_body, index_status_answer, pipelines_answer, refusal_body, ProxyRules, Route};

pub mod args;
pub use sluice_proxy::sigv4;

/// How the proxy authenticates to OpenSearch.
#[derive(Debug, Clone)]
pub enum UpstreamAuth {
    /// No credentials (a cluster without the security plugin, or one on a private network).
    None,
    /// HTTP basic.
    Basic {
        /// User.
        username: String,
        /// Password.
        password: String,
    },
    /// The browser's own `Authorization` header is passed through (the admin's explicit choice).
    PassThrough,
    /// AWS Signature Version 4 (Amazon OpenSearch Service, OpenSearch Serverless).
    SigV4(sigv4::SigV4),
}

/// Everything the proxy needs.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// OpenSearch base URL.
    pub upstream: String,
    /// Credentials for it.
    pub auth: UpstreamAuth,
    /// Indices the browser may write to.
    pub indices: IndexPatterns,
    /// Origins allowed by CORS (exact, like `https://tools.example.com`).
    pub allowed_origins: Vec<String>,
    /// Largest bulk body accepted (bytes).
    pub max_body: usize,
    /// Analyst tokens; empty means none required.
    pub tokens: Vec<String>,
    /// Timeout of one upstream request.
    pub timeout: Duration,
    /// Serve the built web app from this directory on the same origin.
    pub site: Option<PathBuf>,
    /// Extra CA certificate (PEM) to trust for the upstream.
    pub ca_certificate: Option<Vec<u8>>,
    /// Let the web app create allowed indices (`PUT /{index}` with mappings and shard counts only).
    pub allow_create_index: bool,
}

struct Shared {
    config: ProxyConfig,
    rules: ProxyRules,
    client: reqwest::Client,
    upstream: String,
    next_request_id: AtomicU64,
}

/// The proxy's router, ready to serve.
pub fn router(config: ProxyConfig) -> Result<Router, String> {
    if matches!(config.auth, UpstreamAuth::PassThrough) && !config.tokens.is_empty() {
        return Err(
            "analyst tokens and pass-through authentication both use the Authorization header; choose one".into(),
        );
    }
    let mut client = reqwest::Client::builder()
        .timeout(config.timeout)
        .connect_timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(64);
    if let Some(pem) = &config.ca_certificate {
        let certificate =
            reqwest::Certificate::from_pem(pem).map_err(|e| format!("the CA certificate is not valid PEM: {e}"))?;
        client = client.add_root_certificate(certificate);
    }
    let client = client
        .build()
        .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
    let upstream = config.upstream.trim_end_matches('/').to_string();
    if !(upstream.starts_with("http://") || upstream.starts_with("https://")) {
        return Err(format!(
            "the OpenSearch URL '{upstream}' must start with http:// or https://"
        ));
    }
    let origins: Vec<HeaderValue> = config
        .allowed_origins
        .iter()
        .map(|origin| {
            HeaderValue::from_str(origin.trim_end_matches('/')).map_err(|_| format!("invalid origin '{origin}'"))
        })
        .collect::<Result<_, _>>()?;
    let rules = ProxyRules {
        indices: config.indices.clone(),
        tokens: config.tokens.clone(),
        allow_create_index: config.allow_create_index,
        max_body: config.max_body,
        serves_site: config.site.is_some(),
    };
    let shared = Arc::new(Shared {
        config,
        rules,
        client,
        upstream,
        next_request_id: AtomicU64::new(1),
    });
    // One handler: the routing table is sluice-proxy's, shared with the edge Worker.
    let app = Router::new().fallback(dispatch);
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::HEAD, Method::POST, Method::PUT])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
        .expose_headers([header::RETRY_AFTER])
        .max_age(Duration::from_secs(600));
    Ok(app
        .layer(axum::middleware::from_fn_with_state(shared.clone(), check_token))
        .layer(cors)
        .layer(axum::middleware::from_fn_with_state(shared.clone(), log_request))
        .with_state(shared))
}

/// Serves until `shutdown` resolves (SIGTERM or Ctrl-C for the binary), then lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    config: ProxyConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let app = router(config)?;
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| e.to_string())
}

/// The proxy's own error response.
pub fn proxy_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = error_body(code, &message.into());
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn refusal_response(refusal: Refusal) -> Response {
    let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::FORBIDDEN);
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        refusal_body(&refusal),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"sluice\""),
        );
    }
    response
}

/// Carries out the route sluice-proxy finds for the request, or answers with its refusal.
async fn dispatch(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let route = match shared.rules.route(request.method().as_str(), request.uri().path()) {
        Ok(route) => route,
        Err(refusal) => return refusal_response(refusal),
    };
    let headers = request.headers().clone();
    match route {
        Route::Root => root(shared, &headers).await,
        Route::Health => health(&shared).await,
        Route::Config => (
            [(header::CONTENT_TYPE, "application/json")],
            shared.rules.client_config().to_string(),
        )
            .into_response(),
        Route::IndexStatus(index) => index_status(&shared, &index, &headers).await,
        Route::Bulk(index) => bulk(shared, index, headers, request.into_body()).await,
        Route::Count(index) => {
            forward(upstream_request(
                &shared,
                Method::GET,
                &format!("/{index}/_count"),
                &headers,
                None,
            ))
            .await
        }
        Route::Mapping(index) => {
            forward(upstream_request(
                &shared,
                Method::GET,
                &format!("/{index}/_mapping"),
                &headers,
                None,
            ))
            .await
        }
        Route::Pipelines => pipelines(&shared, &headers).await,
        Route::HeadIndex(index) => {
            forward(upstream_request(
                &shared,
                Method::HEAD,
                &format!("/{index}"),
                &headers,
                None,
            ))
            .await
        }
        Route::CreateIndex(index) => create_index(&shared, &index, request).await,
        Route::Site => site_file(&shared, request).await,
    }
}

async fn log_request(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let id = shared.next_request_id.fetch_add(1, Ordering::Relaxed);
    let method = request.method().clone();
    // The path only: a query string could hold a secret, and headers are never logged.
    let path = request.uri().path().to_string();
    let started = Instant::now();
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&format!("sluice-{id}")) {
        response.headers_mut().insert("x-request-id", value);
    }
    tracing::info!(
        request_id = id,
        %method,
        path = %path,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

async fn check_token(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match shared
        .rules
        .authorize(request.method().as_str(), request.uri().path(), authorization)
    {
        Ok(()) => next.run(request).await,
        Err(refusal) => refusal_response(refusal),
    }
}

/// `GET /`: the web app when one is served and a browser asks for a page, the health report otherwise.
async fn root(shared: Arc<Shared>, headers: &HeaderMap) -> Response {
    let wants_page = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if let (true, Some(site)) = (wants_page, &shared.config.site) {
        return match tokio::fs::read(site.join("index.html")).await {
            Ok(page) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response(),
            Err(error) => proxy_error(
                StatusCode::NOT_FOUND,
                "site_missing",
                format!("the site has no index.html: {error}"),
            ),
        };
    }
    health(&shared).await
}

async fn health(shared: &Shared) -> Response {
    let probe = match upstream_request(shared, Method::GET, "/", &HeaderMap::new(), None) {
        Ok(request) => request.timeout(Duration::from_secs(5)).send().await,
        Err(message) => return proxy_error(StatusCode::INTERNAL_SERVER_ERROR, "signing_failed", message),
    };
    let upstream = match probe {
        Ok(response) => {
            let status = response.status().as_u16();
            let bytes = response.bytes().await.unwrap_or_default();
            let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
            json!({"reachable": true, "status": status, "version": body["version"]["number"], "distribution": body["version"]["distribution"]})
        }
        Err(error) => json!({"reachable": false, "error": describe(&error)}),
    };
    let healthy = upstream["reachable"] == true && upstream["status"].as_u64().is_some_and(|s| s < 400);
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::BAD_GATEWAY
    };
    let body = json!({"sluice": sluice_engine::VERSION, "upstream": upstream});
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// A file of the site (`--site`).
async fn site_file(shared: &Shared, request: Request) -> Response {
    let path = request.uri().path().to_string();
    let Some(site) = &shared.config.site else {
        return proxy_error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{path} is not part of the site"),
        );
    };
    match tower::ServiceExt::oneshot(ServeDir::new(site), request).await {
        Ok(response) if response.status() != StatusCode::NOT_FOUND => response.map(Body::new),
        _ => proxy_error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{path} is not part of the site"),
        ),
    }
}

/// A request to the upstream with its credentials. The body is part of a SigV4 signature, so it is given here.
fn upstream_request(
    shared: &Shared,
    method: Method,
    path: &str,
    incoming: &HeaderMap,
    body: Option<(Bytes, &'static str)>,
) -> Result<reqwest::RequestBuilder, String> {
    let url = format!("{}{path}", shared.upstream);
    let mut builder = shared.client.request(method.clone(), &url);
    if let Some((_, content_type)) = &body {
        builder = builder.header(header::CONTENT_TYPE, *content_type);
    }
    builder = match &shared.config.auth {
        UpstreamAuth::None => builder,
        UpstreamAuth::Basic { username, password } => builder.basic_auth(username, Some(password)),
        UpstreamAuth::PassThrough => match incoming.get(header::AUTHORIZATION) {
            Some(value) => builder.header(header::AUTHORIZATION, value.clone()),
            None => builder,
        },
        UpstreamAuth::SigV4(signer) => {
            let (payload, signed_headers): (&[u8], Vec<(&str, &str)>) = match &body {
                Some((bytes, content_type)) => (bytes, vec![("content-type", *content_type)]),
                None => (&[], Vec::new()),
            };
            let now = std::time::SystemTime::now();
            let headers = signer.sign(method.as_str(), &url, &signed_headers, payload, now)?;
            headers
                .into_iter()
                .fold(builder, |b, (name, value)| b.header(name, value))
        }
    };
    Ok(match body {
        Some((bytes, _)) => builder.body(bytes),
        None => builder,
    })
}

/// Sends to the upstream and passes its answer back unchanged (status, body, content type, Retry-After).
async fn forward(request: Result<reqwest::RequestBuilder, String>) -> Response {
    let request = match request {
        Ok(request) => request,
        Err(message) => return proxy_error(StatusCode::INTERNAL_SERVER_ERROR, "signing_failed", message),
    };
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) if error.is_timeout() => {
            return proxy_error(
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_timeout",
                format!("OpenSearch did not answer in time: {}", describe(&error)),
            )
        }
        Err(error) => {
            return proxy_error(
                StatusCode::BAD_GATEWAY,
                "upstream_unreachable",
                format!("the proxy cannot reach OpenSearch: {}", describe(&error)),
            )
        }
    };
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut headers = HeaderMap::new();
    for name in [header::CONTENT_TYPE, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
        if let Some(value) = response.headers().get(name.as_str()) {
            if let Ok(value) = HeaderValue::from_bytes(value.as_bytes()) {
                headers.insert(name, value);
            }
        }
    }
    match response.bytes().await {
        Ok(body) => (status, headers, Body::from(body)).into_response(),
        Err(error) => proxy_error(
            StatusCode::BAD_GATEWAY,
            "upstream_interrupted",
            format!("OpenSearch's answer was cut off: {}", describe(&error)),
        ),
    }
}

async fn bulk(shared: Arc<Shared>, path_index: Option<String>, headers: HeaderMap, body: Body) -> Response {
    let header_text = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    if let Err(refusal) = shared
        .rules
        .check_bulk_headers(header_text(header::CONTENT_TYPE), header_text(header::CONTENT_LENGTH))
    {
        return refusal_response(refusal);
    }
    let max_body = shared.config.max_body;
    let mut guard = match BulkGuard::new(&shared.config.indices, path_index.as_deref()) {
        Ok(guard) => guard,
        Err(refusal) => return refusal_response(refusal),
    };
    // Checked while it streams in, kept once (the upstream needs the whole body anyway), never past the limit.
    let mut collected = Vec::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(error) => {
                return proxy_error(
                    StatusCode::BAD_REQUEST,
                    "body_unreadable",
                    format!("the request body broke off: {error}"),
                )
            }
        };
        if collected.len() + chunk.len() > max_body {
            return refusal_response(shared.rules.body_too_large());
        }
        if let Err(refusal) = guard.feed(&chunk) {
            return refusal_response(refusal);
        }
        collected.extend_from_slice(&chunk);
    }
    if let Err(refusal) = guard.finish() {
        return refusal_response(refusal);
    }
    let path = sluice_proxy::route::upstream_bulk_path(path_index.as_deref());
    let body = Some((Bytes::from(collected), "application/x-ndjson"));
    forward(upstream_request(&shared, Method::POST, &path, &headers, body)).await
}

/// GETs `path` from the upstream and reads its answer, for the calls the proxy answers itself. A 200 or 404 comes
/// back with its body; anything else is the response to pass on as it is.
async fn read_upstream(shared: &Shared, path: &str, headers: &HeaderMap) -> Result<(StatusCode, Bytes), Response> {
    let response = forward(upstream_request(shared, Method::GET, path, headers, None)).await;
    let status = response.status();
    if status != StatusCode::OK && status != StatusCode::NOT_FOUND {
        return Err(response);
    }
    let body = axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024)
        .await
        .unwrap_or_default();
    Ok((status, body))
}

/// `GET /_sluice/index/{index}`: `{"exists": false}` or `{"exists": true, "mapping": <the GET _mapping answer>}`,
/// always 200 when OpenSearch answered either way. The page asks this rather than `_mapping` itself so that a
/// missing index, an ordinary answer before an import, is not a failed request.
async fn index_status(shared: &Shared, index: &str, headers: &HeaderMap) -> Response {
    let (status, body) = match read_upstream(shared, &format!("/{index}/_mapping"), headers).await {
        Ok(answer) => answer,
        Err(response) => return response,
    };
    let answer = index_status_answer(status.as_u16(), &body);
    ([(header::CONTENT_TYPE, "application/json")], answer.to_string()).into_response()
}

/// `GET /_ingest/pipeline`, reduced to names and descriptions.
async fn pipelines(shared: &Shared, headers: &HeaderMap) -> Response {
    let body = match read_upstream(shared, "/_ingest/pipeline", headers).await {
        Ok((_, body)) => body,
        Err(response) => return response,
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        pipelines_answer(&body).to_string(),
    )
        .into_response()
}

/// `PUT /{index}` (routed only when index creation is allowed, for allowed indices): only a body of mappings and
/// shard counts ([`check_create_index_body`](sluice_proxy::policy::check_create_index_body)).
async fn create_index(shared: &Shared, index: &str, request: Request) -> Response {
    let headers = request.headers().clone();
    let body = match axum::body::to_bytes(request.into_body(), 1024 * 1024).await {
        Ok(body) => body,
        Err(_) => {
            return proxy_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "a create-index body may be at most 1 MiB",
            )
        }
    };
    if let Err(refusal) = sluice_proxy::policy::check_create_index_body(&body) {
        return refusal_response(refusal);
    }
    let body = (!body.is_empty()).then_some((body, "application/json"));
    forward(upstream_request(
        shared,
        Method::PUT,
        &format!("/{index}"),
        &headers,
        body,
    ))
    .await
}

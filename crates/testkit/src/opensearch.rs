//! An OpenSearch-compatible HTTP server for tests, with fault injection and counters.
//!
//! It exists because no OpenSearch can be installed on our machines. It follows OpenSearch's documented request and
//! response shapes (bulk items with `status`, `result`, `_version`, `_seq_no`; `version_conflict_engine_exception`;
//! dynamic mapping and `mapper_parsing_exception`; `illegal_argument_exception` for a malformed action line; 413 with
//! an empty body over the body limit; 401 with `WWW-Authenticate`), so importers are tested against the protocol,
//! not against shortcuts of our own.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Faults to inject. All rates are probabilities in `[0, 1]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Each bulk item is rejected with 429 `rejected_execution_exception` at this rate.
    pub item_429_rate: f64,
    /// A whole bulk request is rejected with 429 at this rate (nothing applied).
    pub request_429_rate: f64,
    /// Every bulk request waits this long before it is handled.
    pub latency: Duration,
    /// A bulk request is applied and then its connection is closed without an answer, at this rate.
    pub drop_after_apply_rate: f64,
    /// Bulk bodies longer than this get 413 with an empty body (OpenSearch's `http.max_content_length`).
    pub max_body: Option<usize>,
    /// After this many bulk requests, every further one gets 503 (a node going away).
    pub fail_after_requests: Option<u64>,
}

/// Counters tests can read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// HTTP requests of any kind.
    pub requests: u64,
    /// Bulk requests.
    pub bulk_requests: u64,
    /// Bulk items received (in requests that were parsed).
    pub items: u64,
    /// Items indexed or created (including overwrites).
    pub indexed: u64,
    /// Of those, overwrites of an existing document.
    pub overwrites: u64,
    /// Items and whole requests rejected with 429.
    pub rejected: u64,
    /// Items refused for good (mapping conflicts, version conflicts, bad documents).
    pub failed: u64,
    /// Connections closed without an answer.
    pub dropped: u64,
    /// Bytes of bulk bodies received (what went over the wire, retries included).
    pub bulk_bytes: u64,
    /// Bulk requests refused whole or for all their items by the capacity limit.
    pub rejected_requests: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    bulk_requests: AtomicU64,
    items: AtomicU64,
    indexed: AtomicU64,
    overwrites: AtomicU64,
    rejected: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    bulk_bytes: AtomicU64,
    rejected_requests: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

/// What the server is started with.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Require HTTP basic auth with this user and password.
    pub basic_auth: Option<(String, String)>,
    /// Initial faults.
    pub faults: Faults,
    /// Seed of the fault dice.
    pub seed: u64,
    /// Forget document bodies after indexing (ids, versions and mappings are kept): for benchmarks with large
    /// data sets. `get` then returns `null` sources.
    pub discard_sources: bool,
    /// A sink that never limits the client, for benchmarks of Sluice itself: action lines are still parsed and
    /// checked and ids counted (`_count` stays exact), but a source line is only checked to be a JSON object's
    /// text (`{…}`), not parsed, and no mapping is kept or checked; sources are discarded.
    pub fast: bool,
    /// A cluster with a fixed indexing capacity (write threads and a queue), which answers 429 when full.
    pub capacity: Option<Capacity>,
}

/// The capacity of a write thread pool, like OpenSearch's `thread_pool.write`: `threads` index at
/// `docs_per_sec / threads` each; up to `queue` more requests wait; any further one is rejected with 429
/// `rejected_execution_exception`, for the whole request or (`item_level`) for each of its items in a 200.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Capacity {
    /// Documents per second over all threads.
    pub docs_per_sec: f64,
    /// Write threads.
    pub threads: usize,
    /// Requests that may wait for a thread.
    pub queue: usize,
    /// Reject item by item (200 with 429 items) rather than the whole request.
    pub item_level: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldType {
    Long,
    Float,
    Double,
    Boolean,
    Text,
    Keyword,
    Date,
    Object,
}

impl FieldType {
    fn name(self) -> &'static str {
        match self {
            FieldType::Long => "long",
            FieldType::Float => "float",
            FieldType::Double => "double",
            FieldType::Boolean => "boolean",
            FieldType::Text => "text",
            FieldType::Keyword => "keyword",
            FieldType::Date => "date",
            FieldType::Object => "object",
        }
    }

    /// A mapping type of a create-index or put-mapping body; types the server does not model take anything.
    fn from_mapping(spec: &Value) -> Self {
        match spec["type"].as_str() {
            Some("long" | "integer" | "short" | "byte" | "unsigned_long") => FieldType::Long,
            Some("float" | "half_float" | "scaled_float") => FieldType::Float,
            Some("double") => FieldType::Double,
            Some("boolean") => FieldType::Boolean,
            Some("keyword" | "constant_keyword" | "wildcard") => FieldType::Keyword,
            Some("date" | "date_nanos") => FieldType::Date,
            Some("object" | "nested") => FieldType::Object,
            None if spec.get("properties").is_some() => FieldType::Object,
            _ => FieldType::Text,
        }
    }

    fn is_numeric(self) -> bool {
        matches!(self, FieldType::Long | FieldType::Float | FieldType::Double)
    }
}

/// `dynamic` of an index's mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Dynamic {
    #[default]
    True,
    False,
    Strict,
}

struct Doc {
    source: Value,
    version: u64,
    seq_no: u64,
}

#[derive(Default)]
struct Index {
    mapping: BTreeMap<String, FieldType>,
    dynamic: Dynamic,
    docs: HashMap<String, Doc>,
    next_seq_no: u64,
}

struct Cluster {
    indices: BTreeMap<String, Index>,
    /// Ingest pipelines by id, as PUT (they are listed, not run).
    pipelines: BTreeMap<String, Value>,
    faults: Faults,
    dice: u64,
    auto_ids: u64,
}

impl Cluster {
    fn roll(&mut self, rate: f64) -> bool {
        if rate <= 0.0 {
            return false;
        }
        // xorshift64*: reproducible per seed.
        self.dice ^= self.dice >> 12;
        self.dice ^= self.dice << 25;
        self.dice ^= self.dice >> 27;
        let value = self.dice.wrapping_mul(0x2545_F491_4F6C_DD1D);
        ((value >> 11) as f64 / (1u64 << 53) as f64) < rate
    }
}

struct Shared {
    cluster: Mutex<Cluster>,
    counters: Counters,
    basic_auth: Option<String>,
    discard_sources: bool,
    fast: bool,
    capacity: Option<Capacity>,
    /// The write threads of [`Capacity`].
    write_threads: tokio::sync::Semaphore,
    /// Requests holding or waiting for a write thread.
    occupied: std::sync::atomic::AtomicUsize,
    /// When the first bulk request arrived and the last one was answered.
    bulk_window: Mutex<Option<(std::time::Instant, std::time::Instant)>>,
}

/// A place among the write threads and their queue, given back when dropped.
struct Occupied<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Occupied<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Shared {
    fn cluster(&self) -> MutexGuard<'_, Cluster> {
        self.cluster.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stretches the bulk window to now.
    fn note_bulk_activity(&self) {
        let now = std::time::Instant::now();
        let mut window = self.bulk_window.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let first = window.map_or(now, |(first, _)| first);
        *window = Some((first, now));
    }
}

/// A running test server. Dropping it stops it.
pub struct OpenSearchServer {
    address: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
}

impl OpenSearchServer {
    /// Starts a server on `127.0.0.1` with a free port.
    pub async fn start(options: Options) -> std::io::Result<Self> {
        Self::bind("127.0.0.1:0".parse().expect("a valid address"), options).await
    }

    /// Starts a server on `address`.
    pub async fn bind(address: SocketAddr, options: Options) -> std::io::Result<Self> {
        let listener = TcpListener::bind(address).await?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared {
            cluster: Mutex::new(Cluster {
                indices: BTreeMap::new(),
                pipelines: BTreeMap::new(),
                faults: options.faults,
                dice: options.seed | 1,
                auto_ids: 0,
            }),
            counters: Counters::default(),
            discard_sources: options.discard_sources || options.fast,
            fast: options.fast,
            capacity: options.capacity,
            write_threads: tokio::sync::Semaphore::new(options.capacity.map_or(1, |c| c.threads.max(1))),
            occupied: std::sync::atomic::AtomicUsize::new(0),
            bulk_window: Mutex::new(None),
            basic_auth: options.basic_auth.map(|(user, password)| {
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
                )
            }),
        });
        let (stop, stopped) = oneshot::channel();
        let app = router(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(OpenSearchServer {
            address,
            shared,
            stop: Some(stop),
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The bound address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Replaces the faults.
    pub fn set_faults(&self, faults: Faults) {
        self.shared.cluster().faults = faults;
    }

    /// The counters now.
    pub fn counts(&self) -> Counts {
        let c = &self.shared.counters;
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Counts {
            requests: read(&c.requests),
            bulk_requests: read(&c.bulk_requests),
            items: read(&c.items),
            indexed: read(&c.indexed),
            overwrites: read(&c.overwrites),
            rejected: read(&c.rejected),
            failed: read(&c.failed),
            dropped: read(&c.dropped),
            bulk_bytes: read(&c.bulk_bytes),
            rejected_requests: read(&c.rejected_requests),
        }
    }

    /// Seconds from the first bulk request's arrival to the last bulk answer: how long the client kept the cluster
    /// in use, without its own start-up and shutdown.
    pub fn bulk_window_secs(&self) -> f64 {
        let window = *self
            .shared
            .bulk_window
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        window.map_or(0.0, |(first, last)| last.duration_since(first).as_secs_f64())
    }

    /// Number of documents in `index` (0 when it does not exist).
    pub fn doc_count(&self, index: &str) -> usize {
        self.shared.cluster().indices.get(index).map_or(0, |i| i.docs.len())
    }

    /// The ids in `index`, sorted.
    pub fn ids(&self, index: &str) -> Vec<String> {
        let cluster = self.shared.cluster();
        let mut ids: Vec<String> = cluster
            .indices
            .get(index)
            .map(|i| i.docs.keys().cloned().collect())
            .unwrap_or_default();
        ids.sort();
        ids
    }

    /// A document's source.
    pub fn get(&self, index: &str, id: &str) -> Option<Value> {
        let cluster = self.shared.cluster();
        cluster.indices.get(index)?.docs.get(id).map(|d| d.source.clone())
    }

    /// The documents' versions (how many times each was written), by id.
    pub fn versions(&self, index: &str) -> HashMap<String, u64> {
        let cluster = self.shared.cluster();
        cluster
            .indices
            .get(index)
            .map(|i| i.docs.iter().map(|(id, d)| (id.clone(), d.version)).collect())
            .unwrap_or_default()
    }
}

impl Drop for OpenSearchServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(root).head(root))
        .route("/_bulk", post(bulk_all).put(bulk_all))
        .route(
            "/{index}",
            get(get_index).head(head_index).put(create_index).delete(delete_index),
        )
        .route("/{index}/_bulk", post(bulk_index).put(bulk_index))
        .route("/{index}/_mapping", get(get_mapping).put(put_mapping))
        .route("/_ingest/pipeline", get(get_pipelines))
        .route("/_ingest/pipeline/{id}", get(get_pipeline).put(put_pipeline))
        .route("/{index}/_count", get(count).post(count))
        .route("/{index}/_refresh", post(refresh).get(refresh))
        .route("/{index}/_doc/{id}", get(get_doc))
        .fallback(no_handler)
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(shared.clone(), authenticate))
        .with_state(shared)
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
        body.to_string(),
    )
        .into_response()
}

/// OpenSearch's error envelope.
fn error(status: StatusCode, kind: &str, reason: &str) -> Response {
    json_response(
        status,
        json!({
            "error": {
                "root_cause": [{"type": kind, "reason": reason}],
                "type": kind,
                "reason": reason,
            },
            "status": status.as_u16(),
        }),
    )
}

async fn authenticate(
    State(shared): State<Arc<Shared>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    bump(&shared.counters.requests, 1);
    if let Some(expected) = &shared.basic_auth {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if given != Some(expected.as_str()) {
            let reason = match given {
                None => format!(
                    "missing authentication credentials for REST request [{}]",
                    request.uri().path()
                ),
                Some(_) => "authentication failed for REST request".to_string(),
            };
            let mut response = error(StatusCode::UNAUTHORIZED, "security_exception", &reason);
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic realm=\"OpenSearch Security\""),
            );
            return response;
        }
    }
    next.run(request).await
}

async fn root() -> Response {
    json_response(
        StatusCode::OK,
        json!({
            "name": "sluice-testkit",
            "cluster_name": "sluice-test",
            "cluster_uuid": "sluice-testkit-cluster",
            "version": {
                "distribution": "opensearch",
                "number": "2.19.0",
                "build_type": "testkit",
                "lucene_version": "9.12.1",
                "minimum_wire_compatibility_version": "7.10.0",
                "minimum_index_compatibility_version": "7.0.0"
            },
            "tagline": "The OpenSearch Project: https://opensearch.org/"
        }),
    )
}

async fn no_handler(method: Method, uri: Uri) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        json!({"error": format!("no handler found for uri [{uri}] and method [{method}]"), "status": 400}),
    )
}

fn index_not_found(index: &str) -> Response {
    let reason = format!("no such index [{index}]");
    json_response(
        StatusCode::NOT_FOUND,
        json!({
            "error": {
                "root_cause": [{"type": "index_not_found_exception", "reason": reason, "index": index}],
                "type": "index_not_found_exception",
                "reason": reason,
                "index": index,
            },
            "status": 404,
        }),
    )
}

/// The `mappings` object of an index in OpenSearch's shape: objects hold their fields under `properties`.
fn mappings_json(index: &Index) -> Value {
    let mut root = Map::new();
    for (path, kind) in &index.mapping {
        let mut properties = &mut root;
        let mut parts: Vec<&str> = path.split('.').collect();
        let leaf = parts.pop().unwrap_or_default();
        for part in parts {
            let entry = properties
                .entry(part.to_string())
                .or_insert_with(|| json!({"properties": {}}));
            if entry.get("properties").is_none() {
                entry["properties"] = json!({});
            }
            properties = entry["properties"].as_object_mut().expect("made above");
        }
        let spec = match kind {
            FieldType::Object => json!({"properties": {}}),
            FieldType::Text => json!({"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}),
            other => json!({"type": other.name()}),
        };
        match properties.get_mut(leaf) {
            Some(existing) if *kind == FieldType::Object => {
                if existing.get("properties").is_none() {
                    existing["properties"] = json!({});
                }
            }
            _ => {
                properties.insert(leaf.to_string(), spec);
            }
        }
    }
    let mut mappings = json!({ "properties": root });
    match index.dynamic {
        Dynamic::True => {}
        Dynamic::False => mappings["dynamic"] = json!("false"),
        Dynamic::Strict => mappings["dynamic"] = json!("strict"),
    }
    mappings
}

/// Adds the fields of a `properties` object (create index, put mapping) to a flat mapping.
fn add_properties(mapping: &mut BTreeMap<String, FieldType>, prefix: &str, properties: &Map<String, Value>) {
    for (name, spec) in properties {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        mapping.insert(path.clone(), FieldType::from_mapping(spec));
        if let Some(children) = spec["properties"].as_object() {
            add_properties(mapping, &path, children);
        }
    }
}

async fn get_index(State(shared): State<Arc<Shared>>, Path(index): Path<String>) -> Response {
    let cluster = shared.cluster();
    match cluster.indices.get(&index) {
        None => index_not_found(&index),
        Some(found) => json_response(
            StatusCode::OK,
            json!({ index: {"mappings": mappings_json(found), "settings": {"index": {"number_of_shards": "1"}}}}),
        ),
    }
}

async fn get_mapping(State(shared): State<Arc<Shared>>, Path(index): Path<String>) -> Response {
    let cluster = shared.cluster();
    match cluster.indices.get(&index) {
        None => index_not_found(&index),
        Some(found) => json_response(StatusCode::OK, json!({ index: {"mappings": mappings_json(found)} })),
    }
}

/// `PUT /{index}/_mapping`: adds fields (an existing field's type cannot change, as in OpenSearch).
async fn put_mapping(State(shared): State<Arc<Shared>>, Path(index): Path<String>, body: Bytes) -> Response {
    let body: Value = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "parse_exception",
                &format!("request body is required: {e}"),
            )
        }
    };
    let mut cluster = shared.cluster();
    let Some(found) = cluster.indices.get_mut(&index) else {
        return index_not_found(&index);
    };
    let mut added = BTreeMap::new();
    if let Some(properties) = body["properties"].as_object() {
        add_properties(&mut added, "", properties);
    }
    for (path, kind) in &added {
        if let Some(existing) = found.mapping.get(path) {
            if existing != kind {
                return error(
                    StatusCode::BAD_REQUEST,
                    "illegal_argument_exception",
                    &format!(
                        "mapper [{path}] cannot be changed from type [{}] to [{}]",
                        existing.name(),
                        kind.name()
                    ),
                );
            }
        }
    }
    found.mapping.extend(added);
    json_response(StatusCode::OK, json!({"acknowledged": true}))
}

async fn get_pipelines(State(shared): State<Arc<Shared>>) -> Response {
    let pipelines: Map<String, Value> = shared.cluster().pipelines.clone().into_iter().collect();
    json_response(StatusCode::OK, Value::Object(pipelines))
}

async fn get_pipeline(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    match shared.cluster().pipelines.get(&id) {
        Some(pipeline) => json_response(StatusCode::OK, json!({ id: pipeline })),
        None => json_response(StatusCode::NOT_FOUND, json!({})),
    }
}

async fn put_pipeline(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> Response {
    match serde_json::from_slice::<Value>(&body) {
        Ok(pipeline) if pipeline["processors"].is_array() => {
            shared.cluster().pipelines.insert(id, pipeline);
            json_response(StatusCode::OK, json!({"acknowledged": true}))
        }
        _ => error(
            StatusCode::BAD_REQUEST,
            "parse_exception",
            "[processors] required property is missing",
        ),
    }
}

async fn head_index(State(shared): State<Arc<Shared>>, Path(index): Path<String>) -> StatusCode {
    if shared.cluster().indices.contains_key(&index) {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    }
}

/// `PUT /{index}` with an optional body: `mappings` (`dynamic`, `properties`) and `settings`.
async fn create_index(State(shared): State<Arc<Shared>>, Path(index): Path<String>, body: Bytes) -> Response {
    let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(body @ Value::Object(_)) => body,
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "parse_exception",
                    "Failed to parse content to map: the body is not a JSON object",
                )
            }
        }
    };
    let mut created = Index::default();
    let mappings = &body["mappings"];
    created.dynamic = match &mappings["dynamic"] {
        Value::String(s) if s == "strict" => Dynamic::Strict,
        Value::String(s) if s == "false" => Dynamic::False,
        Value::Bool(false) => Dynamic::False,
        _ => Dynamic::True,
    };
    if let Some(properties) = mappings["properties"].as_object() {
        add_properties(&mut created.mapping, "", properties);
    }
    let mut cluster = shared.cluster();
    if let Err(reason) = valid_index_name(&index) {
        return error(StatusCode::BAD_REQUEST, "invalid_index_name_exception", &reason);
    }
    if cluster.indices.contains_key(&index) {
        return error(
            StatusCode::BAD_REQUEST,
            "resource_already_exists_exception",
            &format!("index [{index}/sluice] already exists"),
        );
    }
    cluster.indices.insert(index.clone(), created);
    json_response(
        StatusCode::OK,
        json!({"acknowledged": true, "shards_acknowledged": true, "index": index}),
    )
}

async fn delete_index(State(shared): State<Arc<Shared>>, Path(index): Path<String>) -> Response {
    match shared.cluster().indices.remove(&index) {
        Some(_) => json_response(StatusCode::OK, json!({"acknowledged": true})),
        None => index_not_found(&index),
    }
}

async fn count(State(shared): State<Arc<Shared>>, Path(index): Path<String>) -> Response {
    match shared.cluster().indices.get(&index) {
        Some(found) => json_response(
            StatusCode::OK,
            json!({"count": found.docs.len(), "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0}}),
        ),
        None => index_not_found(&index),
    }
}

async fn refresh(State(shared): State<Arc<Shared>>, Path(index): Path<String>) -> Response {
    if !shared.cluster().indices.contains_key(&index) {
        return index_not_found(&index);
    }
    json_response(
        StatusCode::OK,
        json!({"_shards": {"total": 2, "successful": 1, "failed": 0}}),
    )
}

async fn get_doc(State(shared): State<Arc<Shared>>, Path((index, id)): Path<(String, String)>) -> Response {
    let cluster = shared.cluster();
    let Some(found) = cluster.indices.get(&index) else {
        return index_not_found(&index);
    };
    match found.docs.get(&id) {
        Some(doc) => json_response(
            StatusCode::OK,
            json!({"_index": index, "_id": id, "_version": doc.version, "_seq_no": doc.seq_no,
                   "_primary_term": 1, "found": true, "_source": doc.source}),
        ),
        None => json_response(
            StatusCode::NOT_FOUND,
            json!({"_index": index, "_id": id, "found": false}),
        ),
    }
}

fn valid_index_name(name: &str) -> Result<(), String> {
    let bad = name.is_empty()
        || name.starts_with(['_', '-', '+'])
        || name.chars().any(|c| {
            c.is_ascii_uppercase() || matches!(c, ' ' | '"' | '*' | '\\' | '<' | '|' | ',' | '>' | '/' | '?' | '#')
        });
    if bad {
        Err(format!(
            "Invalid index name [{name}], must be lowercase and must not contain the characters [\\, /, *, ?, \", <, >, |, , #]"
        ))
    } else {
        Ok(())
    }
}

async fn bulk_all(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    bulk(shared, None, &query, headers, body).await
}

async fn bulk_index(
    State(shared): State<Arc<Shared>>,
    Path(index): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    bulk(shared, Some(index), &query, headers, body).await
}

/// The part of OpenSearch's `filter_path` this server applies to `_bulk` answers: whole top-level fields (`took`,
/// `errors`, `items`) and whole fields of every item (`items.*.status`, `items.*.error`, `items.*._id`...). Any other
/// form is refused with a 400 that says so, rather than answered in a shape OpenSearch would not send.
#[derive(Debug, Clone, PartialEq)]
struct BulkFilter {
    took: bool,
    errors: bool,
    /// `None`: items whole; `Some(fields)`: only these fields of each item (none: no items).
    item_fields: Option<Vec<String>>,
}

impl BulkFilter {
    const ALL: BulkFilter = BulkFilter {
        took: true,
        errors: true,
        item_fields: None,
    };

    fn parse(filter_path: Option<&String>) -> Result<BulkFilter, String> {
        let Some(filter_path) = filter_path else {
            return Ok(BulkFilter::ALL);
        };
        let mut filter = BulkFilter {
            took: false,
            errors: false,
            item_fields: Some(Vec::new()),
        };
        for part in filter_path.split(',').map(str::trim) {
            let segments: Vec<&str> = part.split('.').collect();
            match segments.as_slice() {
                ["took"] => filter.took = true,
                ["errors"] => filter.errors = true,
                ["items"] | ["items", "*"] | ["items", "*", "*"] => filter.item_fields = None,
                ["items", "*", field] if !field.contains('*') && !field.starts_with('-') => {
                    if let Some(fields) = &mut filter.item_fields {
                        fields.push(field.to_string());
                    }
                }
                _ => {
                    return Err(format!(
                        "this test server's filter_path takes took, errors, items and items.*.<field>, not [{part}]"
                    ))
                }
            }
        }
        Ok(filter)
    }

    fn keeps(&self, field: &str) -> bool {
        self.item_fields
            .as_ref()
            .is_none_or(|fields| fields.iter().any(|f| f == field))
    }

    fn keeps_items(&self) -> bool {
        self.item_fields.as_ref().is_none_or(|fields| !fields.is_empty())
    }

    /// An item rendered whole (an error item, the cold path), cut to the kept fields.
    fn cut(&self, item: String) -> String {
        if self.item_fields.is_none() {
            return item;
        }
        let Ok(Value::Object(mut envelope)) = serde_json::from_str::<Value>(&item) else {
            return item;
        };
        for result in envelope.values_mut() {
            if let Value::Object(fields) = result {
                fields.retain(|field, _| self.keeps(field));
            }
        }
        Value::Object(envelope).to_string()
    }

    /// The answer's body around its rendered items.
    fn render(&self, took_ms: u128, errors: bool, items: &[String]) -> String {
        let mut parts = Vec::new();
        if self.took {
            parts.push(format!("\"took\":{took_ms}"));
        }
        if self.errors {
            parts.push(format!("\"errors\":{errors}"));
        }
        let mut body = String::with_capacity(items.iter().map(|item| item.len() + 1).sum::<usize>() + 64);
        body.push('{');
        body.push_str(&parts.join(","));
        if self.keeps_items() {
            if !parts.is_empty() {
                body.push(',');
            }
            body.push_str("\"items\":[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    body.push(',');
                }
                body.push_str(item);
            }
            body.push(']');
        }
        body.push('}');
        body
    }
}

/// One parsed bulk operation.
struct Operation {
    action: &'static str,
    index: String,
    id: Option<String>,
    source: Option<Bytes>,
    /// The source parsed as a JSON object (done before the cluster lock is taken); `None` if it is not one.
    document: Option<Map<String, Value>>,
}

async fn bulk(
    shared: Arc<Shared>,
    path_index: Option<String>,
    query: &HashMap<String, String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let filter = match BulkFilter::parse(query.get("filter_path")) {
        Ok(filter) => filter,
        Err(reason) => return error(StatusCode::BAD_REQUEST, "illegal_argument_exception", &reason),
    };
    shared.note_bulk_activity();
    bump(&shared.counters.bulk_requests, 1);
    bump(&shared.counters.bulk_bytes, body.len() as u64);
    let (latency, max_body, reject_all, fail) = {
        let mut cluster = shared.cluster();
        let faults = cluster.faults.clone();
        let requests = shared.counters.bulk_requests.load(Ordering::Relaxed);
        let fail = faults.fail_after_requests.is_some_and(|limit| requests > limit);
        (
            faults.latency,
            faults.max_body,
            cluster.roll(faults.request_429_rate),
            fail,
        )
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if fail {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "cluster_block_exception",
            "blocked by: [SERVICE_UNAVAILABLE/2/no cluster-manager];",
        );
    }
    if max_body.is_some_and(|limit| body.len() > limit) {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    if reject_all {
        bump(&shared.counters.rejected, 1);
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            "rejected_execution_exception",
            "rejected execution of coordinating operation [shard_detail=[sluice][0][P], shard_coordinating_and_primary_bytes=0, shard_operation_bytes=1, shard_max_coordinating_and_primary_bytes=0]",
        );
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !matches!(media, "application/x-ndjson" | "application/json") {
        return json_response(
            StatusCode::NOT_ACCEPTABLE,
            json!({"error": format!("Content-Type header [{content_type}] is not supported"), "status": 406}),
        );
    }
    if body.last() != Some(&b'\n') {
        return error(
            StatusCode::BAD_REQUEST,
            "illegal_argument_exception",
            "The bulk request must be terminated by a newline [\\n]",
        );
    }
    // The capacity limit: a place among the write threads and their queue, or a rejection; then a thread, whose
    // time for the request includes this server's own parsing and bookkeeping, so the capacity is what the
    // benchmarks say it is and a client that keeps T requests in flight keeps T threads busy.
    let mut occupied = None;
    let mut rejected = false;
    if let Some(capacity) = shared.capacity {
        let place = Occupied(&shared.occupied);
        let taken = shared.occupied.fetch_add(1, Ordering::SeqCst) + 1;
        if taken > capacity.threads + capacity.queue {
            drop(place);
            bump(&shared.counters.rejected_requests, 1);
            if !capacity.item_level {
                bump(&shared.counters.rejected, 1);
                return error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rejected_execution_exception",
                    "rejected execution of bulk [write thread pool full, queue capacity reached]",
                );
            }
            rejected = true;
        } else {
            occupied = Some(place);
        }
    }
    let _thread = match occupied {
        Some(_) => shared.write_threads.acquire().await.ok(),
        None => None,
    };
    let thread_started = tokio::time::Instant::now();
    let mut operations = match parse_bulk(&body, path_index.as_deref()) {
        Ok(operations) => operations,
        Err(response) => return response,
    };
    for op in operations.iter_mut().filter(|_| !shared.fast) {
        op.document = op
            .source
            .as_deref()
            .and_then(|source| match serde_json::from_slice(source) {
                Ok(Value::Object(map)) => Some(map),
                _ => None,
            });
    }
    bump(&shared.counters.items, operations.len() as u64);
    if rejected {
        // Item-level rejections: the request was parsed, and every item is turned away.
        bump(&shared.counters.rejected, operations.len() as u64);
        let items: Vec<String> = operations.iter().map(|op| filter.cut(rejected_item(op))).collect();
        let body = filter.render(0, true, &items);
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
            body,
        )
            .into_response();
    }
    let indexed_by = shared.capacity.filter(|_| occupied.is_some()).map(|capacity| {
        let per_thread = capacity.docs_per_sec / capacity.threads.max(1) as f64;
        thread_started + Duration::from_secs_f64(operations.len() as f64 / per_thread)
    });
    let started = std::time::Instant::now();
    let (items, errors, drop) = {
        let mut cluster = shared.cluster();
        let item_429 = cluster.faults.item_429_rate;
        let mut errors = false;
        let items: Vec<String> = operations
            .into_iter()
            .map(|op| {
                let (item, ok) = if cluster.roll(item_429) {
                    bump(&shared.counters.rejected, 1);
                    (rejected_item(&op), false)
                } else {
                    apply(
                        &mut cluster,
                        &shared.counters,
                        op,
                        &filter,
                        shared.discard_sources,
                        shared.fast,
                    )
                };
                errors |= !ok;
                // Success items are rendered cut already (the hot path); error items are cut here.
                if ok {
                    item
                } else {
                    filter.cut(item)
                }
            })
            .collect();
        let drop_rate = cluster.faults.drop_after_apply_rate;
        (items, errors, cluster.roll(drop_rate))
    };
    if let Some(deadline) = indexed_by {
        tokio::time::sleep_until(deadline).await;
    }
    if drop {
        bump(&shared.counters.dropped, 1);
        // Unwinding the connection's task closes the socket without an answer, like a node dying after the write.
        // resume_unwind skips the panic hook, so this prints nothing.
        std::panic::resume_unwind(Box::new("simulated dropped connection"));
    }
    shared.note_bulk_activity();
    // Rendered as text: building a Value tree per item made the server its own bottleneck.
    let body = filter.render(started.elapsed().as_millis(), errors, &items);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
        body,
    )
        .into_response()
}

fn malformed(line: usize, detail: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "illegal_argument_exception",
        &format!("Malformed action/metadata line [{line}], {detail}"),
    )
}

/// Parses the whole request first, as OpenSearch does: a malformed action line fails the request and nothing is
/// applied. (A rare, cold error path: the large `Response` in `Err` costs nothing that matters here.)
#[allow(clippy::result_large_err)]
fn parse_bulk(body: &Bytes, path_index: Option<&str>) -> Result<Vec<Operation>, Response> {
    // Source lines are kept as slices of the request body, not copies.
    let slice_of = |line: &[u8]| {
        let start = line.as_ptr() as usize - body.as_ptr() as usize;
        body.slice(start..start + line.len())
    };
    let mut operations = Vec::new();
    let mut lines = body.split(|&b| b == b'\n').enumerate().peekable();
    while let Some((number, line)) = lines.next() {
        let line_number = number + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let value: Value = serde_json::from_slice(line)
            .map_err(|_| malformed(line_number, "expected START_OBJECT but found [VALUE_STRING]"))?;
        let Value::Object(map) = value else {
            return Err(malformed(line_number, "expected START_OBJECT but found [VALUE_STRING]"));
        };
        let mut entries = map.into_iter();
        let (name, meta) = match (entries.next(), entries.next()) {
            (Some(entry), None) => entry,
            _ => return Err(malformed(line_number, "expected a single action per line")),
        };
        let action = match name.as_str() {
            "index" => "index",
            "create" => "create",
            "update" => "update",
            "delete" => "delete",
            other => {
                return Err(malformed(
                    line_number,
                    &format!("expected field [create], [delete], [index] or [update] but found [{other}]"),
                ))
            }
        };
        let Value::Object(meta) = meta else {
            return Err(malformed(
                line_number,
                "expected START_OBJECT or END_OBJECT but found [VALUE_STRING]",
            ));
        };
        let index = match meta.get("_index").and_then(Value::as_str).or(path_index) {
            Some(index) => index.to_string(),
            None => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "action_request_validation_exception",
                    "Validation Failed: 1: index is missing;",
                ))
            }
        };
        let id = match meta.get("_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(id)) => Some(id.clone()),
            Some(other) => Some(other.to_string()),
        };
        if let Some(id) = &id {
            if id.len() > 512 {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "action_request_validation_exception",
                    &format!(
                        "Validation Failed: 1: id [{id}] is too long, must be no longer than 512 bytes but was: {};",
                        id.len()
                    ),
                ));
            }
        }
        let source = if action == "delete" {
            None
        } else {
            match lines.next() {
                Some((_, source)) if !source.is_empty() => Some(slice_of(source)),
                _ => {
                    return Err(error(
                        StatusCode::BAD_REQUEST,
                        "illegal_argument_exception",
                        &format!("The bulk request's action on line [{line_number}] has no source line"),
                    ))
                }
            }
        };
        operations.push(Operation {
            action,
            index,
            id,
            source,
            document: None,
        });
    }
    Ok(operations)
}

fn item_error(op: &Operation, id: &str, status: u16, kind: &str, reason: &str, cause: Option<Value>) -> String {
    let mut error = json!({"type": kind, "reason": reason, "index": op.index, "index_uuid": "sluice-testkit"});
    if let Some(cause) = cause {
        error["caused_by"] = cause;
    }
    json!({ op.action: {"_index": op.index, "_id": id, "status": status, "error": error} }).to_string()
}

/// A success item with the fields `filter` keeps, rendered directly (the hot path).
fn item_success(
    op: &Operation,
    filter: &BulkFilter,
    id: &str,
    version: u64,
    result: &str,
    seq_no: u64,
    status: u16,
) -> String {
    if filter.item_fields.is_none() {
        return format!(
            "{{\"{}\":{{\"_index\":{},\"_id\":{},\"_version\":{version},\"result\":\"{result}\",\"_shards\":{{\"total\":2,\"successful\":1,\"failed\":0}},\"_seq_no\":{seq_no},\"_primary_term\":1,\"status\":{status}}}}}",
            op.action,
            Value::from(op.index.as_str()),
            Value::from(id)
        );
    }
    // Each field is written only when kept: with Sluice's filter, the status alone (the sink's hot path).
    let mut item = format!("{{\"{}\":{{", op.action);
    let mut field = |name: &str, value: &dyn Fn() -> String| {
        if filter.keeps(name) {
            if !item.ends_with('{') {
                item.push(',');
            }
            item.push_str(&format!("\"{name}\":{}", value()));
        }
    };
    field("_index", &|| Value::from(op.index.as_str()).to_string());
    field("_id", &|| Value::from(id).to_string());
    field("_version", &|| version.to_string());
    field("result", &|| format!("\"{result}\""));
    field("_shards", &|| "{\"total\":2,\"successful\":1,\"failed\":0}".to_string());
    field("_seq_no", &|| seq_no.to_string());
    field("_primary_term", &|| "1".to_string());
    field("status", &|| status.to_string());
    item.push_str("}}");
    item
}

fn rejected_item(op: &Operation) -> String {
    item_error(
        op,
        op.id.as_deref().unwrap_or(""),
        429,
        "rejected_execution_exception",
        "rejected execution of primary operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, primary_operation_bytes=1, max_coordinating_and_primary_bytes=0]",
        None,
    )
}

/// Applies one operation. Returns the item and whether it succeeded.
fn apply(
    cluster: &mut Cluster,
    counters: &Counters,
    mut op: Operation,
    filter: &BulkFilter,
    discard_sources: bool,
    fast: bool,
) -> (String, bool) {
    let parsed = op.document.take();
    if let Err(reason) = valid_index_name(&op.index) {
        bump(&counters.failed, 1);
        let id = op.id.clone().unwrap_or_default();
        return (
            item_error(&op, &id, 400, "invalid_index_name_exception", &reason, None),
            false,
        );
    }
    let id = match &op.id {
        Some(id) => id.clone(),
        None => {
            cluster.auto_ids += 1;
            format!("auto{:016x}", cluster.auto_ids)
        }
    };
    let index = cluster.indices.entry(op.index.clone()).or_default();
    let success = |index: &mut Index, result: &str, status: u16, version: u64| -> String {
        let seq_no = index.next_seq_no;
        index.next_seq_no += 1;
        if let Some(doc) = index.docs.get_mut(&id) {
            doc.seq_no = seq_no;
        }
        item_success(&op, filter, &id, version, result, seq_no, status)
    };
    match op.action {
        "delete" => match index.docs.remove(&id) {
            Some(doc) => (success(index, "deleted", 200, doc.version + 1), true),
            None => {
                let seq_no = index.next_seq_no;
                index.next_seq_no += 1;
                (item_success(&op, filter, &id, 1, "not_found", seq_no, 404), false)
            }
        },
        "index" | "create" if fast => {
            let source = op.source.as_deref().unwrap_or_default().trim_ascii();
            if !(source.starts_with(b"{") && source.ends_with(b"}")) {
                bump(&counters.failed, 1);
                let cause = json!({"type": "json_parse_exception", "reason": "the source is not a JSON object"});
                return (
                    item_error(
                        &op,
                        &id,
                        400,
                        "mapper_parsing_exception",
                        "failed to parse",
                        Some(cause),
                    ),
                    false,
                );
            }
            let existing = index.docs.get(&id).map(|doc| doc.version);
            if let (Some(version), "create") = (existing, op.action) {
                bump(&counters.failed, 1);
                let reason = format!("[{id}]: version conflict, document already exists (current version [{version}])");
                return (
                    item_error(&op, &id, 409, "version_conflict_engine_exception", &reason, None),
                    false,
                );
            }
            let version = existing.map_or(1, |v| v + 1);
            index.docs.insert(
                id.clone(),
                Doc {
                    source: Value::Null,
                    version,
                    seq_no: 0,
                },
            );
            bump(&counters.indexed, 1);
            if existing.is_some() {
                bump(&counters.overwrites, 1);
            }
            let (result, status) = if existing.is_some() {
                ("updated", 200)
            } else {
                ("created", 201)
            };
            (success(index, result, status, version), true)
        }
        action => {
            let document = match parsed {
                Some(map) => map,
                None => {
                    bump(&counters.failed, 1);
                    let reason = "failed to parse";
                    let cause = json!({"type": "json_parse_exception", "reason": "Unexpected character: the source is not a JSON object"});
                    return (
                        item_error(&op, &id, 400, "mapper_parsing_exception", reason, Some(cause)),
                        false,
                    );
                }
            };
            let document = if action == "update" {
                let Some(existing) = index.docs.get(&id) else {
                    bump(&counters.failed, 1);
                    let reason = format!("[{id}]: document missing");
                    return (
                        item_error(&op, &id, 404, "document_missing_exception", &reason, None),
                        false,
                    );
                };
                let mut merged = existing.source.clone();
                if let (Some(Value::Object(patch)), Value::Object(target)) = (document.get("doc"), &mut merged) {
                    for (key, value) in patch {
                        target.insert(key.clone(), value.clone());
                    }
                }
                merged
            } else {
                Value::Object(document)
            };
            if action == "create" {
                if let Some(existing) = index.docs.get(&id) {
                    bump(&counters.failed, 1);
                    let reason = format!(
                        "[{id}]: version conflict, document already exists (current version [{}])",
                        existing.version
                    );
                    return (
                        item_error(&op, &id, 409, "version_conflict_engine_exception", &reason, None),
                        false,
                    );
                }
            }
            if let Err(conflict) = check_mapping(index, &document, &id) {
                bump(&counters.failed, 1);
                let cause = (conflict.kind == "mapper_parsing_exception")
                    .then(|| json!({"type": "illegal_argument_exception", "reason": conflict.cause}));
                return (item_error(&op, &id, 400, conflict.kind, &conflict.reason, cause), false);
            }
            if index.dynamic == Dynamic::True {
                extend_mapping(&mut index.mapping, &mut String::new(), &document);
            }
            let version = index.docs.get(&id).map_or(1, |d| d.version + 1);
            let existed = index.docs.contains_key(&id);
            index.docs.insert(
                id.clone(),
                Doc {
                    source: if discard_sources { Value::Null } else { document },
                    version,
                    seq_no: 0,
                },
            );
            bump(&counters.indexed, 1);
            if existed {
                bump(&counters.overwrites, 1);
            }
            let (result, status) = if existed { ("updated", 200) } else { ("created", 201) };
            (success(index, result, status, version), true)
        }
    }
}

struct Conflict {
    kind: &'static str,
    reason: String,
    cause: String,
}

/// `YYYY-MM-DD` with an optional time: OpenSearch's default `strict_date_optional_time`, loosely.
fn looks_like_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit)
        && (b.len() == 10 || b[10] == b'T')
}

fn scalar_type(value: &Value) -> Option<FieldType> {
    match value {
        Value::Bool(_) => Some(FieldType::Boolean),
        Value::Number(n) if n.is_f64() => Some(FieldType::Float),
        Value::Number(_) => Some(FieldType::Long),
        Value::String(_) => Some(FieldType::Text),
        Value::Object(_) => Some(FieldType::Object),
        Value::Null | Value::Array(_) => None,
    }
}

/// Checks a document against the mapping the way OpenSearch's dynamic mapping does (with its default coercion:
/// numeric strings into numbers, "true"/"false" into booleans, scalars into text).
fn check_mapping(index: &Index, document: &Value, id: &str) -> Result<(), Conflict> {
    fn walk(index: &Index, path: &mut String, value: &Value, id: &str) -> Result<(), Conflict> {
        let mapping = &index.mapping;
        let Value::Object(map) = value else { return Ok(()) };
        for (key, value) in map {
            if index.dynamic == Dynamic::Strict && !mapping.contains_key(&join(path, key)) {
                let within = if path.is_empty() { "_doc" } else { path.as_str() };
                let reason =
                    format!("mapping set to strict, dynamic introduction of [{key}] within [{within}] is not allowed");
                return Err(Conflict {
                    kind: "strict_dynamic_mapping_exception",
                    cause: reason.clone(),
                    reason,
                });
            }
            let parent_len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(key);
            let values: &[Value] = match value {
                Value::Array(items) => items,
                other => std::slice::from_ref(other),
            };
            for value in values {
                let Some(mapped) = mapping.get(path.as_str()) else {
                    walk(index, path, value, id)?;
                    continue;
                };
                let fits = match (mapped, value) {
                    (_, Value::Null) => true,
                    (FieldType::Object, Value::Object(_)) => true,
                    (FieldType::Object, _) => {
                        return Err(Conflict {
                            kind: "mapper_parsing_exception",
                            reason: format!(
                                "object mapping for [{path}] tried to parse field [{path}] as object, but found a concrete value"
                            ),
                            cause: format!("found a concrete value {value}"),
                        })
                    }
                    (_, Value::Object(_)) => false,
                    (FieldType::Text | FieldType::Keyword, _) => true,
                    (FieldType::Date, Value::String(s)) => looks_like_date(s) || s.parse::<i64>().is_ok(),
                    (FieldType::Date, Value::Number(n)) => n.is_i64() || n.is_u64(),
                    (kind, Value::Number(_)) if kind.is_numeric() => true,
                    (kind, Value::String(s)) if kind.is_numeric() => s.trim().parse::<f64>().is_ok(),
                    (FieldType::Boolean, Value::Bool(_)) => true,
                    (FieldType::Boolean, Value::String(s)) => s == "true" || s == "false",
                    _ => false,
                };
                if !fits {
                    let preview = match value {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    return Err(Conflict {
                        kind: "mapper_parsing_exception",
                        reason: format!(
                            "failed to parse field [{path}] of type [{}] in document with id '{id}'. Preview of field's value: '{preview}'",
                            mapped.name()
                        ),
                        cause: format!("For input string: \"{preview}\""),
                    });
                }
                if *mapped == FieldType::Object {
                    walk(index, path, value, id)?;
                }
            }
            path.truncate(parent_len);
        }
        Ok(())
    }
    walk(index, &mut String::new(), document, id)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Adds the fields a document introduces (the first value of a field decides its type).
fn extend_mapping(mapping: &mut BTreeMap<String, FieldType>, path: &mut String, value: &Value) {
    let Value::Object(map) = value else { return };
    for (key, value) in map {
        let parent_len = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
        let values: &[Value] = match value {
            Value::Array(items) => items,
            other => std::slice::from_ref(other),
        };
        for value in values {
            if let Some(kind) = scalar_type(value) {
                if !mapping.contains_key(path.as_str()) {
                    mapping.insert(path.clone(), kind);
                }
            }
            if value.is_object() {
                extend_mapping(mapping, path, value);
            }
        }
        path.truncate(parent_len);
    }
}

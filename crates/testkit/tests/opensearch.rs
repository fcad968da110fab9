//! The test server answers like OpenSearch (shapes from OpenSearch's REST API documentation).

use std::time::Duration;

use serde_json::{json, Value};
use sluice_testkit::fault_proxy::{FaultProxy, ProxyFaults};
use sluice_testkit::opensearch::{Faults, OpenSearchServer, Options};

async fn server() -> OpenSearchServer {
    OpenSearchServer::start(Options::default()).await.unwrap()
}

async fn bulk(server: &OpenSearchServer, body: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/_bulk", server.url()))
        .header("content-type", "application/x-ndjson")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn bulk_items_follow_opensearch_shapes() {
    let server = server().await;
    let (status, body) = bulk(
        &server,
        concat!(
            "{\"index\":{\"_index\":\"movies\",\"_id\":\"1\"}}\n{\"title\":\"Interstellar\",\"year\":2014}\n",
            "{\"index\":{\"_index\":\"movies\",\"_id\":\"1\"}}\n{\"title\":\"Interstellar\",\"year\":2014}\n",
            "{\"create\":{\"_index\":\"movies\",\"_id\":\"1\"}}\n{\"title\":\"again\"}\n",
            "{\"create\":{\"_index\":\"movies\",\"_id\":\"2\"}}\n{\"title\":\"Tenet\",\"year\":2020}\n",
            "{\"update\":{\"_index\":\"movies\",\"_id\":\"2\"}}\n{\"doc\":{\"year\":2021}}\n",
            "{\"delete\":{\"_index\":\"movies\",\"_id\":\"1\"}}\n",
            "{\"update\":{\"_index\":\"movies\",\"_id\":\"9\"}}\n{\"doc\":{\"year\":1}}\n",
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["errors"], true);
    let items = body["items"].as_array().unwrap();
    assert_eq!(items[0]["index"]["result"], "created");
    assert_eq!(items[0]["index"]["status"], 201);
    assert_eq!(items[0]["index"]["_version"], 1);
    assert!(items[0]["index"]["_seq_no"].is_u64());
    assert_eq!(items[1]["index"]["result"], "updated");
    assert_eq!(items[1]["index"]["status"], 200);
    assert_eq!(items[1]["index"]["_version"], 2);
    assert_eq!(items[2]["create"]["status"], 409);
    assert_eq!(items[2]["create"]["error"]["type"], "version_conflict_engine_exception");
    assert_eq!(items[3]["create"]["status"], 201);
    assert_eq!(items[4]["update"]["status"], 200);
    assert_eq!(items[5]["delete"]["result"], "deleted");
    assert_eq!(items[6]["update"]["status"], 404);
    assert_eq!(items[6]["update"]["error"]["type"], "document_missing_exception");
    assert_eq!(server.get("movies", "2").unwrap()["year"], 2021);
    assert_eq!(server.doc_count("movies"), 1);
    let counts = server.counts();
    assert_eq!(
        (counts.items, counts.overwrites),
        (7, 2),
        "the second index and the update rewrote documents"
    );
}

#[tokio::test]
async fn filter_path_cuts_bulk_answers_to_the_fields_asked_for() {
    let server = server().await;
    let post = |query: &'static str| {
        let url = format!("{}/_bulk?{query}", server.url());
        async move {
            let response = reqwest::Client::new()
                .post(url)
                .header("content-type", "application/x-ndjson")
                .body(concat!(
                    "{\"index\":{\"_index\":\"movies\",\"_id\":\"1\"}}\n{\"year\":2014}\n",
                    "{\"index\":{\"_index\":\"movies\",\"_id\":\"2\"}}\n{\"year\":\"soon\"}\n",
                ))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (
                status,
                serde_json::from_str::<Value>(&response.text().await.unwrap()).unwrap(),
            )
        }
    };
    // What Sluice asks for, percent-encoded as it is sent.
    let (status, body) = post("filter_path=took%2Cerrors%2Citems.%2A.status%2Citems.%2A.error").await;
    assert_eq!(status, 200);
    assert!(body["took"].is_u64());
    assert_eq!(body["errors"], true);
    assert_eq!(body["items"][0], json!({"index": {"status": 201}}));
    let refused = body["items"][1]["index"].as_object().unwrap();
    let mut fields: Vec<&String> = refused.keys().collect();
    fields.sort();
    assert_eq!(fields, ["error", "status"]);
    assert_eq!(refused["error"]["type"], "mapper_parsing_exception");
    // Top-level fields only: no items at all.
    let (_, body) = post("filter_path=errors").await;
    assert_eq!(body, json!({"errors": true}));
    // A form this server does not implement is refused, not answered in a shape OpenSearch would not send.
    let (status, body) = post("filter_path=items.*.error.type").await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["reason"].as_str().unwrap().contains("items.*.error.type"),
        "{body}"
    );
    // No filter: the whole answer (the third write of id 1; the refused filter wrote nothing).
    let (_, body) = post("").await;
    assert_eq!(body["items"][0]["index"]["_version"], 3);
}

#[tokio::test]
async fn dynamic_mapping_rejects_incompatible_types_per_item() {
    let server = server().await;
    let (_, body) = bulk(
        &server,
        concat!(
            "{\"index\":{\"_index\":\"logs\",\"_id\":\"a\"}}\n{\"year\":2020,\"user\":{\"name\":\"x\"}}\n",
            "{\"index\":{\"_index\":\"logs\",\"_id\":\"b\"}}\n{\"year\":\"2021\"}\n",
            "{\"index\":{\"_index\":\"logs\",\"_id\":\"c\"}}\n{\"year\":\"abc\"}\n",
            "{\"index\":{\"_index\":\"logs\",\"_id\":\"d\"}}\n{\"user\":\"flat\"}\n",
            "{\"index\":{\"_index\":\"logs\",\"_id\":\"e\"}}\nnot json\n",
        ),
    )
    .await;
    let items = body["items"].as_array().unwrap();
    assert_eq!(items[0]["index"]["status"], 201);
    assert_eq!(items[1]["index"]["status"], 201, "numeric strings are coerced");
    assert_eq!(items[2]["index"]["status"], 400);
    assert_eq!(items[2]["index"]["error"]["type"], "mapper_parsing_exception");
    assert_eq!(
        items[2]["index"]["error"]["reason"],
        "failed to parse field [year] of type [long] in document with id 'c'. Preview of field's value: 'abc'"
    );
    assert_eq!(items[3]["index"]["error"]["type"], "mapper_parsing_exception");
    assert_eq!(items[4]["index"]["error"]["type"], "mapper_parsing_exception");
    assert_eq!(server.doc_count("logs"), 2);
}

#[tokio::test]
async fn whole_request_errors() {
    let server = server().await;
    let (status, body) = bulk(&server, "{\"index\":{\"_index\":\"x\"}}\n{\"a\":1}\n\"oops\"\n{}\n").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["type"], "illegal_argument_exception");
    assert!(body["error"]["reason"]
        .as_str()
        .unwrap()
        .starts_with("Malformed action/metadata line [3]"));
    assert_eq!(server.doc_count("x"), 0, "nothing is applied from a malformed request");

    let (status, body) = bulk(&server, "{\"index\":{\"_index\":\"x\"}}\n{\"a\":1}").await;
    assert_eq!(status, 400);
    assert!(body["error"]["reason"]
        .as_str()
        .unwrap()
        .contains("terminated by a newline"));

    let (status, _) = bulk(&server, "{\"index\":{}}\n{\"a\":1}\n").await;
    assert_eq!(status, 400, "an action without an index");

    let response = reqwest::Client::new()
        .post(format!("{}/_bulk", server.url()))
        .header("content-type", "text/plain")
        .body("{\"index\":{\"_index\":\"x\"}}\n{}\n")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 406);
}

#[tokio::test]
async fn faults_are_injected_as_configured() {
    let server = server().await;
    let doc = "{\"index\":{\"_index\":\"f\",\"_id\":\"1\"}}\n{\"a\":1}\n";

    server.set_faults(Faults {
        max_body: Some(10),
        ..Faults::default()
    });
    let response = reqwest::Client::new()
        .post(format!("{}/_bulk", server.url()))
        .header("content-type", "application/x-ndjson")
        .body(doc)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);
    assert!(
        response.bytes().await.unwrap().is_empty(),
        "413 comes with an empty body"
    );

    server.set_faults(Faults {
        request_429_rate: 1.0,
        ..Faults::default()
    });
    let (status, body) = bulk(&server, doc).await;
    assert_eq!(
        (status, body["error"]["type"].as_str()),
        (429, Some("rejected_execution_exception"))
    );

    server.set_faults(Faults {
        item_429_rate: 1.0,
        ..Faults::default()
    });
    let (status, body) = bulk(&server, doc).await;
    assert_eq!(status, 200);
    assert_eq!(body["items"][0]["index"]["status"], 429);
    assert_eq!(
        body["items"][0]["index"]["error"]["type"],
        "rejected_execution_exception"
    );

    server.set_faults(Faults {
        drop_after_apply_rate: 1.0,
        ..Faults::default()
    });
    let dropped = reqwest::Client::new()
        .post(format!("{}/_bulk", server.url()))
        .header("content-type", "application/x-ndjson")
        .body(doc)
        .send()
        .await;
    assert!(dropped.is_err(), "the connection closes without an answer");
    assert_eq!(server.doc_count("f"), 1, "but the write was applied");

    server.set_faults(Faults {
        fail_after_requests: Some(0),
        latency: Duration::from_millis(20),
        ..Faults::default()
    });
    let started = std::time::Instant::now();
    let (status, _) = bulk(&server, doc).await;
    assert_eq!(status, 503);
    assert!(started.elapsed() >= Duration::from_millis(20));
    let counts = server.counts();
    assert_eq!((counts.rejected, counts.dropped), (2, 1));
}

#[tokio::test]
async fn index_apis_and_basic_auth() {
    let server = OpenSearchServer::start(Options {
        basic_auth: Some(("admin".into(), "secret".into())),
        ..Options::default()
    })
    .await
    .unwrap();
    let client = reqwest::Client::new();
    let unauthenticated = client.get(server.url()).send().await.unwrap();
    assert_eq!(unauthenticated.status().as_u16(), 401);
    assert!(unauthenticated.headers().contains_key("www-authenticate"));
    let call = |method: reqwest::Method, path: &str| {
        client
            .request(method, format!("{}{path}", server.url()))
            .basic_auth("admin", Some("secret"))
    };
    let root: Value = call(reqwest::Method::GET, "/")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(root["version"]["distribution"], "opensearch");
    assert_eq!(
        call(reqwest::Method::HEAD, "/books")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    assert_eq!(
        call(reqwest::Method::PUT, "/books")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        call(reqwest::Method::PUT, "/books")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        400
    );
    assert_eq!(
        call(reqwest::Method::HEAD, "/books")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    let indexed = call(reqwest::Method::POST, "/books/_bulk")
        .header("content-type", "application/x-ndjson")
        .body("{\"index\":{\"_id\":\"b1\"}}\n{\"t\":\"Dune\"}\n")
        .send()
        .await
        .unwrap();
    assert_eq!(indexed.status().as_u16(), 200);
    let refreshed = call(reqwest::Method::POST, "/books/_refresh").send().await.unwrap();
    assert_eq!(refreshed.status().as_u16(), 200);
    let count: Value = call(reqwest::Method::GET, "/books/_count")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(count["count"], 1);
    let doc: Value = call(reqwest::Method::GET, "/books/_doc/b1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (doc["found"].clone(), doc["_source"].clone()),
        (json!(true), json!({"t": "Dune"}))
    );
    let missing = call(reqwest::Method::GET, "/books/_doc/nope").send().await.unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    assert_eq!(
        call(reqwest::Method::DELETE, "/books")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    let gone = call(reqwest::Method::GET, "/books/_count").send().await.unwrap();
    assert_eq!(gone.status().as_u16(), 404);
    let other = call(reqwest::Method::GET, "/_cat/indices").send().await.unwrap();
    assert_eq!(other.status().as_u16(), 400);
}

#[tokio::test]
async fn the_fault_proxy_cuts_and_logs_requests() {
    let server = server().await;
    let proxy = FaultProxy::start("127.0.0.1:0".parse().unwrap(), server.address())
        .await
        .unwrap();
    proxy.set_faults(ProxyFaults {
        cut_after_bytes: Some(40),
        cuts_remaining: 1,
        bytes_per_second: None,
    });
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let url = format!("http://{}/", proxy.address());
    let first = client.get(&url).header("range", "bytes=5-").send().await;
    let cut = match first {
        Err(_) => true,
        Ok(response) => response.bytes().await.is_err(),
    };
    assert!(cut, "the first response is cut");
    let second: Value = client.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(second["version"]["distribution"], "opensearch");
    let heads = proxy.request_heads();
    assert!(heads[0].starts_with("GET / HTTP/1.1"), "{heads:?}");
    assert!(heads[0].to_ascii_lowercase().contains("range: bytes=5-"), "{heads:?}");
    assert_eq!(proxy.connections_and_cuts(), (2, 1));
}

#[tokio::test]
async fn mappings_are_created_read_and_enforced_like_opensearch() {
    let server = server().await;
    let client = reqwest::Client::new();
    let create = client
        .put(format!("{}/sales", server.url()))
        .json(&json!({
            "settings": {"number_of_shards": 1},
            "mappings": {"dynamic": "strict", "properties": {
                "status": {"type": "long"},
                "at": {"type": "date"},
                "user": {"properties": {"name": {"type": "keyword"}}}
            }}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(create.status(), 200);
    let mapping: Value = client
        .get(format!("{}/sales/_mapping", server.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        mapping,
        json!({"sales": {"mappings": {"dynamic": "strict", "properties": {
            "at": {"type": "date"},
            "status": {"type": "long"},
            "user": {"properties": {"name": {"type": "keyword"}}}
        }}}})
    );
    let (_, body) = bulk(
        &server,
        concat!(
            "{\"index\":{\"_index\":\"sales\",\"_id\":\"1\"}}\n{\"status\":\"7\",\"at\":\"2026-03-04\",\"user\":{\"name\":\"a\"}}\n",
            "{\"index\":{\"_index\":\"sales\",\"_id\":\"2\"}}\n{\"status\":\"n/a\"}\n",
            "{\"index\":{\"_index\":\"sales\",\"_id\":\"3\"}}\n{\"status\":1,\"extra\":true}\n",
            "{\"index\":{\"_index\":\"sales\",\"_id\":\"4\"}}\n{\"at\":\"tomorrow\"}\n",
        ),
    )
    .await;
    let items = body["items"].as_array().unwrap();
    assert_eq!(items[0]["index"]["status"], 201);
    assert_eq!(items[1]["index"]["error"]["type"], "mapper_parsing_exception");
    assert_eq!(items[2]["index"]["error"]["type"], "strict_dynamic_mapping_exception");
    assert_eq!(
        items[2]["index"]["error"]["reason"],
        "mapping set to strict, dynamic introduction of [extra] within [_doc] is not allowed"
    );
    assert_eq!(items[3]["index"]["status"], 400);

    // Adding a field through PUT _mapping lets it in; changing a type is refused.
    let put = |body: Value| {
        client
            .put(format!("{}/sales/_mapping", server.url()))
            .json(&body)
            .send()
    };
    assert_eq!(
        put(json!({"properties": {"extra": {"type": "boolean"}}}))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        put(json!({"properties": {"status": {"type": "keyword"}}}))
            .await
            .unwrap()
            .status(),
        400
    );
    let (_, body) = bulk(
        &server,
        "{\"index\":{\"_index\":\"sales\",\"_id\":\"3\"}}\n{\"status\":1,\"extra\":true}\n",
    )
    .await;
    assert_eq!(body["items"][0]["index"]["status"], 201);
}

#[tokio::test]
async fn ingest_pipelines_are_stored_and_listed() {
    let server = server().await;
    let client = reqwest::Client::new();
    let put = client
        .put(format!("{}/_ingest/pipeline/geo", server.url()))
        .json(&json!({"description": "adds geo", "processors": [{"set": {"field": "a", "value": 1}}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let listed: Value = client
        .get(format!("{}/_ingest/pipeline", server.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["geo"]["description"], "adds geo");
    assert!(listed["geo"]["processors"].is_array());
}

#[tokio::test]
async fn a_capacity_limited_cluster_queues_then_rejects_whole_requests_or_items() {
    use sluice_testkit::opensearch::Capacity;
    for item_level in [false, true] {
        let capacity = Capacity {
            docs_per_sec: 2000.0,
            threads: 2,
            queue: 1,
            item_level,
        };
        let server = OpenSearchServer::start(Options {
            capacity: Some(capacity),
            ..Options::default()
        })
        .await
        .map(std::sync::Arc::new)
        .unwrap();
        // 100 documents take a thread 100 ms: five at once fill both threads and the queue, and two are rejected.
        let body: String = (0..100)
            .map(|i| format!("{{\"index\":{{\"_index\":\"cap\",\"_id\":\"{i}\"}}}}\n{{\"n\":{i}}}\n"))
            .collect();
        let started = std::time::Instant::now();
        let answers = futures_join(&server, &body, 5).await;
        let elapsed = started.elapsed();
        let rejected: Vec<&(u16, Value)> = answers
            .iter()
            .filter(|(status, answer)| {
                *status == 429 || answer["items"][0]["index"]["error"]["type"] == "rejected_execution_exception"
            })
            .collect();
        assert_eq!(rejected.len(), 2, "item level {item_level}: {answers:?}");
        assert!(rejected
            .iter()
            .all(|(status, _)| *status == if item_level { 200 } else { 429 }));
        assert!(
            elapsed >= Duration::from_millis(190),
            "the queued one waited for a thread: {elapsed:?}"
        );
        let counts = server.counts();
        assert_eq!(counts.rejected_requests, 2);
        assert_eq!(counts.bulk_bytes, 5 * body.len() as u64);
        assert_eq!(server.doc_count("cap"), 100);
    }
}

/// Sends `body` to `_bulk` `n` times at once.
async fn futures_join(server: &std::sync::Arc<OpenSearchServer>, body: &str, n: usize) -> Vec<(u16, Value)> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (server, body) = (server.clone(), body.to_string());
            tokio::spawn(async move { bulk(&server, &body).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

#[tokio::test]
async fn the_fast_mode_counts_ids_checks_actions_and_skips_mappings() {
    let server = OpenSearchServer::start(Options {
        fast: true,
        ..Options::default()
    })
    .await
    .unwrap();
    let (status, body) = bulk(
        &server,
        concat!(
            "{\"index\":{\"_index\":\"logs\",\"_id\":\"1\"}}\n{\"n\":1}\n",
            // A type change that a real mapping would refuse: the fast sink does not look.
            "{\"index\":{\"_index\":\"logs\",\"_id\":\"2\"}}\n{\"n\":\"text\"}\n",
            "{\"index\":{\"_index\":\"logs\",\"_id\":\"1\"}}\n{\"n\":1}\n",
            "{\"create\":{\"_index\":\"logs\",\"_id\":\"2\"}}\n{\"n\":2}\n",
            "{\"index\":{\"_index\":\"logs\",\"_id\":\"3\"}}\n[1,2]\n",
        ),
    )
    .await;
    assert_eq!(status, 200);
    let statuses: Vec<u64> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            item.as_object().unwrap().values().next().unwrap()["status"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(statuses, [201, 201, 200, 409, 400]);
    let count: Value = reqwest::get(format!("{}/logs/_count", server.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(count["count"], 2);
    // Action lines are still checked.
    let (status, body) = bulk(&server, "{\"index\":{\"_index\":\"logs\"},\"x\":1}\n{}\n").await;
    assert_eq!(status, 400, "{body}");
}

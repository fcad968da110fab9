//! `sluice serve` against the OpenSearch test server: hostile requests are refused before reaching the cluster,
//! allowed ones pass with the cluster's answers unchanged.

use std::time::Duration;

mod common;

use common::security::{action, bulk, hostile_calls, send, Call, TOKEN};
use sluice_server::policy::IndexPatterns;
use sluice_server::serve::{router, ProxyConfig, UpstreamAuth};
use sluice_testkit::objects::ObjectServer;
use sluice_testkit::opensearch::{OpenSearchServer, Options};

const ORIGIN: &str = "https://tools.example.com";

fn config(upstream: &str) -> ProxyConfig {
    ProxyConfig {
        upstream: upstream.to_string(),
        auth: UpstreamAuth::None,
        indices: IndexPatterns::new(["logs-*", "products"]).unwrap(),
        allowed_origins: vec![ORIGIN.to_string()],
        max_body: 64 * 1024,
        tokens: vec![TOKEN.to_string()],
        timeout: Duration::from_secs(10),
        site: None,
        ca_certificate: None,
        allow_create_index: false,
    }
}

async fn start_proxy(config: ProxyConfig) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = router(config).unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{address}")
}

#[tokio::test]
async fn hostile_requests_never_reach_the_cluster() {
    let cluster = OpenSearchServer::start(Options::default()).await.unwrap();
    let proxy = start_proxy(ProxyConfig {
        max_body: 1024 * 1024,
        ..config(&cluster.url())
    })
    .await;
    let cases = hostile_calls();
    for (name, call, status, code) in &cases {
        let (got, body, _) = send(&proxy, call).await;
        let shown: String = body.to_string().chars().take(300).collect();
        assert_eq!(got, *status, "{name}: {shown}");
        assert_eq!(body["sluice_error"]["code"], *code, "{name}: {body}");
        assert!(
            body["sluice_error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{name}"
        );
    }
    let (_, body, _) = send(&proxy, &cases[7].1).await;
    assert!(
        body["sluice_error"]["message"].as_str().unwrap().contains("line 10001"),
        "{body}"
    );
    assert_eq!(cluster.counts().requests, 0, "no hostile request reached the cluster");
}

#[tokio::test]
async fn allowed_requests_pass_with_the_clusters_answers_cut_to_what_the_engine_reads() {
    let cluster = OpenSearchServer::start(Options::default()).await.unwrap();
    let proxy = start_proxy(config(&cluster.url())).await;
    let (status, body, headers) = send(&proxy, &bulk(
        "{\"index\":{\"_index\":\"logs-a\",\"_id\":\"1\"}}\n{\"n\":1}\n{\"create\":{\"_index\":\"logs-a\",\"_id\":\"2\"}}\n{\"n\":\"x\"}\n",
    ))
    .await;
    assert_eq!(status, 200);
    assert!(headers.contains_key("x-request-id"));
    assert_eq!(body["items"][0]["index"]["status"], 201);
    assert_eq!(body["items"][1]["create"]["error"]["type"], "mapper_parsing_exception");
    // The proxy asks the cluster for the short answer the engine reads: statuses and errors, no _id, _version...
    assert_eq!(body["items"][0], serde_json::json!({"index": {"status": 201}}));
    assert_eq!(cluster.doc_count("logs-a"), 1);
    // The cluster's own whole-request errors come back as they are (no sluice_error).
    let (status, body, _) = send(
        &proxy,
        &Call {
            path: "/products/_bulk".into(),
            ..bulk("{\"index\":{}}\n{\"a\":1}")
        },
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["type"], "illegal_argument_exception");
    let get = |path: &str| Call {
        method: "GET",
        path: path.into(),
        content_type: None,
        token: Some(TOKEN),
        body: String::new(),
    };
    let (status, body, _) = send(&proxy, &get("/logs-a/_count")).await;
    assert_eq!((status, body["count"].as_u64()), (200, Some(1)));
    let head = |path: &str| Call {
        method: "HEAD",
        ..get(path)
    };
    assert_eq!(send(&proxy, &head("/logs-a")).await.0, 200);
    assert_eq!(send(&proxy, &head("/logs-b")).await.0, 404);
    // Config for the web app needs no token; health reports the upstream.
    let (status, body, _) = send(
        &proxy,
        &Call {
            token: None,
            ..get("/_sluice/config")
        },
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["allowed_indices"], serde_json::json!(["logs-*", "products"]));
    assert_eq!(
        (body["max_body_bytes"].as_u64(), body["token_required"].as_bool()),
        (Some(65536), Some(true))
    );
    let (status, body, _) = send(&proxy, &get("/")).await;
    assert_eq!(status, 200);
    assert_eq!(body["upstream"]["reachable"], true);
    assert_eq!(body["upstream"]["distribution"], "opensearch");
}

#[tokio::test]
async fn cors_answers_listed_origins_only() {
    let cluster = OpenSearchServer::start(Options::default()).await.unwrap();
    let proxy = start_proxy(config(&cluster.url())).await;
    let client = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        client
            .request(reqwest::Method::OPTIONS, format!("{proxy}/_bulk"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type, authorization")
            .send()
    };
    let allowed = preflight(ORIGIN).await.unwrap();
    assert!(allowed.status().is_success());
    assert_eq!(allowed.headers()["access-control-allow-origin"], ORIGIN);
    let other = preflight("https://evil.example.net").await.unwrap();
    assert!(!other.headers().contains_key("access-control-allow-origin"));
    let post = client
        .post(format!("{proxy}/_bulk"))
        .header("origin", "https://evil.example.net")
        .header("content-type", "application/x-ndjson")
        .bearer_auth(TOKEN)
        .body(action("logs-a"))
        .send()
        .await
        .unwrap();
    assert!(
        !post.headers().contains_key("access-control-allow-origin"),
        "the browser would block the answer"
    );
}

#[tokio::test]
async fn upstream_credentials_and_failures() {
    let secured = OpenSearchServer::start(Options {
        basic_auth: Some(("sluice".into(), "s3cret".into())),
        ..Options::default()
    })
    .await
    .unwrap();
    let mut with_credentials = config(&secured.url());
    with_credentials.auth = UpstreamAuth::Basic {
        username: "sluice".into(),
        password: "s3cret".into(),
    };
    let proxy = start_proxy(with_credentials).await;
    assert_eq!(send(&proxy, &bulk(action("logs-a"))).await.0, 200);
    let proxy_without = start_proxy(config(&secured.url())).await;
    let (status, body, headers) = send(&proxy_without, &bulk(action("logs-a"))).await;
    assert_eq!(
        (status, body["error"]["type"].as_str()),
        (401, Some("security_exception"))
    );
    assert!(headers.contains_key("www-authenticate"));
    // Unreachable cluster: the proxy's own 502, which the engine retries.
    let down = start_proxy(config("http://127.0.0.1:9")).await;
    let (status, body, _) = send(&down, &bulk(action("logs-a"))).await;
    assert_eq!(
        (status, body["sluice_error"]["code"].as_str()),
        (502, Some("upstream_unreachable"))
    );
    let mut pass_through = config(&secured.url());
    pass_through.auth = UpstreamAuth::PassThrough;
    assert!(
        router(pass_through).is_err(),
        "tokens and pass-through cannot both use Authorization"
    );
}

#[tokio::test]
async fn serves_the_site_on_the_same_origin() {
    let cluster = OpenSearchServer::start(Options::default()).await.unwrap();
    let site = std::env::temp_dir().join(format!("sluice-site-{}", std::process::id()));
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("index.html"), "<!doctype html><title>Sluice</title>").unwrap();
    std::fs::write(site.join("app.js"), "console.log(1)").unwrap();
    let mut with_site = config(&cluster.url());
    with_site.site = Some(site.clone());
    let proxy = start_proxy(with_site).await;
    let client = reqwest::Client::new();
    let page = client
        .get(format!("{proxy}/"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap().contains("<title>Sluice</title>"));
    let script = client.get(format!("{proxy}/app.js")).send().await.unwrap();
    assert_eq!(script.text().await.unwrap(), "console.log(1)");
    let other = client
        .post(format!("{proxy}/_search"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status().as_u16(), 403);
    let _ = std::fs::remove_dir_all(site);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_imports_through_the_proxy_with_a_token() {
    let cluster = OpenSearchServer::start(Options::default()).await.unwrap();
    let objects = ObjectServer::start().await.unwrap();
    let proxy = start_proxy(config(&cluster.url())).await;
    let lines: String = (0..2000).map(|i| format!("{{\"id\":{i},\"v\":\"x\"}}\n")).collect();
    objects.put("b", "via-proxy.jsonl", lines);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let url = objects.presigned_url("127.0.0.1", "b", "via-proxy.jsonl", now, 600);
    let dir = std::env::temp_dir().join(format!("sluice-proxy-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "import",
            "--url",
            &url,
            "--index",
            "logs-cli",
            "--proxy",
            &proxy,
            "--id-field",
            "id",
        ])
        .args(["--batch-mib", "0.05"])
        .arg("--checkpoint")
        .arg(dir.join("cp.json"))
        .env("SLUICE_TOKEN", TOKEN)
        .env_remove("OPENSEARCH_URL")
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert_eq!(cluster.doc_count("logs-cli"), 2000);
    // The proxy's 64 KiB body limit made the engine split or send smaller batches; nothing was lost.
    assert!(cluster.counts().bulk_requests > 1);
    let refused = tokio::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "import",
            "--url",
            &url,
            "--index",
            "secret",
            "--proxy",
            &proxy,
            "--restart",
        ])
        .arg("--checkpoint")
        .arg(dir.join("cp2.json"))
        .env("SLUICE_TOKEN", TOKEN)
        .env_remove("OPENSEARCH_URL")
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1));
    assert!(text.contains("index 'secret' is not allowed"), "{text}");
    let _ = std::fs::remove_dir_all(dir);
}

fn put_index(path: &str, body: &str) -> Call {
    Call {
        method: "PUT",
        path: path.into(),
        content_type: Some("application/json"),
        token: Some(TOKEN),
        body: body.into(),
    }
}

#[tokio::test]
async fn index_creation_takes_only_mappings_and_shard_counts_for_allowed_indices() {
    let cluster = OpenSearchServer::start(Options::default()).await.unwrap();
    let proxy = start_proxy(ProxyConfig {
        allow_create_index: true,
        ..config(&cluster.url())
    })
    .await;
    let hostile: Vec<(&str, Call, u16, &str)> = vec![
        (
            "a forbidden index",
            put_index("/secret", "{}"),
            403,
            "index_not_allowed",
        ),
        ("a system index", put_index("/.kibana", "{}"), 403, "index_not_allowed"),
        (
            "aliases",
            put_index("/logs-a", r#"{"aliases":{"secret":{}}}"#),
            400,
            "create_index_body",
        ),
        (
            "a default pipeline",
            put_index("/logs-a", r#"{"settings":{"index.default_pipeline":"x"}}"#),
            400,
            "create_index_body",
        ),
        (
            "analysis settings",
            put_index("/logs-a", r#"{"settings":{"analysis":{"analyzer":{}}}}"#),
            400,
            "create_index_body",
        ),
        (
            "a script in a mapping",
            put_index(
                "/logs-a",
                r#"{"mappings":{"properties":{"a":{"type":"long","script":{"source":"1"}}}}}"#,
            ),
            400,
            "create_index_body",
        ),
        ("not JSON", put_index("/logs-a", "mappings"), 400, "create_index_body"),
    ];
    for (name, call, status, code) in &hostile {
        let (got, body, _) = send(&proxy, call).await;
        assert_eq!(
            (got, body["sluice_error"]["code"].as_str()),
            (*status, Some(*code)),
            "{name}: {body}"
        );
    }
    assert_eq!(cluster.counts().requests, 0, "no refused creation reached the cluster");

    let (status, body, _) = send(
        &proxy,
        &put_index(
            "/logs-a",
            r#"{"settings":{"number_of_shards":1,"number_of_replicas":0},"mappings":{"properties":{"status":{"type":"long"}}}}"#,
        ),
    )
    .await;
    assert_eq!((status, body["acknowledged"].as_bool()), (200, Some(true)), "{body}");
    let (status, body, _) = send(
        &proxy,
        &Call {
            method: "GET",
            content_type: None,
            body: String::new(),
            ..put_index("/logs-a/_mapping", "")
        },
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["logs-a"]["mappings"]["properties"]["status"]["type"], "long");
    // The page's question: does it exist, and with which mapping (a missing index is an answer, not an error).
    let get = |path: &str| Call {
        method: "GET",
        path: path.into(),
        content_type: None,
        token: Some(TOKEN),
        body: String::new(),
    };
    let (status, body, _) = send(&proxy, &get("/_sluice/index/logs-a")).await;
    assert_eq!((status, &body["exists"]), (200, &serde_json::json!(true)));
    assert_eq!(
        body["mapping"]["logs-a"]["mappings"]["properties"]["status"]["type"],
        "long"
    );
    let (status, body, _) = send(&proxy, &get("/_sluice/index/logs-missing")).await;
    assert_eq!((status, body), (200, serde_json::json!({"exists": false})));
    let (status, body, _) = send(&proxy, &get("/_sluice/index/secret")).await;
    assert_eq!(
        (status, body["sluice_error"]["code"].as_str()),
        (403, Some("index_not_allowed"))
    );
    let (status, _, _) = send(
        &proxy,
        &Call {
            token: None,
            ..get("/_sluice/index/logs-a")
        },
    )
    .await;
    assert_eq!(status, 401, "the index question needs the token");
    // Creating it again: OpenSearch's own answer passes through.
    let (status, body, _) = send(&proxy, &put_index("/logs-a", "{}")).await;
    assert_eq!(
        (status, body["error"]["type"].as_str()),
        (400, Some("resource_already_exists_exception"))
    );
}

#[tokio::test]
async fn pipelines_are_listed_by_name_and_description_only() {
    let cluster = OpenSearchServer::start(Options::default()).await.unwrap();
    let proxy = start_proxy(config(&cluster.url())).await;
    let get = Call {
        method: "GET",
        path: "/_ingest/pipeline".into(),
        content_type: None,
        token: Some(TOKEN),
        body: String::new(),
    };
    let (status, body, _) = send(&proxy, &get).await;
    assert_eq!((status, body), (200, serde_json::json!({})));
    reqwest::Client::new()
        .put(format!("{}/_ingest/pipeline/geo", cluster.url()))
        .body(r#"{"description": "adds geo", "processors": [{"script": {"source": "secret-key"}}]}"#)
        .send()
        .await
        .unwrap();
    let (status, body, _) = send(&proxy, &get).await;
    assert_eq!(
        (status, body),
        (200, serde_json::json!({"geo": {"description": "adds geo"}}))
    );
}

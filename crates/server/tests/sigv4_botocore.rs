//! Sluice's SigV4 signatures (the `aws-sigv4` crate, as `sluice serve --aws-sigv4` and the edge Worker sign) set
//! beside botocore's, the signer of the AWS CLI and the SDK for Python, on the requests Sluice sends to Amazon
//! OpenSearch Service and OpenSearch Serverless. No AWS endpoint is reachable from the test machines, so this is
//! the check that the signed bytes (canonical path, the pre-encoded `filter_path` query, signed headers, payload
//! hash, session token) are the ones AWS's own tooling produces. botocore comes with moto in `.tools/venv`
//! (scripts/setup.sh).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use sluice_proxy::route::upstream_bulk_path;
use sluice_proxy::sigv4::SigV4;

fn venv_python() -> PathBuf {
    if let Some(path) = std::env::var_os("SLUICE_VENV_PYTHON") {
        return PathBuf::from(path);
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.tools/venv/bin/python");
    assert!(
        path.exists(),
        "the test venv's python is not at {}: run ./scripts/setup.sh (or set SLUICE_VENV_PYTHON)",
        path.display()
    );
    path
}

struct Case {
    method: &'static str,
    url: String,
    content_type: Option<&'static str>,
    body: &'static str,
    service: &'static str,
    token: Option<&'static str>,
}

const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const REGION: &str = "eu-west-1";

fn cases() -> Vec<Case> {
    let domain = "https://search-logs-abc123.eu-west-1.es.amazonaws.com";
    let serverless = "https://abc123def.eu-west-1.aoss.amazonaws.com";
    let bulk_body = "{\"index\":{\"_index\":\"logs-2026.12\",\"_id\":\"a\"}}\n{\"msg\":\"héllo, wörld\"}\n";
    vec![
        Case {
            method: "POST",
            url: format!("{domain}{}", upstream_bulk_path(None)),
            content_type: Some("application/x-ndjson"),
            body: bulk_body,
            service: "es",
            token: None,
        },
        Case {
            method: "POST",
            url: format!("{serverless}{}", upstream_bulk_path(Some("logs-2026.12"))),
            content_type: Some("application/x-ndjson"),
            body: bulk_body,
            service: "aoss",
            token: Some("IQoJb3JpZ2luX2VjEXAMPLE//session+token="),
        },
        Case {
            method: "GET",
            url: format!("{domain}/logs-2026.12/_mapping"),
            content_type: None,
            body: "",
            service: "es",
            token: None,
        },
        Case {
            method: "GET",
            url: format!("{domain}/logs-2026.12/_count"),
            content_type: None,
            body: "",
            service: "es",
            token: Some("FwoGZXIvYXdzEXAMPLE"),
        },
        Case {
            method: "GET",
            url: format!("{domain}/_ingest/pipeline"),
            content_type: None,
            body: "",
            service: "es",
            token: None,
        },
        Case {
            method: "PUT",
            url: format!("{serverless}/logs-new"),
            content_type: Some("application/json"),
            body: "{\"mappings\":{\"properties\":{\"status\":{\"type\":\"long\"}}}}",
            service: "aoss",
            token: None,
        },
        Case {
            method: "GET",
            url: format!("{domain}/"),
            content_type: None,
            body: "",
            service: "es",
            token: None,
        },
    ]
}

#[test]
fn sluices_signatures_are_botocores_on_the_requests_it_sends() {
    // 2026-12-06T10:11:12Z.
    let seconds = 1_796_551_872u64;
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(seconds);
    let cases = cases();
    let input: Vec<Value> = cases
        .iter()
        .map(|case| {
            json!({
                "method": case.method,
                "url": case.url,
                "headers": case.content_type.map(|t| json!({"Content-Type": t})).unwrap_or(json!({})),
                "body": case.body,
                "access_key": ACCESS_KEY,
                "secret_key": SECRET_KEY,
                "token": case.token,
                "region": REGION,
                "service": case.service,
                "time": seconds,
            })
        })
        .collect();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/botocore_sign.py");
    let mut child = Command::new(venv_python())
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&serde_json::to_vec(&input).unwrap())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "botocore could not sign: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let botocore: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(botocore.len(), cases.len());

    for (case, theirs) in cases.iter().zip(&botocore) {
        let signer = SigV4::new(
            ACCESS_KEY,
            SECRET_KEY,
            case.token.map(String::from),
            REGION,
            case.service,
        )
        .unwrap();
        let headers: Vec<(&str, &str)> = case.content_type.map(|t| ("content-type", t)).into_iter().collect();
        let ours = signer
            .sign(case.method, &case.url, &headers, case.body.as_bytes(), time)
            .unwrap();
        let ours = |name: &str| {
            ours.iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let theirs = |name: &str| theirs[name].as_str().map(String::from);
        let what = format!("{} {} ({})", case.method, case.url, case.service);
        assert_eq!(ours("x-amz-date"), theirs("x-amz-date"), "{what}");
        assert_eq!(ours("x-amz-content-sha256"), theirs("x-amz-content-sha256"), "{what}");
        assert_eq!(ours("x-amz-security-token"), theirs("x-amz-security-token"), "{what}");
        let authorization = ours("authorization").expect("an authorization header");
        assert!(
            authorization.contains(&format!("/{REGION}/{}/aws4_request", case.service)),
            "{authorization}"
        );
        assert_eq!(Some(authorization), theirs("authorization"), "{what}");
    }
}

//! Against a real S3-compatible server (moto in server mode, installed by scripts/setup.sh into .tools/venv):
//! bucket, CORS configuration, upload, a SigV4-presigned GET URL, an import killed once and resumed, and S3's own
//! 412 when the object changes under a resumed download.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings};
use aws_sigv4::sign::v4;
use sluice_engine::job::SourceErrorKind;
use sluice_engine::ByteSource;
use sluice_server::import::source::UrlSource;
use sluice_testkit::opensearch::{Faults, OpenSearchServer, Options};

struct Moto {
    child: Child,
    base: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_server() -> PathBuf {
    if let Some(path) = std::env::var_os("SLUICE_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.tools/venv/bin/moto_server");
    assert!(
        path.exists(),
        "moto_server is not installed at {}: run ./scripts/setup.sh (or set SLUICE_MOTO_SERVER)",
        path.display()
    );
    path
}

fn start_moto() -> Moto {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(moto_server())
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server starts");
    let base = format!("http://127.0.0.1:{port}");
    let moto = Moto { child, base };
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return moto;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("moto_server did not start on port {port}");
}

/// Signs `method url` for S3 with test credentials, with the given settings.
fn sign_for_s3(method: &str, url: &str, settings: SigningSettings) -> aws_sigv4::http_request::SigningInstructions {
    let identity = Credentials::new("AKIDSLUICETEST", "sluice-test-secret", None, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let request = SignableRequest::new(method, url, std::iter::empty(), SignableBody::UnsignedPayload).unwrap();
    sign(request, &params).unwrap().into_parts().0
}

/// A SigV4 query-string presigned GET, as `aws s3 presign` makes. The host must be the one the client uses.
fn presign(url: &str, expires: Duration) -> String {
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(expires);
    let instructions = sign_for_s3("GET", url, settings);
    let mut signed = reqwest::Url::parse(url).unwrap();
    {
        let mut query = signed.query_pairs_mut();
        for (name, value) in instructions.params() {
            query.append_pair(name, value);
        }
    }
    signed.to_string()
}

/// Signs a request in headers (as the AWS CLI does for writes) and returns the headers to add.
fn signed_headers(method: &str, url: &str) -> Vec<(String, String)> {
    let identity = Credentials::new("AKIDSLUICETEST", "sluice-test-secret", None, None, "test").into();
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let request = SignableRequest::new(method, url, std::iter::empty(), SignableBody::UnsignedPayload).unwrap();
    let (instructions, _) = sign(request, &params).unwrap().into_parts();
    instructions
        .headers()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// A signed PUT (bucket creation, CORS configuration, upload).
fn put(client: &reqwest::blocking::Client, url: &str, body: impl Into<reqwest::blocking::Body>) -> String {
    let mut request = client.put(url).body(body);
    for (name, value) in signed_headers("PUT", url) {
        request = request.header(name, value);
    }
    let response = request.send().unwrap();
    let status = response.status();
    let text = response.text().unwrap_or_default();
    assert!(status.is_success(), "PUT {url}: {status} {text}");
    text
}

fn dataset(records: usize) -> (Vec<u8>, usize, usize) {
    let mut bytes = Vec::new();
    let (mut good, mut bad) = (0, 0);
    for i in 0..records {
        if i % 997 == 500 {
            bytes.extend_from_slice(b"{\"id\": broken\n");
            bad += 1;
        } else {
            bytes.extend_from_slice(format!("{{\"id\":\"m{i}\",\"n\":{i},\"s\":\"é \\\"{i}\\\"\"}}\n").as_bytes());
            good += 1;
        }
    }
    (bytes, good, bad)
}

#[test]
fn imports_from_moto_with_presigned_urls_and_resumes_after_a_kill() {
    let moto = start_moto();
    let client = reqwest::blocking::Client::new();
    assert!(client
        .put(format!("{}/data", moto.base))
        .send()
        .unwrap()
        .status()
        .is_success());
    let cors = "<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>\
                <AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><ExposeHeader>Content-Range</ExposeHeader>\
                <ExposeHeader>Content-Length</ExposeHeader></CORSRule></CORSConfiguration>";
    let put_cors = client
        .put(format!("{}/data?cors", moto.base))
        .body(cors)
        .send()
        .unwrap();
    assert!(put_cors.status().is_success(), "{}", put_cors.text().unwrap());
    let stored_cors = client
        .get(format!("{}/data?cors", moto.base))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(stored_cors.contains("Content-Range"), "{stored_cors}");
    let (bytes, good, bad) = dataset(60_000);
    let upload = client
        .put(format!("{}/data/exports/events.jsonl", moto.base))
        .body(bytes.clone())
        .send()
        .unwrap();
    assert!(upload.status().is_success());
    let url = presign(
        &format!("{}/data/exports/events.jsonl", moto.base),
        Duration::from_secs(3600),
    );
    assert!(url.contains("X-Amz-Signature="));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cluster = runtime.block_on(OpenSearchServer::start(Options::default())).unwrap();
    cluster.set_faults(Faults {
        latency: Duration::from_millis(10),
        ..Faults::default()
    });
    let dir = std::env::temp_dir().join(format!("sluice-moto-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let import = || {
        Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args([
                "import",
                "--url",
                &url,
                "--index",
                "moto",
                "--id-field",
                "id",
                "--batch-docs",
                "250",
            ])
            .args(["--opensearch", &cluster.url(), "--checkpoint-every", "1"])
            .arg("--checkpoint")
            .arg(dir.join("cp.json"))
            .arg("--dead-letters")
            .arg(dir.join("dl.ndjson"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut first = import();
    std::thread::sleep(Duration::from_millis(700));
    first.kill().unwrap();
    let _ = first.wait();
    let checkpoint: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("cp.json")).expect("a checkpoint was saved")).unwrap();
    assert_eq!(checkpoint["source"]["bucket"], "data");
    assert_eq!(checkpoint["source"]["key"], "exports/events.jsonl");
    assert!(checkpoint["source"]["etag"]
        .as_str()
        .is_some_and(|e| e.starts_with('"')));
    assert!(
        !checkpoint.to_string().contains("X-Amz-Signature"),
        "no signature is stored"
    );
    let committed = checkpoint["committed_offset"].as_u64().unwrap();
    assert!(committed < bytes.len() as u64, "killed before the end");

    let output = import().wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(3), "{text}");
    assert_eq!(cluster.doc_count("moto"), good);
    let letters = std::fs::read_to_string(dir.join("dl.ndjson")).unwrap();
    assert_eq!(letters.lines().count(), bad);

    // S3 semantics of a resumed download: the object is rewritten, and a Range request with the old ETag in
    // If-Match gets moto's own 412, which the source reports as "changed". (A shrunk object answering 416 is
    // reported as changed too.)
    runtime.block_on(async {
        let (mut source, identity) = UrlSource::probe(reqwest::Client::new(), &url).await.unwrap();
        assert_eq!(identity.size, Some(bytes.len() as u64));
        source.open(1000).await.unwrap();
        let chunk = source.next_chunk().await.unwrap().unwrap();
        assert_eq!(
            &chunk[..],
            &bytes[1000..1000 + chunk.len()],
            "Range starts at the asked offset"
        );
        let rewritten = format!("{{\"id\":\"new\",\"pad\":\"{}\"}}\n", "x".repeat(5000));
        let object = format!("{}/data/exports/events.jsonl", moto.base);
        tokio::task::spawn_blocking(move || put(&reqwest::blocking::Client::new(), &object, rewritten))
            .await
            .unwrap();
        let refused = source.open(1000).await.unwrap_err();
        assert_eq!(refused.kind, SourceErrorKind::Changed, "{}", refused.message);
        assert!(refused.message.contains("412"), "{}", refused.message);
    });
    let _ = std::fs::remove_dir_all(dir);
}

//! What the page asks before an import: the head of the first object (a preview), and the target index's mapping,
//! the cluster's pipelines and index creation through the proxy.

use futures::StreamExt;
use sluice_engine::mapping::{pipeline_names, IndexMapping};
use sluice_engine::preview::HEAD_BYTES;
use sluice_engine::source_url::source_status_error;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::fetch_source::{body_text, fetch, header};
use super::js_error_text;

/// Decompressed bytes of a gzip head looked at, at most.
const MAX_DECOMPRESSED: usize = 4 * HEAD_BYTES as usize;

/// The first 256 KiB of an object (`Range: bytes=0-262143`), decompressed when it is gzip; and whether that is
/// the whole object.
pub async fn url_head(url: &str) -> Result<(Vec<u8>, bool), String> {
    let response = fetch(url, &[("Range", format!("bytes=0-{}", HEAD_BYTES - 1))])
        .await
        .map_err(|e| e.message)?;
    let status = response.status();
    if !(200..300).contains(&status) {
        return Err(source_status_error(status, &body_text(&response).await, url).message);
    }
    let total = header(&response, "content-range")
        .and_then(|range| range.rsplit('/').next().and_then(|t| t.parse::<u64>().ok()));
    let bytes = read_body(&response, HEAD_BYTES as usize).await?;
    let whole = match (status, total) {
        (206, Some(total)) => total <= HEAD_BYTES,
        (206, None) => false,
        _ => (bytes.len() as u64) < HEAD_BYTES,
    };
    let gzip_by_name = url.split('?').next().is_some_and(|path| path.ends_with(".gz"));
    inflate_if_gzip(bytes, whole, gzip_by_name).await
}

/// The first 256 KiB of a local file, decompressed when it is gzip.
pub async fn file_head(file: &web_sys::File) -> Result<(Vec<u8>, bool), String> {
    let size = file.size();
    let blob = file
        .slice_with_f64_and_f64(0.0, (HEAD_BYTES as f64).min(size))
        .map_err(|e| js_error_text(&e))?;
    let buffer = JsFuture::from(blob.array_buffer())
        .await
        .map_err(|e| format!("cannot read {}: {}", file.name(), js_error_text(&e)))?;
    let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
    inflate_if_gzip(bytes, size <= HEAD_BYTES as f64, file.name().ends_with(".gz")).await
}

async fn read_body(response: &web_sys::Response, limit: usize) -> Result<Vec<u8>, String> {
    let Some(body) = response.body() else {
        return Ok(Vec::new());
    };
    read_stream(body, limit).await.map(|(bytes, _)| bytes)
}

/// Reads a stream's chunks until `limit` bytes, its end, or an error (a cut gzip stream ends in one). Returns the
/// bytes and whether the stream ended cleanly.
async fn read_stream(stream: web_sys::ReadableStream, limit: usize) -> Result<(Vec<u8>, bool), String> {
    let mut chunks = wasm_streams::ReadableStream::from_raw(stream.unchecked_into()).into_stream();
    let mut bytes = Vec::new();
    while bytes.len() < limit {
        match chunks.next().await {
            Some(Ok(chunk)) => bytes.extend(js_sys::Uint8Array::new(&chunk).to_vec()),
            Some(Err(_)) => return Ok((bytes, false)),
            None => return Ok((bytes, true)),
        }
    }
    Ok((bytes, false))
}

async fn inflate_if_gzip(bytes: Vec<u8>, whole: bool, by_name: bool) -> Result<(Vec<u8>, bool), String> {
    if !(bytes.starts_with(&[0x1f, 0x8b]) || (by_name && bytes.starts_with(&[0x1f]))) {
        return Ok((bytes, whole));
    }
    let array = js_sys::Uint8Array::from(bytes.as_slice());
    let parts = js_sys::Array::of1(&array);
    let blob = web_sys::Blob::new_with_u8_array_sequence(&parts).map_err(|e| js_error_text(&e))?;
    let inflated = super::gunzip(&blob.stream())?;
    let (out, ended) = read_stream(inflated, MAX_DECOMPRESSED).await?;
    Ok((out, whole && ended))
}

fn proxy_request(builder: gloo_net::http::RequestBuilder, token: Option<&str>) -> gloo_net::http::RequestBuilder {
    match token {
        Some(token) => builder.header("Authorization", &format!("Bearer {token}")),
        None => builder,
    }
}

/// The proxy's own error message, or OpenSearch's reason, from an error answer.
fn refusal(status: u16, body: &str) -> String {
    let parsed: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    parsed["sluice_error"]["message"]
        .as_str()
        .or(parsed["error"]["reason"].as_str())
        .map(String::from)
        .unwrap_or_else(|| format!("HTTP {status}"))
}

/// The index's mapping through the proxy (`GET /_sluice/index/{index}`); `None` when the index does not exist.
pub async fn index_mapping(proxy: &str, token: Option<&str>, index: &str) -> Result<Option<IndexMapping>, String> {
    let url = format!("{proxy}/_sluice/index/{index}");
    let response = proxy_request(gloo_net::http::Request::get(&url), token)
        .send()
        .await
        .map_err(|e| format!("the proxy cannot be reached ({e})"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if status != 200 {
        return Err(refusal(status, &text));
    }
    let body: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("the answer is unreadable: {e}"))?;
    if body["exists"] != true {
        return Ok(None);
    }
    IndexMapping::from_response(&body["mapping"]).map(Some)
}

/// The cluster's ingest pipelines (names and descriptions), or nothing when they cannot be read.
pub async fn pipelines(proxy: &str, token: Option<&str>) -> Vec<(String, Option<String>)> {
    let url = format!("{proxy}/_ingest/pipeline");
    let Ok(response) = proxy_request(gloo_net::http::Request::get(&url), token).send().await else {
        return Vec::new();
    };
    // A refusal (no token yet, say) has no pipelines in it: offer none rather than its error's keys.
    if response.status() != 200 {
        return Vec::new();
    }
    let text = response.text().await.unwrap_or_default();
    pipeline_names(&serde_json::from_str(&text).unwrap_or_default())
}

/// Creates an index with `mappings` through the proxy (it must run with `--allow-create-index`).
pub async fn create_index(
    proxy: &str,
    token: Option<&str>,
    index: &str,
    mappings: &serde_json::Value,
) -> Result<(), String> {
    let url = format!("{proxy}/{index}");
    let body = serde_json::json!({ "mappings": mappings }).to_string();
    let request = proxy_request(gloo_net::http::Request::put(&url), token)
        .header("Content-Type", "application/json")
        .body(body)
        .map_err(|e| e.to_string())?;
    let response = request
        .send()
        .await
        .map_err(|e| format!("the proxy cannot be reached ({e})"))?;
    let status = response.status();
    if (200..300).contains(&status) {
        return Ok(());
    }
    Err(refusal(status, &response.text().await.unwrap_or_default()))
}

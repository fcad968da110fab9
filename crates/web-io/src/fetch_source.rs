//! An object behind a (presigned) URL, streamed with `fetch` and `ReadableStream`. Resumes with
//! `Range: bytes=N-` guarded by `If-Match: <ETag>`, so nothing already imported is downloaded again.

use serde::{Deserialize, Serialize};
use sluice_engine::job::{SourceError, SourceErrorKind};
use sluice_engine::source_url::{
    probed_size, redact, resumed_answer, source_status_error, ObjectAnswer, Resumed, SourceUrl,
};
use sluice_engine::{ByteSource, SourceIdentity};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, Request, RequestCache, RequestInit, Response};

use super::js_error_text;
use super::pieces::Pieces;

#[wasm_bindgen]
extern "C" {
    /// The global `fetch`, the same in a tab and in a worker (web-sys binds it to `Window` or
    /// `WorkerGlobalScope` apart).
    #[wasm_bindgen(js_name = fetch)]
    fn global_fetch(request: &Request) -> js_sys::Promise;
}

/// What the bucket's CORS rules must allow, for the error message when a browser cannot read the object.
pub const CORS_HELP: &str = "the bucket's CORS configuration must allow GET from this site and expose the ETag, \
                             Content-Range and Content-Length headers";

/// How an object's bytes are compressed, which decides how a resume reaches its offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// Plain bytes: a resume asks for `Range: bytes=<offset>-`.
    None,
    /// A stored `.gz` (or `Content-Type: application/gzip`): inflated with `DecompressionStream`.
    Inflate,
    /// Served with `Content-Encoding: gzip`: `fetch` inflates it by itself.
    ByBrowser,
}

/// What reading an object needs to know, learnt by [`FetchSource::probe`]: plain data, so the page can probe an
/// object and hand it to the engine's worker, which reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteObject {
    /// The (presigned) URL.
    pub url: String,
    /// The ETag every download is guarded with (`If-Match`).
    pub etag: Option<String>,
    /// The stored size in bytes.
    pub size: Option<u64>,
    /// How its bytes are compressed.
    pub compression: Compression,
}

/// A streamed object.
pub struct FetchSource {
    object: RemoteObject,
    body: Option<Pieces>,
    /// The absolute offset of the next byte handed to the engine.
    position: u64,
}

/// A GET of `url` with `headers`, never answered from the HTTP cache; a network failure is transient.
pub async fn fetch(url: &str, headers: &[(&str, String)]) -> Result<Response, SourceError> {
    let header_map = Headers::new().map_err(|e| SourceError::new(SourceErrorKind::Fatal, js_error_text(&e)))?;
    for (name, value) in headers {
        header_map
            .set(name, value)
            .map_err(|e| SourceError::new(SourceErrorKind::Fatal, js_error_text(&e)))?;
    }
    let init = RequestInit::new();
    init.set_method("GET");
    // Never from the HTTP cache: a cached probe would hide a rewritten object (an old ETag), and a cached range
    // would not be the bytes the server has now.
    init.set_cache(RequestCache::NoStore);
    init.set_headers(&header_map);
    let request = Request::new_with_str_and_init(url, &init).map_err(|e| {
        SourceError::new(
            SourceErrorKind::Fatal,
            format!("invalid URL {}: {}", redact(url), js_error_text(&e)),
        )
    })?;
    let response = JsFuture::from(global_fetch(&request)).await.map_err(|error| {
        // fetch only says "Failed to fetch": the network is down, or CORS stopped the browser from reading.
        SourceError::new(
            SourceErrorKind::Transient,
            format!(
                "could not read {} ({}): the network may be down, or {CORS_HELP}",
                redact(url),
                js_error_text(&error)
            ),
        )
    })?;
    response
        .dyn_into::<Response>()
        .map_err(|_| SourceError::new(SourceErrorKind::Fatal, "fetch did not return a Response"))
}

/// A response header's value.
pub fn header(response: &Response, name: &str) -> Option<String> {
    response.headers().get(name).ok().flatten()
}

/// A response's body as text (empty when it cannot be read), for error messages.
pub async fn body_text(response: &Response) -> String {
    match response.text() {
        Ok(promise) => JsFuture::from(promise)
            .await
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    }
}

impl FetchSource {
    /// Probes the object with `Range: bytes=0-0` (a presigned GET URL cannot be used for HEAD) and returns the
    /// source and its identity. Refuses when the browser cannot see the ETag (CORS not exposing it): without it a
    /// resume could not check the object is unchanged.
    pub async fn probe(url: &str) -> Result<(Self, SourceIdentity), SourceError> {
        let parsed = SourceUrl::parse(url).map_err(|m| SourceError::new(SourceErrorKind::Fatal, m))?;
        let response = fetch(url, &[("Range", "bytes=0-0".to_string())]).await?;
        let status = response.status();
        let mut identity = parsed.identity();
        identity.etag = header(&response, "etag");
        identity.last_modified = header(&response, "last-modified");
        let encoding = header(&response, "content-encoding")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let media = header(&response, "content-type")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let compression = if encoding.contains("gzip") {
            Compression::ByBrowser
        } else if identity.gzip || media.contains("gzip") {
            Compression::Inflate
        } else {
            Compression::None
        };
        identity.gzip = compression != Compression::None;
        let content_range = header(&response, "content-range");
        let answer = ObjectAnswer {
            status,
            content_range: content_range.as_deref(),
            content_length: header(&response, "content-length").and_then(|l| l.parse().ok()),
            etag: None,
        };
        identity.size = match probed_size(&answer) {
            Some(size) => size,
            None => return Err(source_status_error(status, &body_text(&response).await, url)),
        };
        if identity.etag.is_none() || identity.size.is_none() {
            return Err(SourceError::new(
                SourceErrorKind::Fatal,
                format!(
                    "the browser cannot see the object's ETag or size, so a resume could not be checked: {CORS_HELP}"
                ),
            ));
        }
        let object = RemoteObject {
            url: url.to_string(),
            etag: identity.etag.clone(),
            size: identity.size,
            compression,
        };
        Ok((FetchSource::new(object), identity))
    }

    /// A source for an object already probed.
    pub fn new(object: RemoteObject) -> Self {
        FetchSource {
            object,
            body: None,
            position: 0,
        }
    }

    /// A source for an object whose identity is already known (a resume with a fresh URL for the same object).
    pub fn resume(url: &str, identity: &SourceIdentity) -> Self {
        FetchSource::new(RemoteObject {
            url: url.to_string(),
            etag: identity.etag.clone(),
            size: identity.size,
            compression: if identity.gzip {
                Compression::Inflate
            } else {
                Compression::None
            },
        })
    }

    /// What was learnt about the object, to read it elsewhere (in the engine's worker).
    pub fn into_object(self) -> RemoteObject {
        self.object
    }
}

impl ByteSource for FetchSource {
    async fn open(&mut self, absolute_byte_offset: u64) -> Result<(), SourceError> {
        self.body = None;
        self.position = absolute_byte_offset;
        // Offsets in a gzip object count decompressed bytes: download from the start and skip up to the offset
        // (nothing before it is sent again, only read again).
        let (range_start, decompressed_skip) = match self.object.compression {
            Compression::None => (absolute_byte_offset, 0),
            Compression::Inflate | Compression::ByBrowser => (0, absolute_byte_offset),
        };
        let mut headers = vec![];
        if range_start > 0 {
            headers.push(("Range", format!("bytes={range_start}-")));
        }
        if let Some(etag) = &self.object.etag {
            headers.push(("If-Match", etag.clone()));
        }
        let response = fetch(&self.object.url, &headers).await?;
        let (content_range, etag) = (header(&response, "content-range"), header(&response, "etag"));
        let answer = ObjectAnswer {
            status: response.status(),
            content_range: content_range.as_deref(),
            content_length: header(&response, "content-length").and_then(|l| l.parse().ok()),
            etag: etag.as_deref(),
        };
        // Bytes to drop before the first one to import: a server that ignored the Range header, or the decompressed
        // bytes already imported from a gzip object (which cannot be entered in the middle).
        let skip = match resumed_answer(&answer, range_start, self.object.size, self.object.etag.as_deref())? {
            Resumed::Stream { skip } => skip + decompressed_skip,
            Resumed::Finished => return Ok(()),
            Resumed::Status(status) => {
                return Err(source_status_error(
                    status,
                    &body_text(&response).await,
                    &self.object.url,
                ))
            }
        };
        let stream = response
            .body()
            .ok_or_else(|| SourceError::new(SourceErrorKind::Transient, "the response has no body"))?;
        let stream = match self.object.compression {
            Compression::Inflate => super::gunzip(&stream).map_err(|m| SourceError::new(SourceErrorKind::Fatal, m))?,
            Compression::None | Compression::ByBrowser => stream,
        };
        self.body = Some(Pieces::new(stream, skip));
        Ok(())
    }

    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, SourceError> {
        let Some(body) = self.body.as_mut() else {
            return Ok(None);
        };
        match body.next().await {
            Ok(Some(piece)) => {
                self.position += piece.len() as u64;
                Ok(Some(piece))
            }
            Ok(None) => {
                self.body = None;
                // A connection closed early can look like an end: only the size tells them apart.
                if let (Compression::None, Some(size)) = (self.object.compression, self.object.size) {
                    if self.position < size {
                        return Err(SourceError::new(
                            SourceErrorKind::Transient,
                            format!("the download ended early, at byte {} of {size}", self.position),
                        ));
                    }
                }
                Ok(None)
            }
            Err(error) => Err(SourceError::new(
                SourceErrorKind::Transient,
                format!("the download was interrupted: {}", js_error_text(&error)),
            )),
        }
    }
}

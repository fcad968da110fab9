//! Byte sources for the headless importer: an HTTP(S) URL (presigned S3 or any server with Range support), a local
//! file, and gzip decompression on top of either.

use std::io::Write;
use std::path::PathBuf;

use reqwest::header::{CONTENT_ENCODING, CONTENT_RANGE, CONTENT_TYPE, ETAG, IF_MATCH, LAST_MODIFIED, RANGE};
use reqwest::StatusCode;
use sluice_engine::job::{SourceError, SourceErrorKind};
use sluice_engine::source_url::{
    probed_size, redact, resumed_answer, source_status_error, ObjectAnswer, Resumed, SourceUrl,
};
use sluice_engine::{ByteSource, SourceIdentity};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

const FILE_CHUNK: usize = 256 * 1024;

/// An object behind an HTTP(S) URL. Resumes with `Range: bytes=N-` guarded by `If-Match: <ETag>`.
pub struct UrlSource {
    client: reqwest::Client,
    url: String,
    etag: Option<String>,
    size: Option<u64>,
    response: Option<reqwest::Response>,
    /// Bytes still to discard when a server ignored the Range header and sent the whole object.
    skip: u64,
    /// Read no further than this offset (exclusive): a preview asks for the head only.
    limit: Option<u64>,
    /// Bytes handed out since the last open (to stop at `limit` when a server ignores the Range end).
    delivered: u64,
    position: u64,
}

impl UrlSource {
    /// Reads no byte at or past `end` (the Range request asks for `bytes=N-{end - 1}`).
    pub fn limit_to(&mut self, end: u64) {
        self.limit = Some(end);
    }

    /// Probes the object (`Range: bytes=0-0`: a presigned GET URL cannot be used for HEAD) and returns the source
    /// and its identity (ETag, size, Last-Modified, gzip).
    pub async fn probe(client: reqwest::Client, url: &str) -> Result<(Self, SourceIdentity), SourceError> {
        let parsed = SourceUrl::parse(url).map_err(|message| SourceError::new(SourceErrorKind::Fatal, message))?;
        let response = client
            .get(url)
            .header(RANGE, "bytes=0-0")
            .send()
            .await
            .map_err(|error| SourceError::new(SourceErrorKind::Fatal, describe_transport(url, &error)))?;
        let status = response.status();
        let mut identity = parsed.identity();
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        identity.etag = header(ETAG);
        identity.last_modified = header(LAST_MODIFIED);
        let encoding = header(CONTENT_ENCODING).unwrap_or_default().to_ascii_lowercase();
        let media = header(CONTENT_TYPE).unwrap_or_default().to_ascii_lowercase();
        identity.gzip |= encoding.contains("gzip") || media.contains("gzip");
        let content_range = header(CONTENT_RANGE);
        let answer = ObjectAnswer {
            status: status.as_u16(),
            content_range: content_range.as_deref(),
            content_length: response.content_length(),
            etag: None,
        };
        identity.size = match probed_size(&answer) {
            Some(size) => size,
            None => return Err(status_error(url, status, &response.text().await.unwrap_or_default())),
        };
        Ok((
            UrlSource {
                client,
                url: url.to_string(),
                etag: identity.etag.clone(),
                size: identity.size,
                response: None,
                skip: 0,
                limit: None,
                delivered: 0,
                position: 0,
            },
            identity,
        ))
    }
}

fn describe_transport(url: &str, error: &reqwest::Error) -> String {
    format!(
        "could not reach {}: {}",
        redact(url),
        crate::http_error::describe(error)
    )
}

fn status_error(url: &str, status: StatusCode, body: &str) -> SourceError {
    for_the_cli(source_status_error(status.as_u16(), body, url))
}

/// On the command line, "start the import over" is `--restart`.
fn for_the_cli(mut error: SourceError) -> SourceError {
    if error.kind == SourceErrorKind::Changed {
        error.message = error
            .message
            .replace("start the import over", "run again with --restart");
    }
    error
}

impl ByteSource for UrlSource {
    async fn open(&mut self, absolute_byte_offset: u64) -> Result<(), SourceError> {
        self.response = None;
        self.position = absolute_byte_offset;
        self.delivered = 0;
        let range = match self.limit {
            Some(end) if end > absolute_byte_offset => format!("bytes={absolute_byte_offset}-{}", end - 1),
            Some(_) => return Ok(()),
            None => format!("bytes={absolute_byte_offset}-"),
        };
        let mut request = self.client.get(&self.url).header(RANGE, range);
        if let Some(etag) = &self.etag {
            request = request.header(IF_MATCH, etag);
        }
        let response = request
            .send()
            .await
            .map_err(|error| SourceError::new(SourceErrorKind::Transient, describe_transport(&self.url, &error)))?;
        let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok());
        let answer = ObjectAnswer {
            status: response.status().as_u16(),
            content_range: header(CONTENT_RANGE),
            content_length: response.content_length(),
            etag: header(ETAG),
        };
        match resumed_answer(&answer, absolute_byte_offset, self.size, self.etag.as_deref()).map_err(for_the_cli)? {
            Resumed::Stream { skip } => self.skip = skip,
            Resumed::Finished => return Ok(()),
            Resumed::Status(_) => {
                let status = response.status();
                return Err(status_error(
                    &self.url,
                    status,
                    &response.text().await.unwrap_or_default(),
                ));
            }
        }
        self.response = Some(response);
        Ok(())
    }

    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, SourceError> {
        loop {
            let Some(response) = self.response.as_mut() else {
                return Ok(None);
            };
            let chunk = response.chunk().await.map_err(|error| {
                SourceError::new(
                    SourceErrorKind::Transient,
                    format!("the download was interrupted: {error}"),
                )
            })?;
            let Some(chunk) = chunk else {
                self.response = None;
                return Ok(None);
            };
            let skip = self.skip.min(chunk.len() as u64) as usize;
            self.skip -= skip as u64;
            if skip < chunk.len() {
                let mut piece = chunk[skip..].to_vec();
                if let Some(end) = self.limit {
                    let room = end.saturating_sub(self.position + self.delivered) as usize;
                    if piece.len() >= room {
                        piece.truncate(room);
                        self.response = None;
                    }
                }
                self.delivered += piece.len() as u64;
                if piece.is_empty() {
                    return Ok(None);
                }
                return Ok(Some(piece));
            }
        }
    }
}

/// A local file.
pub struct FileSource {
    path: PathBuf,
    file: Option<tokio::fs::File>,
}

impl FileSource {
    /// Opens the file's metadata and returns the source and its identity (name, size, modification time).
    pub async fn probe(path: PathBuf) -> Result<(Self, SourceIdentity), SourceError> {
        let metadata = tokio::fs::metadata(&path).await.map_err(|error| {
            SourceError::new(
                SourceErrorKind::Fatal,
                format!("cannot read {}: {error}", path.display()),
            )
        })?;
        let modified = metadata
            .modified()
            .ok()
            .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|since| since.as_millis().to_string());
        let absolute = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        let identity = SourceIdentity {
            name: Some(absolute.display().to_string()),
            size: Some(metadata.len()),
            last_modified: modified,
            gzip: path.extension().is_some_and(|ext| ext.eq_ignore_ascii_case("gz")),
            ..SourceIdentity::default()
        };
        Ok((FileSource { path, file: None }, identity))
    }
}

impl ByteSource for FileSource {
    async fn open(&mut self, absolute_byte_offset: u64) -> Result<(), SourceError> {
        let fail = |error: std::io::Error| {
            SourceError::new(
                SourceErrorKind::Fatal,
                format!("cannot read {}: {error}", self.path.display()),
            )
        };
        let mut file = tokio::fs::File::open(&self.path).await.map_err(fail)?;
        file.seek(std::io::SeekFrom::Start(absolute_byte_offset))
            .await
            .map_err(fail)?;
        self.file = Some(file);
        Ok(())
    }

    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, SourceError> {
        let Some(file) = self.file.as_mut() else {
            return Ok(None);
        };
        let mut buffer = vec![0; FILE_CHUNK];
        let read = file.read(&mut buffer).await.map_err(|error| {
            SourceError::new(
                SourceErrorKind::Fatal,
                format!("cannot read {}: {error}", self.path.display()),
            )
        })?;
        if read == 0 {
            return Ok(None);
        }
        buffer.truncate(read);
        Ok(Some(buffer))
    }
}

/// Decompresses a gzip source. Offsets count decompressed bytes; resuming decompresses from the start and skips
/// what was already imported (gzip cannot be entered in the middle), but nothing is sent again.
pub struct Gunzip<S> {
    inner: S,
    decoder: flate2::write::MultiGzDecoder<Vec<u8>>,
    skip: u64,
    done: bool,
}

impl<S> Gunzip<S> {
    /// Wraps a source of gzip bytes.
    pub fn new(inner: S) -> Self {
        Gunzip {
            inner,
            decoder: flate2::write::MultiGzDecoder::new(Vec::new()),
            skip: 0,
            done: false,
        }
    }
}

impl<S: ByteSource> ByteSource for Gunzip<S> {
    async fn open(&mut self, absolute_byte_offset: u64) -> Result<(), SourceError> {
        self.inner.open(0).await?;
        self.decoder = flate2::write::MultiGzDecoder::new(Vec::new());
        self.skip = absolute_byte_offset;
        self.done = false;
        Ok(())
    }

    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, SourceError> {
        let corrupt = |error: std::io::Error| {
            SourceError::new(SourceErrorKind::Fatal, format!("the gzip data is corrupt: {error}"))
        };
        loop {
            if self.done {
                return Ok(None);
            }
            match self.inner.next_chunk().await? {
                Some(compressed) => self.decoder.write_all(&compressed).map_err(corrupt)?,
                None => {
                    self.decoder.try_finish().map_err(corrupt)?;
                    self.done = true;
                }
            }
            let mut out = std::mem::take(self.decoder.get_mut());
            let skip = self.skip.min(out.len() as u64) as usize;
            self.skip -= skip as u64;
            out.drain(..skip);
            if !out.is_empty() {
                return Ok(Some(out));
            }
        }
    }
}

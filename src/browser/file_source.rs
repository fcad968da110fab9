//! A local file the analyst picked or dropped, streamed with `Blob.slice` + `stream()`: never read whole, so a
//! 2 GB file costs no more memory than a small one. A resume slices the file at the committed offset (for gzip:
//! decompresses from the start and skips).
//!
//! After a reload the page no longer holds the file; the analyst picks it again, and [`LocalFileSource::identify`]
//! describes it (name, size, lastModified and a hash of its first 64 KiB) so the checkpoint can tell whether it is
//! the same file.

use sluice_engine::job::{SourceError, SourceErrorKind};
use sluice_engine::settings::fnv1a64;
use sluice_engine::{ByteSource, SourceIdentity};
use wasm_bindgen_futures::JsFuture;

use super::js_error_text;
use super::pieces::Pieces;

/// How much of the start of a file is hashed to recognise it.
const HEAD_BYTES: f64 = 64.0 * 1024.0;

/// A local file as a source.
pub struct LocalFileSource {
    file: web_sys::File,
    gzip: bool,
    body: Option<Pieces>,
}

fn unreadable(file: &web_sys::File, error: &wasm_bindgen::JsValue) -> SourceError {
    SourceError::new(
        SourceErrorKind::Fatal,
        format!(
            "the file {} could not be read ({}): it may have been moved or changed since it was picked; pick it again",
            file.name(),
            js_error_text(error)
        ),
    )
}

fn is_gzip(file: &web_sys::File) -> bool {
    file.name().to_ascii_lowercase().ends_with(".gz")
}

impl LocalFileSource {
    /// The source for `file` (a `.gz` name is decompressed). A `File` can be posted to a worker, which reads it
    /// through this.
    pub fn new(file: web_sys::File) -> Self {
        let gzip = is_gzip(&file);
        LocalFileSource { file, gzip, body: None }
    }

    /// What identifies `file`, to check it against a checkpoint: the page checks, the worker reads.
    pub async fn identify(file: &web_sys::File) -> Result<SourceIdentity, SourceError> {
        let name = file.name();
        let size = file.size();
        let head = file
            .slice_with_f64_and_f64(0.0, size.min(HEAD_BYTES))
            .map_err(|e| unreadable(file, &e))?;
        let buffer = JsFuture::from(head.array_buffer())
            .await
            .map_err(|e| unreadable(file, &e))?;
        let head_hash = fnv1a64(&js_sys::Uint8Array::new(&buffer).to_vec());
        Ok(SourceIdentity {
            name: Some(name),
            size: Some(size as u64),
            last_modified: Some(format!("{}", file.last_modified() as u64)),
            head_hash: Some(format!("{head_hash:016x}")),
            gzip: is_gzip(file),
            ..SourceIdentity::default()
        })
    }
}

impl ByteSource for LocalFileSource {
    async fn open(&mut self, absolute_byte_offset: u64) -> Result<(), SourceError> {
        let (stream, skip) = if self.gzip {
            let inflated =
                super::gunzip(&self.file.stream()).map_err(|m| SourceError::new(SourceErrorKind::Fatal, m))?;
            (inflated, absolute_byte_offset)
        } else {
            let rest = self
                .file
                .slice_with_f64_and_f64(absolute_byte_offset as f64, self.file.size())
                .map_err(|e| unreadable(&self.file, &e))?;
            (rest.stream(), 0)
        };
        self.body = Some(Pieces::new(stream, skip));
        Ok(())
    }

    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, SourceError> {
        let Some(body) = self.body.as_mut() else {
            return Ok(None);
        };
        match body.next().await {
            Ok(piece) => Ok(piece),
            Err(error) if self.gzip => Err(SourceError::new(
                SourceErrorKind::Fatal,
                format!(
                    "the file {} is not valid gzip ({}); pick the right file or start over",
                    self.file.name(),
                    js_error_text(&error)
                ),
            )),
            Err(error) => Err(unreadable(&self.file, &error)),
        }
    }
}

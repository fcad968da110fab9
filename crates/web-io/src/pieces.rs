//! Reads a `ReadableStream` of bytes in pieces the page can afford: at most [`MAX_PIECE`] bytes at a time, with a
//! yield to the page when the import has worked for its budget, and bytes to skip dropped without copying them out
//! of JavaScript. Both sources (a URL, a local file) read their bytes through it.

use futures::StreamExt;
use wasm_bindgen::{JsCast, JsValue};

/// The most bytes handed to the engine at once. The browser may deliver megabytes in one chunk; splitting and
/// batching that in one go would hold the main thread for tens of milliseconds. 128 KiB takes a few.
pub const MAX_PIECE: u32 = 128 * 1024;

/// A byte stream read piece by piece.
pub struct Pieces {
    body: wasm_streams::readable::IntoStream<'static>,
    /// The rest of the chunk the stream gave last, and where in it the next piece starts.
    pending: Option<(js_sys::Uint8Array, u32)>,
    /// Bytes still to drop before the first one handed out.
    skip: u64,
}

impl Pieces {
    /// Reads `stream`, dropping its first `skip` bytes.
    pub fn new(stream: web_sys::ReadableStream, skip: u64) -> Self {
        Pieces {
            body: wasm_streams::ReadableStream::from_raw(stream).into_stream(),
            pending: None,
            skip,
        }
    }

    /// The next piece; `Ok(None)` at the end of the stream; `Err` with the stream's error.
    pub async fn next(&mut self) -> Result<Option<Vec<u8>>, JsValue> {
        super::clock::yield_if_due().await;
        loop {
            if let Some((chunk, at)) = self.pending.take() {
                let skip = self.skip.min(u64::from(chunk.length() - at)) as u32;
                self.skip -= u64::from(skip);
                let from = at + skip;
                let to = chunk.length().min(from.saturating_add(MAX_PIECE));
                if to < chunk.length() {
                    self.pending = Some((chunk.clone(), to));
                }
                if from < to {
                    return Ok(Some(chunk.subarray(from, to).to_vec()));
                }
                continue;
            }
            match self.body.next().await {
                None => return Ok(None),
                // The chunk is a Uint8Array already: `new Uint8Array(chunk)` would copy it.
                Some(chunk) => self.pending = Some((chunk?.unchecked_into::<js_sys::Uint8Array>(), 0)),
            }
        }
    }
}

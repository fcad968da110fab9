//! Bulk bodies to the `sluice serve` proxy over gloo-net.

use bytes::Bytes;
use gloo_net::http::Request;
use sluice_engine::bulk::SinkResponse;
use sluice_engine::job::SinkError;
use sluice_engine::BulkSink;

/// POSTs NDJSON bodies to `{proxy}/_bulk`, with the analyst token when there is one.
pub struct ProxySink {
    url: String,
    token: Option<String>,
}

impl ProxySink {
    /// A sink for the proxy at `base` ("" for the page's own origin).
    pub fn new(base: &str, token: Option<String>) -> Self {
        ProxySink {
            url: format!("{}/_bulk", base.trim_end_matches('/')),
            token,
        }
    }
}

impl BulkSink for ProxySink {
    async fn send(&self, body: Bytes) -> Result<SinkResponse, SinkError> {
        let mut request = Request::post(&self.url).header("Content-Type", "application/x-ndjson");
        if let Some(token) = &self.token {
            request = request.header("Authorization", &format!("Bearer {token}"));
        }
        let array = js_sys::Uint8Array::from(&body[..]);
        let request = request.body(array).map_err(|e| SinkError(e.to_string()))?;
        let response = request.send().await.map_err(|e| {
            SinkError(format!(
                "the proxy could not be reached ({e}); check the network and the proxy's address"
            ))
        })?;
        let status = response.status();
        let retry_after = response.headers().get("retry-after");
        let body = response
            .binary()
            .await
            .map_err(|e| SinkError(format!("the answer broke off: {e}")))?;
        Ok(SinkResponse {
            status,
            retry_after,
            body,
        })
    }
}

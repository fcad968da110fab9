//! The bulk sink over HTTP: straight to OpenSearch or through a Sluice proxy.

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use sluice_engine::bulk::SinkResponse;
use sluice_engine::job::SinkError;
use sluice_engine::BulkSink;

use crate::http_error::describe;

/// How the sink authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    /// Nothing.
    None,
    /// HTTP basic (OpenSearch security plugin users).
    Basic {
        /// User.
        username: String,
        /// Password.
        password: String,
    },
    /// `Authorization: Bearer` (a Sluice proxy's analyst token).
    Bearer(String),
}

impl Auth {
    /// Adds these credentials to a request.
    pub fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Auth::None => request,
            Auth::Basic { username, password } => request.basic_auth(username, Some(password)),
            Auth::Bearer(token) => request.bearer_auth(token),
        }
    }
}

/// POSTs NDJSON bodies to `{base}/_bulk`, asking for the short answer the engine reads (a Sluice proxy drops the
/// query and asks for the same itself).
pub struct HttpSink {
    client: reqwest::Client,
    url: String,
    auth: Auth,
}

impl HttpSink {
    /// A sink for the cluster or proxy at `base` (e.g. `https://search.example.com:9200`).
    pub fn new(client: reqwest::Client, base: &str, auth: Auth) -> Self {
        HttpSink {
            client,
            url: format!(
                "{}/_bulk?{}",
                base.trim_end_matches('/'),
                sluice_engine::bulk::RESPONSE_FILTER_QUERY
            ),
            auth,
        }
    }
}

impl BulkSink for HttpSink {
    async fn send(&self, body: Bytes) -> Result<SinkResponse, SinkError> {
        let request = self.auth.apply(
            self.client
                .post(&self.url)
                .header(CONTENT_TYPE, "application/x-ndjson")
                .body(body),
        );
        let response = request.send().await.map_err(|error| SinkError(describe(&error)))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response.bytes().await.map_err(|error| SinkError(describe(&error)))?;
        Ok(SinkResponse {
            status,
            retry_after,
            body: body.to_vec(),
        })
    }
}

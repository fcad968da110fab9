//! Requests to OpenSearch with the Worker's credentials (basic or SigV4), shared by the proxy and the import's sink.

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use sluice_web_io::js_error_text;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::Response;

use super::js;
use crate::config::{EdgeConfig, UpstreamAuth};

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = fetch)]
    fn global_fetch(request: &web_sys::Request) -> js_sys::Promise;
}

/// The cluster, as the Worker reaches it.
#[derive(Clone)]
pub struct Upstream {
    base: String,
    auth: UpstreamAuth,
}

impl Upstream {
    /// The cluster of `config`.
    pub fn new(config: &EdgeConfig) -> Self {
        Upstream {
            base: config.upstream.clone(),
            auth: config.auth.clone(),
        }
    }

    /// Sends `method path` (path with its query) with an optional body of `content_type`. The error is a transport
    /// failure in words.
    pub async fn send(&self, method: &str, path: &str, body: Option<(&[u8], &str)>) -> Result<Response, String> {
        let url = format!("{}{path}", self.base);
        let mut headers: Vec<(String, String)> = Vec::new();
        if let Some((_, content_type)) = body {
            headers.push(("content-type".into(), content_type.into()));
        }
        match &self.auth {
            UpstreamAuth::None => {}
            UpstreamAuth::Basic { username, password } => {
                let token = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
                headers.push(("authorization".into(), format!("Basic {token}")));
            }
            UpstreamAuth::SigV4(signer) => {
                let (payload, signed): (&[u8], Vec<(&str, &str)>) = match body {
                    Some((bytes, content_type)) => (bytes, vec![("content-type", content_type)]),
                    None => (&[], Vec::new()),
                };
                // SystemTime::now() panics on wasm32-unknown-unknown; the runtime's clock gives the same instant.
                let now = UNIX_EPOCH + Duration::from_millis(js_sys::Date::now() as u64);
                headers.extend(signer.sign(method, &url, &signed, payload, now)?);
            }
        }
        let borrowed: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let request = js::request(method, &url, &borrowed, body.map(|(bytes, _)| bytes))?;
        let answer = JsFuture::from(global_fetch(&request)).await.map_err(|error| {
            format!(
                "the Worker cannot reach OpenSearch at {}: {}",
                self.base,
                js_error_text(&error)
            )
        })?;
        answer
            .dyn_into::<Response>()
            .map_err(|_| "fetch did not return a Response".to_string())
    }
}

//! The list of jobs, for `GET /jobs`: one Durable Object (named `all`) that keeps each job's id and creation time.
//! A job's own object holds everything else.

use std::rc::Rc;

use serde::{Deserialize, Serialize};
use serde_json::json;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::future_to_promise;
use web_sys::{Request, Response};

use super::js::{self, DurableObjectState, Storage};

/// A job in the list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// The job's id.
    pub id: String,
    /// When it was created.
    pub created_at_ms: u64,
}

/// The registry's Durable Object (the JavaScript class `SluiceRegistry`).
#[wasm_bindgen]
pub struct RegistryObject {
    storage: Rc<Storage>,
}

#[wasm_bindgen]
impl RegistryObject {
    /// The object for `state`.
    #[wasm_bindgen(constructor)]
    pub fn new(state: DurableObjectState, _env: JsValue) -> RegistryObject {
        RegistryObject {
            storage: Rc::new(state.storage()),
        }
    }

    /// `POST add` / `POST remove` with an [`Entry`], `GET list`.
    pub fn fetch(&self, request: Request) -> js_sys::Promise {
        let storage = self.storage.clone();
        future_to_promise(async move {
            let answer = handle(&storage, &request)
                .await
                .unwrap_or_else(|message| js::error_response(500, "storage", &message));
            Ok(answer.into())
        })
    }
}

async fn handle(storage: &Storage, request: &Request) -> Result<Response, String> {
    let path = web_sys::Url::new(&request.url())
        .map(|u| u.pathname())
        .unwrap_or_default();
    match (request.method().as_str(), path.as_str()) {
        ("GET", "/list") => {
            let mut entries: Vec<Entry> = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let page = storage.list("job:", after.as_deref(), 500).await?;
                let Some((last, _)) = page.last() else { break };
                after = Some(last.clone());
                entries.extend(page.iter().filter_map(|(_, text)| serde_json::from_str(text).ok()));
            }
            entries.sort_by_key(|entry| std::cmp::Reverse(entry.created_at_ms));
            Ok(js::json_response(200, &json!(entries)))
        }
        ("POST", "/add" | "/remove") => {
            let body = js::request_bytes(request, 64 * 1024).await?;
            let entry: Entry = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
            let key = format!("job:{}", entry.id);
            if path == "/add" {
                storage.put_json(&key, &entry).await?;
            } else {
                storage.delete(&key).await?;
            }
            Ok(js::json_response(200, &json!({"ok": true})))
        }
        _ => Ok(js::error_response(404, "not_found", "no such call")),
    }
}

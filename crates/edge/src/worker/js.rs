//! Bindings to the Workers runtime's own objects (Durable Object state and storage, namespaces, service bindings)
//! and small helpers for requests and responses. web-sys covers the web platform; these are Cloudflare's.

use js_sys::{Object, Promise, Reflect, Uint8Array};
use sluice_web_io::js_error_text;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, Request, RequestInit, Response, ResponseInit};

#[wasm_bindgen]
extern "C" {
    /// `DurableObjectState` (the `ctx` a Durable Object is constructed with).
    pub type DurableObjectState;
    /// Its storage.
    #[wasm_bindgen(method, getter)]
    pub fn storage(this: &DurableObjectState) -> Storage;

    /// `DurableObjectStorage`: transactional key-value storage of one object.
    #[derive(Clone)]
    pub type Storage;
    #[wasm_bindgen(method, catch, js_name = get)]
    fn get_js(this: &Storage, key: &str) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = put)]
    fn put_js(this: &Storage, key: &str, value: &JsValue) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = put)]
    fn put_entries_js(this: &Storage, entries: &Object) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = delete)]
    fn delete_js(this: &Storage, key: &str) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = delete)]
    fn delete_keys_js(this: &Storage, keys: &js_sys::Array) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = deleteAll)]
    fn delete_all_js(this: &Storage) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = list)]
    fn list_js(this: &Storage, options: &Object) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = setAlarm)]
    fn set_alarm_js(this: &Storage, at_ms: f64) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = deleteAlarm)]
    fn delete_alarm_js(this: &Storage) -> Result<Promise, JsValue>;

    /// A Durable Object namespace binding.
    pub type Namespace;
    #[wasm_bindgen(method, js_name = idFromName)]
    fn id_from_name(this: &Namespace, name: &str) -> JsValue;
    #[wasm_bindgen(method, js_name = get)]
    fn stub(this: &Namespace, id: &JsValue) -> Fetcher;

    /// Anything with `fetch(request)`: a Durable Object stub, a service binding, the `ASSETS` binding.
    pub type Fetcher;
    #[wasm_bindgen(method, catch, js_name = fetch)]
    fn fetch_js(this: &Fetcher, request: &Request) -> Result<Promise, JsValue>;

    #[wasm_bindgen(js_namespace = crypto, js_name = randomUUID)]
    fn random_uuid() -> String;
}

async fn settle(promise: Result<Promise, JsValue>) -> Result<JsValue, String> {
    let promise = promise.map_err(|e| js_error_text(&e))?;
    JsFuture::from(promise).await.map_err(|e| js_error_text(&e))
}

impl Storage {
    /// The text stored at `key`.
    pub async fn get_text(&self, key: &str) -> Result<Option<String>, String> {
        Ok(settle(self.get_js(key)).await?.as_string())
    }

    /// A JSON document stored at `key` (as text).
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, String> {
        match self.get_text(key).await? {
            None => Ok(None),
            Some(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| format!("the stored {key} is not readable: {e}")),
        }
    }

    /// Stores `text` at `key`.
    pub async fn put_text(&self, key: &str, text: &str) -> Result<(), String> {
        settle(self.put_js(key, &JsValue::from_str(text))).await.map(drop)
    }

    /// Stores a JSON document at `key`.
    pub async fn put_json<T: serde::Serialize>(&self, key: &str, value: &T) -> Result<(), String> {
        let text = serde_json::to_string(value).map_err(|e| e.to_string())?;
        self.put_text(key, &text).await
    }

    /// Stores several keys in one atomic write (at most 128).
    pub async fn put_many(&self, entries: &[(String, String)]) -> Result<(), String> {
        let object = Object::new();
        for (key, value) in entries {
            Reflect::set(&object, &JsValue::from_str(key), &JsValue::from_str(value)).map_err(|e| js_error_text(&e))?;
        }
        settle(self.put_entries_js(&object)).await.map(drop)
    }

    /// Removes `key`.
    pub async fn delete(&self, key: &str) -> Result<(), String> {
        settle(self.delete_js(key)).await.map(drop)
    }

    /// Removes several keys in one atomic write (at most 128).
    pub async fn delete_many(&self, keys: &[String]) -> Result<(), String> {
        let array: js_sys::Array = keys.iter().map(|key| JsValue::from_str(key)).collect();
        settle(self.delete_keys_js(&array)).await.map(drop)
    }

    /// Removes everything the object stores.
    pub async fn delete_all(&self) -> Result<(), String> {
        settle(self.delete_all_js()).await.map(drop)
    }

    /// Keys and texts under `prefix`, in key order, starting after `after`, at most `limit`.
    pub async fn list(&self, prefix: &str, after: Option<&str>, limit: u32) -> Result<Vec<(String, String)>, String> {
        let options = Object::new();
        let set = |name: &str, value: JsValue| Reflect::set(&options, &JsValue::from_str(name), &value).map(drop);
        set("prefix", JsValue::from_str(prefix)).map_err(|e| js_error_text(&e))?;
        set("limit", JsValue::from_f64(f64::from(limit))).map_err(|e| js_error_text(&e))?;
        if let Some(after) = after {
            set("startAfter", JsValue::from_str(after)).map_err(|e| js_error_text(&e))?;
        }
        let map: js_sys::Map = settle(self.list_js(&options)).await?.unchecked_into();
        let mut entries = Vec::with_capacity(map.size() as usize);
        map.for_each(&mut |value, key| {
            if let (Some(key), Some(value)) = (key.as_string(), value.as_string()) {
                entries.push((key, value));
            }
        });
        Ok(entries)
    }

    /// Arms the object's alarm for `at_ms` (replacing any other).
    pub async fn set_alarm(&self, at_ms: u64) -> Result<(), String> {
        settle(self.set_alarm_js(at_ms as f64)).await.map(drop)
    }

    /// Disarms the alarm.
    pub async fn delete_alarm(&self) -> Result<(), String> {
        settle(self.delete_alarm_js()).await.map(drop)
    }
}

impl Namespace {
    /// The stub of the object named `name`.
    pub fn named(&self, name: &str) -> Fetcher {
        self.stub(&self.id_from_name(name))
    }
}

impl Fetcher {
    /// Sends `request` to the object or service.
    pub async fn send(&self, request: &Request) -> Result<Response, String> {
        settle(self.fetch_js(request))
            .await?
            .dyn_into::<Response>()
            .map_err(|_| "not a Response".to_string())
    }

    /// An internal call to a Durable Object: `method` on `http://do/{path}` with a JSON body.
    pub async fn call(&self, method: &str, path: &str, body: Option<&str>) -> Result<Response, String> {
        let request = request(
            method,
            &format!("http://do/{path}"),
            &[("content-type", "application/json")],
            body.map(str::as_bytes),
        )?;
        self.send(&request).await
    }
}

/// A binding of the Worker's environment, when it is an object.
pub fn binding<T: JsCast>(env: &JsValue, name: &str) -> Option<T> {
    Reflect::get(env, &JsValue::from_str(name))
        .ok()
        .filter(|value| value.is_object())
        .map(JsCast::unchecked_into)
}

/// A text binding (a var or a secret) of the Worker's environment.
pub fn var(env: &JsValue, name: &str) -> Option<String> {
    Reflect::get(env, &JsValue::from_str(name))
        .ok()
        .and_then(|v| v.as_string())
}

/// A new random job id (`edge-` and 16 hex digits).
pub fn new_job_id() -> String {
    let hex: String = random_uuid().chars().filter(char::is_ascii_hexdigit).take(16).collect();
    format!("edge-{hex}")
}

/// A request with headers and an optional body.
pub fn request(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Result<Request, String> {
    let header_map = Headers::new().map_err(|e| js_error_text(&e))?;
    for (name, value) in headers {
        header_map.set(name, value).map_err(|e| js_error_text(&e))?;
    }
    let init = RequestInit::new();
    init.set_method(method);
    init.set_headers(&header_map);
    if let Some(body) = body {
        init.set_body(&Uint8Array::from(body));
    }
    Request::new_with_str_and_init(url, &init).map_err(|e| js_error_text(&e))
}

/// A response with a body and headers.
pub fn response(status: u16, headers: &[(&str, &str)], body: Option<&[u8]>) -> Response {
    let init = ResponseInit::new();
    init.set_status(status);
    let header_map = Headers::new().expect("Headers");
    for (name, value) in headers {
        let _ = header_map.set(name, value);
    }
    init.set_headers(&header_map);
    let body = body.map(Uint8Array::from);
    Response::new_with_opt_buffer_source_and_init(body.as_ref().map(|b| b.as_ref()), &init).expect("Response")
}

/// A JSON response.
pub fn json_response(status: u16, body: &serde_json::Value) -> Response {
    response(
        status,
        &[("content-type", "application/json")],
        Some(body.to_string().as_bytes()),
    )
}

/// The proxy's own error shape.
pub fn error_response(status: u16, code: &str, message: &str) -> Response {
    response(
        status,
        &[("content-type", "application/json")],
        Some(sluice_proxy::route::error_body(code, message).as_bytes()),
    )
}

/// A response's body as bytes.
pub async fn body_bytes(response: &Response) -> Result<Vec<u8>, String> {
    let buffer = JsFuture::from(response.array_buffer().map_err(|e| js_error_text(&e))?)
        .await
        .map_err(|e| js_error_text(&e))?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// A request's body as bytes, refused past `limit`.
pub async fn request_bytes(request: &Request, limit: usize) -> Result<Vec<u8>, String> {
    let buffer = JsFuture::from(request.array_buffer().map_err(|e| js_error_text(&e))?)
        .await
        .map_err(|e| js_error_text(&e))?;
    let bytes = Uint8Array::new(&buffer);
    if bytes.length() as usize > limit {
        return Err(format!("the body is over {limit} bytes"));
    }
    Ok(bytes.to_vec())
}

/// A header of a request or response.
pub fn header(headers: &Headers, name: &str) -> Option<String> {
    headers.get(name).ok().flatten()
}

/// A copy of `response` with `extra` headers (a fetched response's headers are immutable).
pub fn with_headers(response: Response, extra: &[(&'static str, String)]) -> Response {
    if extra.is_empty() {
        return response;
    }
    let headers = Headers::new_with_headers(&response.headers()).expect("Headers");
    for (name, value) in extra {
        let _ = headers.set(name, value);
    }
    let init = ResponseInit::new();
    init.set_status(response.status());
    init.set_headers(&headers);
    Response::new_with_opt_readable_stream_and_init(response.body().as_ref(), &init).unwrap_or(response)
}

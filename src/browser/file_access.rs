//! Lasting access to local files through the File System Access API (Chromium-based browsers).
//!
//! A `File` picked through an `<input type="file">` is gone after a reload: the analyst has to pick it again. A file
//! chosen with `showOpenFilePicker` (or dropped, where `getAsFileSystemHandle` exists) comes with a
//! `FileSystemFileHandle`, which IndexedDB can store. After a reload the page reads the handle back and, once the
//! browser confirms read permission, opens the same file again without any picking. The browser may keep the
//! permission ("allow on every visit") or ask again; asking needs a click, so the page shows a button for it.
//!
//! Browsers without the API (Firefox, Safari) keep the classic file input: [`picker_available`] says which applies,
//! and every function here degrades to "no handle".

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::js_error_text;

// web-sys has these only behind its unstable-APIs flag; the few members Sluice uses are bound here.
#[wasm_bindgen]
extern "C" {
    /// A `FileSystemFileHandle`: a lasting reference to a file on the analyst's disk, storable in IndexedDB.
    #[wasm_bindgen(extends = js_sys::Object, js_name = FileSystemFileHandle)]
    #[derive(Clone, Debug, PartialEq)]
    pub type FileHandle;
    /// The file's name.
    #[wasm_bindgen(method, getter)]
    pub fn name(this: &FileHandle) -> String;
    #[wasm_bindgen(method, catch, js_name = getFile)]
    fn get_file(this: &FileHandle) -> Result<js_sys::Promise, JsValue>;
}

/// Whether this page may read a handle's file now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Yes: [`open`] reads it.
    Granted,
    /// The browser must ask the analyst first ([`ask_for_read_access`], from a click).
    Prompt,
    /// The analyst (or the browser's settings) refused.
    Denied,
}

fn window() -> JsValue {
    web_sys::window().map(JsValue::from).unwrap_or(JsValue::UNDEFINED)
}

fn method(target: &JsValue, name: &str) -> Option<js_sys::Function> {
    js_sys::Reflect::get(target, &name.into())
        .ok()
        .and_then(|value| value.dyn_into::<js_sys::Function>().ok())
}

/// True where the browser has `showOpenFilePicker` (files chosen with it can be reopened after a reload).
pub fn picker_available() -> bool {
    method(&window(), "showOpenFilePicker").is_some()
}

/// A file picked or dropped in this page, with its handle when the browser gave one.
#[derive(Clone, Debug)]
pub struct PickedFile {
    /// The file's bytes (valid until the page reloads).
    pub file: web_sys::File,
    /// A lasting reference to it, storable in IndexedDB; `None` from a classic file input.
    pub handle: Option<FileHandle>,
}

impl PickedFile {
    /// A file without a handle (classic file input).
    pub fn without_handle(file: web_sys::File) -> Self {
        PickedFile { file, handle: None }
    }
}

/// Opens the browser's file picker for import sources (several at once). Choosing nothing is `Ok(vec![])`.
pub async fn pick_files() -> Result<Vec<PickedFile>, String> {
    let window = window();
    let Some(show) = method(&window, "showOpenFilePicker") else {
        return Err("this browser has no file picker with lasting access; use the file field".into());
    };
    let options = js_sys::JSON::parse(
        r#"{"multiple": true, "id": "sluice-sources", "types": [{"description": "JSON, JSON Lines or gzip",
            "accept": {"application/json": [".json", ".jsonl", ".ndjson", ".gz"]}}]}"#,
    )
    .unwrap_or_default();
    let picked = match show.call1(&window, &options) {
        Ok(promise) => JsFuture::from(js_sys::Promise::from(promise)).await,
        Err(error) => Err(error),
    };
    let handles = match picked {
        Ok(handles) => js_sys::Array::from(&handles),
        // The analyst closed the dialog without choosing.
        Err(error) if error_name(&error).as_deref() == Some("AbortError") => return Ok(Vec::new()),
        Err(error) => return Err(format!("the file picker failed: {}", js_error_text(&error))),
    };
    let mut files = Vec::new();
    for handle in handles.iter() {
        let handle: FileHandle = handle.unchecked_into();
        let file = open(&handle).await?;
        files.push(PickedFile {
            file,
            handle: Some(handle),
        });
    }
    Ok(files)
}

/// The handles of the files dropped with `transfer`, in the order of its items (`None` where the browser gives
/// none). Must be called while the drop event is dispatched: the items are unreadable afterwards; the promises
/// are awaited later.
pub fn dropped_handles(transfer: &web_sys::DataTransfer) -> Vec<Option<js_sys::Promise>> {
    let items = transfer.items();
    (0..items.length())
        .filter_map(|i| items.get(i))
        .filter(|item| item.kind() == "file")
        .map(|item| {
            let item = JsValue::from(item);
            method(&item, "getAsFileSystemHandle")
                .and_then(|get| get.call0(&item).ok())
                .map(js_sys::Promise::from)
        })
        .collect()
}

/// Pairs dropped `files` with the handles from [`dropped_handles`] (a directory or a failed handle: no handle).
pub async fn with_dropped_handles(files: Vec<web_sys::File>, handles: Vec<Option<js_sys::Promise>>) -> Vec<PickedFile> {
    let mut picked = Vec::with_capacity(files.len());
    let mut handles = handles.into_iter();
    for file in files {
        let handle = match handles.next().flatten() {
            Some(promise) => JsFuture::from(promise)
                .await
                .ok()
                .filter(|handle| js_sys::Reflect::get(handle, &"kind".into()).ok() == Some("file".into()))
                .map(JsCast::unchecked_into::<FileHandle>),
            None => None,
        };
        picked.push(PickedFile { file, handle });
    }
    picked
}

fn read_mode() -> JsValue {
    js_sys::JSON::parse(r#"{"mode": "read"}"#).unwrap_or_default()
}

async fn permission(handle: &FileHandle, which: &str) -> Access {
    let handle = JsValue::from(handle);
    // Without the permission methods (an origin-private handle in some browsers), the handle's file is readable.
    let Some(call) = method(&handle, which) else {
        return Access::Granted;
    };
    let answer = match call.call1(&handle, &read_mode()) {
        Ok(promise) => JsFuture::from(js_sys::Promise::from(promise)).await,
        Err(error) => Err(error),
    };
    match answer.ok().and_then(|state| state.as_string()).as_deref() {
        Some("granted") => Access::Granted,
        Some("prompt") => Access::Prompt,
        _ => Access::Denied,
    }
}

/// Whether the page may read the handle's file now, without asking.
pub async fn read_access(handle: &FileHandle) -> Access {
    permission(handle, "queryPermission").await
}

/// Asks the analyst to allow reading the file again (the browser shows its own prompt). Call it from a click: the
/// browser refuses to ask otherwise.
pub async fn ask_for_read_access(handle: &FileHandle) -> Access {
    permission(handle, "requestPermission").await
}

/// The handle's file as it is on disk now.
pub async fn open(handle: &FileHandle) -> Result<web_sys::File, String> {
    let opened = match handle.get_file() {
        Ok(promise) => JsFuture::from(promise).await,
        Err(error) => Err(error),
    };
    opened.map(JsCast::unchecked_into).map_err(|error| {
        format!(
            "the browser could not open {} again ({}): it may have been moved, renamed or deleted",
            handle.name(),
            js_error_text(&error)
        )
    })
}

fn error_name(error: &JsValue) -> Option<String> {
    js_sys::Reflect::get(error, &"name".into()).ok()?.as_string()
}

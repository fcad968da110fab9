//! One tab per job. A job runs only while its tab holds the Web Lock named after it, so two tabs never send bulk
//! requests for the same job; the browser releases the lock when the tab closes or crashes. The tab that runs a job
//! also tells the others its figures over a `BroadcastChannel`, so they can show live progress.
//!
//! `navigator.locks` is reached through `Reflect`: web-sys has it only behind its unstable flag.

use std::cell::RefCell;
use std::rc::Rc;

use futures::channel::oneshot;
use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// A held lock; dropping it releases the lock.
pub struct JobLock {
    release: Option<Function>,
}

impl Drop for JobLock {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            let _ = release.call0(&JsValue::NULL);
        }
    }
}

/// The lock's name for a job.
pub fn lock_name(job_id: &str) -> String {
    format!("sluice-job:{job_id}")
}

fn lock_manager() -> Option<JsValue> {
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).ok()?;
    Reflect::get(&navigator, &"locks".into())
        .ok()
        .filter(|locks| !locks.is_undefined() && !locks.is_null())
}

/// Asks for the lock; `wait` false returns at once (`None` when another tab holds it), `wait` true resolves when
/// the lock is granted. Without Web Locks (an old browser, or a page not served over HTTPS or from localhost)
/// every request is granted: one tab per job is then up to the analyst.
async fn request(name: &str, wait: bool) -> Option<JobLock> {
    let Some(locks) = lock_manager() else {
        return Some(JobLock { release: None });
    };
    let (granted, answer) = oneshot::channel::<Option<Function>>();
    let granted = Rc::new(RefCell::new(Some(granted)));
    let callback = Closure::once_into_js(move |lock: JsValue| -> JsValue {
        let Some(granted) = granted.borrow_mut().take() else {
            return JsValue::UNDEFINED;
        };
        if lock.is_null() {
            let _ = granted.send(None);
            return JsValue::UNDEFINED;
        }
        // The lock is held until the promise returned here settles: its resolve function is the release.
        let mut release = None;
        let held = Promise::new(&mut |resolve, _reject| release = Some(resolve));
        let _ = granted.send(release);
        held.into()
    });
    let options = Object::new();
    let _ = Reflect::set(&options, &"ifAvailable".into(), &JsValue::from_bool(!wait));
    let request = Reflect::get(&locks, &"request".into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())?;
    let promise = request
        .call3(&locks, &JsValue::from_str(name), &options, &callback)
        .ok()?;
    // The request's own promise settles when the lock is released; a rejection (no lock granted) must not be lost.
    if let Ok(promise) = promise.dyn_into::<Promise>() {
        wasm_bindgen_futures::spawn_local(async move {
            let _ = JsFuture::from(promise).await;
        });
    }
    match answer.await {
        Ok(Some(release)) => Some(JobLock { release: Some(release) }),
        _ => None,
    }
}

/// Takes the job's lock if no other tab holds it.
pub async fn try_lock(job_id: &str) -> Option<JobLock> {
    request(&lock_name(job_id), false).await
}

/// Waits until no other tab holds the job's lock, then takes it.
pub async fn wait_for_lock(job_id: &str) -> Option<JobLock> {
    request(&lock_name(job_id), true).await
}

const CHANNEL: &str = "sluice-progress";

/// Tells the other tabs a job's figures: `{"job": id, "part": n, "progress": {...}}`.
pub struct ProgressBroadcast {
    channel: Option<web_sys::BroadcastChannel>,
}

impl ProgressBroadcast {
    /// Opens the channel (nothing is sent where BroadcastChannel is missing).
    pub fn open() -> Self {
        ProgressBroadcast {
            channel: web_sys::BroadcastChannel::new(CHANNEL).ok(),
        }
    }

    /// Sends one update.
    pub fn send(&self, job_id: &str, part: usize, progress: &sluice_engine::progress::Progress) {
        if let Some(channel) = &self.channel {
            let message = serde_json::json!({ "job": job_id, "part": part, "progress": progress });
            let _ = channel.post_message(&JsValue::from_str(&message.to_string()));
        }
    }
}

impl Drop for ProgressBroadcast {
    fn drop(&mut self) {
        if let Some(channel) = &self.channel {
            channel.close();
        }
    }
}

/// Calls `on_update(job, part, progress)` for every update another tab sends, for the life of the page.
pub fn listen(on_update: impl Fn(String, usize, sluice_engine::progress::Progress) + 'static) {
    let Ok(channel) = web_sys::BroadcastChannel::new(CHANNEL) else {
        return;
    };
    let handler = Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
        let Some(text) = event.data().as_string() else { return };
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&text) else {
            return;
        };
        let (Some(job), Some(part)) = (message["job"].as_str(), message["part"].as_u64()) else {
            return;
        };
        if let Ok(progress) = serde_json::from_value(message["progress"].clone()) {
            on_update(job.to_string(), part as usize, progress);
        }
    });
    channel.set_onmessage(Some(handler.as_ref().unchecked_ref()));
    // Both live as long as the page.
    handler.forget();
    std::mem::forget(channel);
}

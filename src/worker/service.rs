//! The worker's side: waits for a part from the page, runs it through the engine's job driver with the browser
//! adapters (fetch, `Blob` streams, gloo-net, IndexedDB all work the same in a worker), and reports its figures and
//! how it ended. One part at a time; the page sends the next one.

use std::cell::RefCell;
use std::rc::Rc;

use futures::channel::mpsc::{self, UnboundedReceiver, UnboundedSender};
use js_sys::Reflect;
use sluice_engine::job::{FailureKind, JobIo, JobPlan};
use sluice_engine::progress::Progress;
use sluice_engine::{run_job, ByteSource, Command};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

use super::protocol::{FromWorker, PartEnding, PartSource, RunPart, ToWorker};
use crate::browser::clock::BrowserClock;
use crate::browser::fetch_source::FetchSource;
use crate::browser::file_source::LocalFileSource;
use crate::browser::sink::ProxySink;
use crate::browser::store::IdbStore;

fn scope() -> web_sys::DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

fn tell_page(message: &FromWorker) {
    let _ = scope().post_message(&JsValue::from_str(&message.to_json()));
}

/// Listens to the page for the life of the worker. Called by the `sluice-worker` binary's `main`.
pub fn serve() {
    // The running part's pause and cancel.
    let controls: Rc<RefCell<Option<UnboundedSender<Command>>>> = Rc::default();
    let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
        let envelope = event.data();
        let text = Reflect::get(&envelope, &"message".into())
            .ok()
            .and_then(|text| text.as_string())
            .unwrap_or_default();
        match serde_json::from_str::<ToWorker>(&text) {
            Ok(ToWorker::Run(part)) => {
                let file = Reflect::get(&envelope, &"file".into())
                    .ok()
                    .and_then(|file| file.dyn_into::<web_sys::File>().ok());
                let (control, commands) = mpsc::unbounded();
                *controls.borrow_mut() = Some(control);
                wasm_bindgen_futures::spawn_local(async move {
                    let ending = run(*part, file, commands).await;
                    tell_page(&FromWorker::Ended { ending });
                });
            }
            Ok(ToWorker::Control { command }) => {
                if let Some(control) = controls.borrow().as_ref() {
                    let _ = control.unbounded_send(command);
                }
            }
            Err(error) => tell_page(&FromWorker::Refused {
                reason: format!(
                    "it could not read the page's request, {error}: the site was probably updated while this page \
                     was open, so reload the page"
                ),
            }),
        }
    });
    scope().set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // It serves as long as the worker lives.
    on_message.forget();
    tell_page(&FromWorker::Ready);
}

async fn run(part: RunPart, file: Option<web_sys::File>, commands: UnboundedReceiver<Command>) -> PartEnding {
    match (&part.source, file) {
        (PartSource::Url(object), _) => {
            let source = FetchSource::new(object.clone());
            import(part, source, commands).await
        }
        (PartSource::LocalFile, Some(file)) => import(part, LocalFileSource::new(file), commands).await,
        (PartSource::LocalFile, None) => PartEnding::Failed {
            kind: FailureKind::SourceUnreadable,
            message: "the page did not hand the local file over; pick it again".into(),
        },
    }
}

async fn import<S: ByteSource>(part: RunPart, source: S, commands: UnboundedReceiver<Command>) -> PartEnding {
    let store = match IdbStore::open().await {
        Ok(store) => store,
        Err(error) => {
            return PartEnding::Failed {
                kind: FailureKind::Storage,
                message: error.to_string(),
            }
        }
    };
    let sink = ProxySink::new(&part.proxy, part.token);
    let mut on_progress = |progress: &Progress| {
        tell_page(&FromWorker::Progress {
            progress: progress.clone(),
        })
    };
    let result = run_job(
        JobPlan {
            checkpoint: part.checkpoint,
            tuning: part.tuning,
            seed: part.seed,
        },
        source,
        JobIo {
            sink: &sink,
            checkpoints: &store,
            dead_letters: &store,
            clock: &BrowserClock,
        },
        commands,
        &mut on_progress,
    )
    .await;
    match result {
        Ok(outcome) => PartEnding::Finished { status: outcome.status },
        Err(failure) => PartEnding::Failed {
            kind: failure.kind,
            message: failure.message,
        },
    }
}

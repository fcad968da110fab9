//! The page's side of the engine's worker: starts it, hands it one part, relays pause and cancel, and passes its
//! figures on until the part ends. Dropping an [`EngineWorker`] terminates the worker.

use futures::channel::mpsc::{self, UnboundedReceiver};
use futures::{FutureExt, StreamExt};
use js_sys::{Object, Reflect};
use sluice_engine::progress::Progress;
use sluice_engine::{Clock, Command};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

use super::protocol::{FromWorker, PartEnding, RunPart, ToWorker};
use crate::browser::clock::BrowserClock;

/// How long a worker may take to load before the page gives up on it (its wasm is compiled on a loaded machine).
const START_TIMEOUT_MS: u64 = 30_000;

/// What the page hears from its worker.
enum Heard {
    Said(FromWorker),
    /// The worker failed to load or crashed; the text says how.
    Broke(String),
}

/// A running engine worker.
pub struct EngineWorker {
    worker: web_sys::Worker,
    heard: UnboundedReceiver<Heard>,
    /// The worker said `Ready` (once, when it loaded).
    ready: bool,
    _on_message: Closure<dyn FnMut(web_sys::MessageEvent)>,
    _on_error: Closure<dyn FnMut(web_sys::Event)>,
}

impl Drop for EngineWorker {
    fn drop(&mut self) {
        self.worker.terminate();
    }
}

/// What an error event says, as far as it says anything (a script that failed to load gives a bare event).
fn error_text(event: &web_sys::Event) -> String {
    Reflect::get(event, &"message".into())
        .ok()
        .and_then(|message| message.as_string())
        .filter(|message| !message.is_empty())
        .unwrap_or_else(|| format!("{} could not be loaded or run", super::SCRIPT))
}

impl EngineWorker {
    /// Starts a worker. It loads while the page does other work; [`EngineWorker::run`] waits for it.
    pub fn spawn() -> Result<Self, String> {
        let worker = web_sys::Worker::new(super::SCRIPT).map_err(|e| {
            format!(
                "this browser could not start the import's worker ({}): \
                 Sluice needs Web Workers; try a current Chrome, Edge or Firefox",
                crate::browser::js_error_text(&e)
            )
        })?;
        let (tell, heard) = mpsc::unbounded();
        let on_message = {
            let tell = tell.clone();
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
                let said = event
                    .data()
                    .as_string()
                    .and_then(|text| serde_json::from_str(&text).ok());
                let _ = tell.unbounded_send(match said {
                    Some(said) => Heard::Said(said),
                    None => Heard::Broke("the import's worker sent a message this page cannot read".into()),
                });
            })
        };
        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
            event.prevent_default();
            let _ = tell.unbounded_send(Heard::Broke(error_text(&event)));
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        Ok(EngineWorker {
            worker,
            heard,
            ready: false,
            _on_message: on_message,
            _on_error: on_error,
        })
    }

    fn post(&self, message: &ToWorker, file: Option<&web_sys::File>) -> Result<(), String> {
        let envelope = Object::new();
        let _ = Reflect::set(&envelope, &"message".into(), &JsValue::from_str(&message.to_json()));
        if let Some(file) = file {
            let _ = Reflect::set(&envelope, &"file".into(), file);
        }
        self.worker.post_message(&envelope).map_err(|e| {
            format!(
                "could not reach the import's worker: {}",
                crate::browser::js_error_text(&e)
            )
        })
    }

    /// Waits until the worker listens (the first time; it keeps listening for the next parts).
    async fn ready(&mut self) -> Result<(), String> {
        if self.ready {
            return Ok(());
        }
        let clock = BrowserClock;
        let mut timeout = Box::pin(clock.sleep(START_TIMEOUT_MS).fuse());
        loop {
            futures::select! {
                heard = self.heard.next() => match heard {
                    Some(Heard::Said(FromWorker::Ready)) => {
                        self.ready = true;
                        return Ok(());
                    }
                    Some(Heard::Broke(message)) => return Err(message),
                    Some(Heard::Said(_)) => {}
                    None => return Err("the import's worker went away".into()),
                },
                () = timeout => {
                    return Err(format!("the import's worker did not start within {} s", START_TIMEOUT_MS / 1000));
                }
            }
        }
    }

    /// Runs one part in the worker: `file` is the part's local file (`None` for an object behind a URL), `commands`
    /// the analyst's pause and cancel, `on_progress` gets each of the worker's figures. `Err` says, for the analyst,
    /// how the worker failed to start or broke (the checkpoint it saved last stands, so the part can resume).
    pub async fn run(
        &mut self,
        part: RunPart,
        file: Option<&web_sys::File>,
        commands: UnboundedReceiver<Command>,
        on_progress: &mut dyn FnMut(&Progress),
    ) -> Result<PartEnding, String> {
        self.ready().await.map_err(|why| {
            format!(
                "the import's worker could not start ({why}). The site must serve {}, sluice-worker.js and \
                 sluice-worker_bg.wasm beside index.html; once it does, Resume continues the import where it stopped",
                super::SCRIPT
            )
        })?;
        let stopped = |why: String| {
            format!("the import's worker stopped ({why}); the last checkpoint is saved: resume to continue")
        };
        self.post(&ToWorker::Run(Box::new(part)), file).map_err(stopped)?;
        let mut commands = commands.fuse();
        loop {
            let why = futures::select! {
                command = commands.next() => match command {
                    Some(command) => match self.post(&ToWorker::Control { command }, None) {
                        Ok(()) => continue,
                        Err(why) => why,
                    },
                    None => continue,
                },
                heard = self.heard.next() => match heard {
                    Some(Heard::Said(FromWorker::Progress { progress })) => {
                        on_progress(&progress);
                        continue;
                    }
                    Some(Heard::Said(FromWorker::Ended { ending })) => return Ok(ending),
                    Some(Heard::Said(FromWorker::Ready)) => continue,
                    Some(Heard::Said(FromWorker::Refused { reason })) => reason,
                    Some(Heard::Broke(message)) => message,
                    None => "the import's worker went away".into(),
                },
            };
            return Err(stopped(why));
        }
    }
}

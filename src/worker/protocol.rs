//! What the page and the engine's worker say to each other. Messages are JSON text: the engine's own documents
//! (checkpoint, tuning, progress) already serialise, and text crosses `postMessage` cheaply.

use serde::{Deserialize, Serialize};
use sluice_engine::job::FailureKind;
use sluice_engine::progress::Progress;
use sluice_engine::{Checkpoint, Command, JobStatus, Tuning};

use crate::browser::fetch_source::RemoteObject;

/// From the page to the worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToWorker {
    /// Import one part, from its checkpoint on. One at a time.
    Run(Box<RunPart>),
    /// Pause or cancel the part that runs.
    Control {
        /// What the analyst asked.
        command: Command,
    },
}

/// One part to import.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunPart {
    /// Where to start: a new checkpoint, or one that passed `check_resume` on the page.
    pub checkpoint: Checkpoint,
    /// Speed knobs.
    pub tuning: Tuning,
    /// Seed of the retry jitter.
    pub seed: u64,
    /// The proxy's base URL ("" for the page's own origin).
    pub proxy: String,
    /// The analyst token, if the proxy wants one.
    pub token: Option<String>,
    /// Where the bytes come from.
    pub source: PartSource,
}

/// Where a part's bytes come from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartSource {
    /// An object the page probed.
    Url(RemoteObject),
    /// The local file posted with the message.
    LocalFile,
}

/// From the worker to the page.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromWorker {
    /// The worker listens: the page may send `Run`.
    Ready,
    /// The running part's latest figures.
    Progress {
        /// The figures.
        progress: Progress,
    },
    /// The worker could not read the page's message (a page and a worker from different deployments).
    Refused {
        /// What to do.
        reason: String,
    },
    /// The part stopped; its checkpoint is saved.
    Ended {
        /// How.
        ending: PartEnding,
    },
}

/// How a part's run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "how", rename_all = "snake_case")]
pub enum PartEnding {
    /// Completed, paused or cancelled.
    Finished {
        /// Which.
        status: JobStatus,
    },
    /// Stopped on an error (resumable once its cause is fixed).
    Failed {
        /// What kind of error.
        kind: FailureKind,
        /// What happened and what to do.
        message: String,
    },
}

impl ToWorker {
    /// The message as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("messages serialise")
    }
}

impl FromWorker {
    /// The message as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("messages serialise")
    }
}

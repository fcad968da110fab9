//! A job of several objects ("parts"), imported one after the other, each with its own checkpoint.
//!
//! The engine's driver imports one object per run; the manifest is what ties the runs of a job together: the parts
//! in order, the settings they all share and the tuning. Because every part keeps its own byte-exact checkpoint, a
//! resume continues inside the part that was running, and the parts before it are never read again.

use serde::{Deserialize, Serialize};

use crate::checkpoint::{Checkpoint, JobStatus, SourceIdentity};
use crate::progress::Progress;
use crate::settings::{ImportSettings, Tuning};

/// The manifest schema version this build writes and reads.
pub const MANIFEST_VERSION: u32 = 1;

/// One object of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    /// The part's id: the key of its checkpoint, dead letters and stored URL.
    pub id: String,
    /// What the analyst sees: the redacted URL or the file name.
    pub label: String,
    /// A local file (picked in the browser) rather than a URL: after a reload the analyst must pick it again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub local_file: bool,
}

/// A job: its parts in import order and what they share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobManifest {
    /// [`MANIFEST_VERSION`].
    pub schema_version: u32,
    /// The job's id.
    pub id: String,
    /// When the analyst started it (ms since the Unix epoch).
    pub created_at_ms: u64,
    /// Settings every part runs with.
    pub settings: ImportSettings,
    /// Speed knobs (free to change between runs).
    #[serde(default)]
    pub tuning: Tuning,
    /// The objects, in the order they are imported.
    pub parts: Vec<Part>,
}

impl JobManifest {
    /// A new job over the objects behind URLs labelled `urls`, then the local files named `files`, in that order.
    pub fn new(
        id: impl Into<String>,
        created_at_ms: u64,
        settings: ImportSettings,
        tuning: Tuning,
        urls: Vec<String>,
        files: Vec<String>,
    ) -> Self {
        let id = id.into();
        let sources = urls
            .into_iter()
            .map(|label| (label, false))
            .chain(files.into_iter().map(|name| (name, true)));
        let parts = sources
            .enumerate()
            .map(|(n, (label, local_file))| Part {
                id: part_id(&id, n),
                label,
                local_file,
            })
            .collect();
        JobManifest {
            schema_version: MANIFEST_VERSION,
            id,
            created_at_ms,
            settings,
            tuning,
            parts,
        }
    }

    /// The manifest of a one-object job stored before manifests existed: its only part is the checkpoint itself.
    pub fn for_lone_checkpoint(checkpoint: &Checkpoint) -> Self {
        JobManifest {
            schema_version: MANIFEST_VERSION,
            id: checkpoint.job_id.clone(),
            created_at_ms: checkpoint.created_at_ms,
            settings: checkpoint.settings.clone(),
            tuning: Tuning::default(),
            parts: vec![Part {
                id: checkpoint.job_id.clone(),
                label: source_label(&checkpoint.source),
                local_file: checkpoint.source.url.is_none() && checkpoint.source.name.is_some(),
            }],
        }
    }

    /// Checks the manifest can be used by this build.
    pub fn check(&self) -> Result<(), String> {
        if self.schema_version != MANIFEST_VERSION {
            return Err(format!(
                "the job description has schema version {}; this Sluice reads version {MANIFEST_VERSION}",
                self.schema_version
            ));
        }
        if self.parts.is_empty() {
            return Err("the job has no objects".into());
        }
        Ok(())
    }
}

/// The id of part `n` of job `job_id`. `#` never occurs in generated job ids, so part ids cannot collide with
/// another job's keys.
pub fn part_id(job_id: &str, n: usize) -> String {
    format!("{job_id}#{n}")
}

/// What the analyst sees for a source: its URL without the query string, or a file's name.
pub fn source_label(source: &SourceIdentity) -> String {
    source
        .url
        .clone()
        .or_else(|| source.name.clone())
        .unwrap_or_else(|| "unnamed source".into())
}

/// The part to run next: the first one that is not completed (`None` when all are). `statuses` holds each part's
/// checkpoint status, `None` for a part not started yet.
pub fn next_part(statuses: &[Option<JobStatus>]) -> Option<usize> {
    statuses.iter().position(|status| *status != Some(JobStatus::Completed))
}

/// The job's status from its parts': completed when all are; otherwise the status of the part to run next (a part
/// not started yet after completed ones counts as running: the job was interrupted between two objects).
pub fn job_status(statuses: &[Option<JobStatus>]) -> JobStatus {
    match next_part(statuses) {
        None => JobStatus::Completed,
        Some(n) => statuses[n].unwrap_or(JobStatus::Running),
    }
}

/// The job's figures from its parts' (`current` is the part running now): counts and committed bytes add up,
/// rates are the running part's, and the time left counts the bytes of every part not done yet. The total size is
/// known only when every part's is.
pub fn combine(parts: &[Progress], current: usize) -> Progress {
    let mut total = Progress::default();
    let mut sizes = Some(0u64);
    for part in parts {
        total.records += part.records;
        total.bytes_read += part.bytes_read;
        total.committed_offset += part.committed_offset;
        total.indexed += part.indexed;
        total.failed += part.failed;
        total.retried += part.retried;
        total.retried_requests += part.retried_requests;
        sizes = sizes.zip(part.total_bytes).map(|(sum, size)| sum + size);
    }
    total.total_bytes = sizes;
    if let Some(running) = parts.get(current) {
        total.status = running.status;
        total.in_flight = running.in_flight;
        total.concurrency = running.concurrency;
        total.rejections_per_min = running.rejections_per_min;
        total.docs_per_sec = running.docs_per_sec;
        total.bytes_per_sec = running.bytes_per_sec;
        total.note = running.note.clone();
        total.eta_ms = match (sizes, running.eta_ms) {
            (Some(size), _) if running.bytes_per_sec > 0.0 => {
                let left = size.saturating_sub(total.committed_offset);
                Some((left as f64 / running.bytes_per_sec * 1000.0) as u64)
            }
            (_, eta) => eta,
        };
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(committed: u64, size: Option<u64>, indexed: u64) -> Progress {
        Progress {
            committed_offset: committed,
            bytes_read: committed,
            total_bytes: size,
            indexed,
            records: indexed,
            ..Progress::default()
        }
    }

    #[test]
    fn parts_are_named_after_the_job_and_keep_their_order() {
        let manifest = JobManifest::new(
            "job-1",
            5,
            ImportSettings::new("logs"),
            Tuning::default(),
            vec!["a".into(), "b".into()],
            vec!["c.jsonl".into()],
        );
        let ids: Vec<_> = manifest.parts.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["job-1#0", "job-1#1", "job-1#2"]);
        let local: Vec<_> = manifest.parts.iter().map(|p| p.local_file).collect();
        assert_eq!(local, [false, false, true]);
        assert_eq!(manifest.check(), Ok(()));
        let json = serde_json::to_string(&manifest).unwrap();
        assert_eq!(serde_json::from_str::<JobManifest>(&json).unwrap(), manifest);
    }

    #[test]
    fn the_next_part_is_the_first_not_completed() {
        use JobStatus::*;
        assert_eq!(next_part(&[Some(Completed), Some(Running), None]), Some(1));
        assert_eq!(next_part(&[Some(Completed), None]), Some(1));
        assert_eq!(next_part(&[Some(Completed), Some(Completed)]), None);
        assert_eq!(job_status(&[Some(Completed), None]), Running);
        assert_eq!(job_status(&[Some(Completed), Some(Paused), None]), Paused);
        assert_eq!(job_status(&[Some(Completed)]), Completed);
        assert_eq!(job_status(&[None, None]), Running);
    }

    #[test]
    fn figures_add_up_and_the_size_is_known_only_when_every_part_is() {
        let mut running = progress(50, Some(200), 5);
        running.bytes_per_sec = 10.0;
        running.docs_per_sec = 3.0;
        let parts = [progress(100, Some(100), 10), running, progress(0, Some(300), 0)];
        let job = combine(&parts, 1);
        assert_eq!(
            (job.committed_offset, job.indexed, job.total_bytes),
            (150, 15, Some(600))
        );
        assert_eq!(job.docs_per_sec, 3.0);
        // 450 bytes left at 10 bytes/s.
        assert_eq!(job.eta_ms, Some(45_000));
        let unknown = combine(&[progress(100, Some(100), 10), progress(0, None, 0)], 1);
        assert_eq!(unknown.total_bytes, None);
    }

    #[test]
    fn a_lone_checkpoint_is_a_job_of_one_part_with_its_own_id() {
        let source = SourceIdentity {
            url: Some("https://b.s3.amazonaws.com/k.jsonl".into()),
            ..SourceIdentity::default()
        };
        let checkpoint = Checkpoint::start("job-7", source, ImportSettings::new("logs"), 1);
        let manifest = JobManifest::for_lone_checkpoint(&checkpoint);
        assert_eq!(manifest.parts.len(), 1);
        assert_eq!(manifest.parts[0].id, "job-7");
        assert_eq!(manifest.parts[0].label, "https://b.s3.amazonaws.com/k.jsonl");
    }
}

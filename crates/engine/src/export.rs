//! A job's checkpoints as one file, to continue in another browser or on another machine.
//!
//! The file holds the job's manifest and each started part's checkpoint. Presigned URLs are secrets, so they are
//! left out unless the analyst asks for them; the importing side supplies fresh ones, and the checkpoint's source
//! identity (bucket/key, ETag, size) proves they reach the same objects. Reading a file checks everything that can
//! be checked without the objects and says, in words, each thing that does not match.

use serde::{Deserialize, Serialize};

use crate::checkpoint::{Checkpoint, SCHEMA_VERSION};
use crate::manifest::JobManifest;

/// What the file says it is.
pub const EXPORT_KIND: &str = "sluice-job-checkpoint";
/// The version of the file's layout.
pub const EXPORT_VERSION: u32 = 1;

/// A job exported to a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobExport {
    /// [`EXPORT_KIND`].
    pub kind: String,
    /// [`EXPORT_VERSION`].
    pub export_version: u32,
    /// When it was exported (ms since the Unix epoch).
    pub exported_at_ms: u64,
    /// The job.
    pub manifest: JobManifest,
    /// The checkpoints of the parts started so far.
    pub checkpoints: Vec<Checkpoint>,
    /// The full URLs of the parts, by part id, only when the analyst chose to include them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<(String, String)>,
}

impl JobExport {
    /// A file for `manifest` and its checkpoints (and URLs, when given).
    pub fn new(manifest: JobManifest, checkpoints: Vec<Checkpoint>, urls: Vec<(String, String)>, now_ms: u64) -> Self {
        JobExport {
            kind: EXPORT_KIND.into(),
            export_version: EXPORT_VERSION,
            exported_at_ms: now_ms,
            manifest,
            checkpoints,
            urls,
        }
    }

    /// The file's bytes (pretty JSON: people open these files).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// Reads and checks a file. `Err` lists every problem found, in words.
    pub fn from_json(bytes: &[u8]) -> Result<Self, Vec<String>> {
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| vec![format!("the file is not JSON ({e}); choose a file exported by Sluice")])?;
        if value["kind"] != EXPORT_KIND {
            return Err(vec![
                "the file is not a Sluice checkpoint export (its \"kind\" is not \"sluice-job-checkpoint\")".into(),
            ]);
        }
        if value["export_version"] != EXPORT_VERSION {
            return Err(vec![format!(
                "the file has export version {}; this Sluice reads version {EXPORT_VERSION}",
                value["export_version"]
            )]);
        }
        let export: JobExport = serde_json::from_value(value).map_err(|e| vec![format!("the file is damaged: {e}")])?;
        let problems = export.problems();
        if problems.is_empty() {
            Ok(export)
        } else {
            Err(problems)
        }
    }

    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(problem) = self.manifest.check() {
            problems.push(problem);
        }
        for checkpoint in &self.checkpoints {
            let Some(part) = self.manifest.parts.iter().find(|p| p.id == checkpoint.job_id) else {
                problems.push(format!(
                    "the checkpoint {} belongs to none of the job's objects",
                    checkpoint.job_id
                ));
                continue;
            };
            if checkpoint.schema_version != SCHEMA_VERSION {
                problems.push(format!(
                    "the checkpoint of {} has schema version {}; this Sluice reads version {SCHEMA_VERSION}",
                    part.label, checkpoint.schema_version
                ));
            }
            if checkpoint.settings_hash != checkpoint.settings.hash() {
                problems.push(format!(
                    "the settings in the checkpoint of {} were edited after it was written (their hash does not \
                     match); resuming with them could index the rest differently",
                    part.label
                ));
            }
            if checkpoint.settings != self.manifest.settings {
                problems.push(format!(
                    "the checkpoint of {} has other settings than its job (index, format, action, id field or \
                     pipeline)",
                    part.label
                ));
            }
            if let Some(size) = checkpoint.source.size.filter(|_| !checkpoint.source.gzip) {
                if checkpoint.committed_offset > size {
                    problems.push(format!(
                        "the checkpoint of {} is at byte {} of a {size}-byte object",
                        part.label, checkpoint.committed_offset
                    ));
                }
            }
        }
        let mut ids: Vec<&str> = self.checkpoints.iter().map(|c| c.job_id.as_str()).collect();
        ids.sort_unstable();
        if ids.windows(2).any(|pair| pair[0] == pair[1]) {
            problems.push("the file holds two checkpoints for the same object".into());
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::SourceIdentity;
    use crate::settings::{ImportSettings, Tuning};

    fn export() -> JobExport {
        let settings = ImportSettings::new("logs");
        let manifest = JobManifest::new(
            "job-1",
            1,
            settings.clone(),
            Tuning::default(),
            vec!["a".into()],
            vec![],
        );
        let source = SourceIdentity {
            bucket: Some("b".into()),
            key: Some("a.jsonl".into()),
            etag: Some("\"e\"".into()),
            size: Some(1000),
            ..SourceIdentity::default()
        };
        let mut checkpoint = Checkpoint::start("job-1#0", source, settings, 1);
        checkpoint.committed_offset = 600;
        JobExport::new(manifest, vec![checkpoint], vec![], 2)
    }

    #[test]
    fn a_file_reads_back_as_written() {
        let file = export();
        assert_eq!(JobExport::from_json(&file.to_json()), Ok(file));
    }

    #[test]
    fn every_mismatch_is_explained() {
        let mut edited = export();
        edited.checkpoints[0].settings.index = "other".into();
        edited.checkpoints[0].schema_version = 9;
        edited.checkpoints[0].committed_offset = 5000;
        let problems = JobExport::from_json(&edited.to_json()).unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("schema version 9")));
        assert!(problems.iter().any(|p| p.contains("were edited")));
        assert!(problems.iter().any(|p| p.contains("other settings than its job")));
        assert!(problems.iter().any(|p| p.contains("at byte 5000")));

        let mut stray = export();
        stray.checkpoints[0].job_id = "job-2#0".into();
        assert!(JobExport::from_json(&stray.to_json()).unwrap_err()[0].contains("none of the job's objects"));
    }

    #[test]
    fn other_files_are_refused_with_a_reason() {
        assert!(JobExport::from_json(b"{not json").unwrap_err()[0].contains("not JSON"));
        assert!(JobExport::from_json(br#"{"kind":"x"}"#).unwrap_err()[0].contains("not a Sluice checkpoint"));
        let mut newer = serde_json::to_value(export()).unwrap();
        newer["export_version"] = 7.into();
        let problems = JobExport::from_json(newer.to_string().as_bytes()).unwrap_err();
        assert!(problems[0].contains("export version 7"));
    }
}

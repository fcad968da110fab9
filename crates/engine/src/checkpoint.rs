//! The checkpoint: a versioned JSON document that says how far a job got, so it can resume byte-exact.

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use crate::csv_source::CsvLayout;

use crate::format::Format;
use crate::settings::ImportSettings;

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// What a source is, as far as resuming is concerned. Never holds a presigned URL's query string (its signature).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceIdentity {
    /// The URL without its query string, or `None` for a local file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// S3 bucket, when the URL names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// S3 object key, when the URL names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// A local file's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The object's ETag, quotes included, as the server sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// Size in bytes (of the stored object; for gzip, of the compressed bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Last-Modified as the server sent it, or a file's lastModified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// The bytes are gzip-compressed; offsets count decompressed bytes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gzip: bool,
    /// A hash of the first 64 KiB (local files in the browser, which have no ETag): a file picked again after a
    /// reload must match it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_hash: Option<String>,
}

impl SourceIdentity {
    /// A stable name for the source, independent of any signature: derived `_id`s are made from it, so the same
    /// object reached through a fresh presigned URL yields the same ids.
    pub fn id_namespace(&self) -> String {
        match (&self.bucket, &self.key, &self.url, &self.name) {
            (Some(bucket), Some(key), _, _) => format!("s3://{bucket}/{key}"),
            (_, _, Some(url), _) => url.clone(),
            (_, _, _, Some(name)) => format!("file:{name}"),
            _ => String::from("unnamed-source"),
        }
    }

    /// A short name for a person and for the set-source-name transform: the object key, else the file name, else
    /// the URL's path (never its query string).
    pub fn display_name(&self) -> String {
        if let Some(key) = self.key.as_ref().or(self.name.as_ref()) {
            return key.clone();
        }
        self.url
            .as_deref()
            .map(|url| url.split(['?', '#']).next().unwrap_or(url).to_string())
            .unwrap_or_default()
    }

    /// Checks that `current` is the same object as `self` (the one the checkpoint was made from). Returns what
    /// differs, in words, when it is not.
    pub fn check_same_object(&self, current: &SourceIdentity) -> Result<(), String> {
        if self.id_namespace() != current.id_namespace() {
            return Err(format!(
                "it is a different object: the checkpoint is for {}, this is {}",
                self.id_namespace(),
                current.id_namespace()
            ));
        }
        if let (Some(before), Some(now)) = (self.size, current.size) {
            if before != now {
                return Err(format!("its size changed from {before} to {now} bytes"));
            }
        }
        match (&self.etag, &current.etag) {
            (Some(before), Some(now)) if before != now => {
                return Err(format!(
                    "its ETag changed from {before} to {now} (the object was rewritten)"
                ))
            }
            (Some(_), Some(_)) => {}
            // Without ETags (local files), fall back on the modification time.
            _ => {
                if let (Some(before), Some(now)) = (&self.last_modified, &current.last_modified) {
                    if before != now {
                        return Err(format!("it was modified ({before} then, {now} now)"));
                    }
                }
            }
        }
        if let (Some(before), Some(now)) = (&self.head_hash, &current.head_hash) {
            if before != now {
                return Err("its first 64 KiB differ from the file the import started with".into());
            }
        }
        if self.gzip != current.gzip {
            return Err("its compression changed".into());
        }
        Ok(())
    }
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Running (or interrupted while running: a crash or a closed tab leaves this status).
    Running,
    /// Paused by the user; in-flight requests were allowed to finish first.
    Paused,
    /// Every record is indexed or in dead letters.
    Completed,
    /// Stopped by an error; `last_error` says which. Resumable once the cause is fixed.
    Failed,
    /// Stopped by the user without waiting for in-flight requests. Resumable.
    Cancelled,
}

/// Committed totals (up to the committed offset), plus the running count of retries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Records indexed (or found already indexed).
    pub indexed: u64,
    /// Records stored as dead letters.
    pub failed: u64,
    /// Item retries so far: documents sent again (informational; includes retries of records later replayed).
    pub retried: u64,
    /// Bulk requests sent again (whole or for some of their items).
    #[serde(default)]
    pub retried_requests: u64,
}

/// The checkpoint document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Schema version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// The job this checkpoint belongs to.
    pub job_id: String,
    /// When the job started (ms since the Unix epoch).
    pub created_at_ms: u64,
    /// When this checkpoint was saved (ms since the Unix epoch).
    pub updated_at_ms: u64,
    /// The source.
    pub source: SourceIdentity,
    /// The detected format, once known; a resumed job uses it instead of detecting again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    /// For CSV and TSV, once the header is read: the delimiter, the columns and their types, so that a resume
    /// converts rows as the start did without reading the start again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<CsvLayout>,
    /// The settings the job runs with.
    pub settings: ImportSettings,
    /// `settings.hash()` when the job started.
    pub settings_hash: String,
    /// Everything before this absolute offset is indexed or in dead letters.
    pub committed_offset: u64,
    /// Records before the committed offset.
    pub committed_records: u64,
    /// Totals.
    pub counters: Counters,
    /// Status.
    pub status: JobStatus,
    /// The error that stopped the job, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Why a checkpoint cannot be used to resume.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ResumeRefusal {
    /// Written by another version of Sluice.
    #[error("the checkpoint has schema version {found}; this Sluice reads version {SCHEMA_VERSION}")]
    SchemaVersion {
        /// The version found.
        found: u32,
    },
    /// Not the same object any more.
    #[error("the source changed since the checkpoint: {0}. Start the import over to index the new content.")]
    SourceChanged(String),
    /// Different settings would make the replayed part differ from what was indexed.
    #[error(
        "the import settings differ from the checkpoint's (index, format, action, id field, pipeline, transforms or limits); \
         resume with the original settings or start over"
    )]
    SettingsChanged,
    /// Only the transforms differ: named apart, since changing them is the likeliest mistake.
    #[error(
        "the transforms differ from the checkpoint's (it was started with: {before}; now: {now}): the records \
         after the checkpoint would be sent differently from those already indexed. Resume with the original \
         transforms, or start over"
    )]
    TransformsChanged {
        /// The checkpoint's transforms, described.
        before: String,
        /// The transforms asked for now, described.
        now: String,
    },
    /// The committed offset is past the end of the source.
    #[error("the checkpoint is at byte {offset} but the source has only {size} bytes")]
    OffsetBeyondSize {
        /// Committed offset.
        offset: u64,
        /// Source size.
        size: u64,
    },
    /// The checkpoint is not readable.
    #[error("the checkpoint is not readable: {0}")]
    Unreadable(String),
}

impl Checkpoint {
    /// After a retry of failed records: `remaining` dead letters are still stored, every other committed record is
    /// indexed. Counted from the store rather than added up, so a retry interrupted and run again counts right.
    pub fn settle_repair(&mut self, remaining: u64) {
        self.counters.failed = remaining;
        self.counters.indexed = self.committed_records.saturating_sub(remaining);
    }

    /// A checkpoint for a job that starts now from byte 0.
    pub fn start(job_id: impl Into<String>, source: SourceIdentity, settings: ImportSettings, now_ms: u64) -> Self {
        Checkpoint {
            schema_version: SCHEMA_VERSION,
            job_id: job_id.into(),
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
            source,
            format: settings.format.fixed(),
            csv: None,
            settings_hash: settings.hash(),
            settings,
            committed_offset: 0,
            committed_records: 0,
            counters: Counters::default(),
            status: JobStatus::Running,
            last_error: None,
        }
    }

    /// Reads a checkpoint document, refusing other schema versions.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ResumeRefusal> {
        #[derive(Deserialize)]
        struct Version {
            schema_version: u32,
        }
        let version: Version =
            serde_json::from_slice(bytes).map_err(|error| ResumeRefusal::Unreadable(error.to_string()))?;
        if version.schema_version != SCHEMA_VERSION {
            return Err(ResumeRefusal::SchemaVersion {
                found: version.schema_version,
            });
        }
        serde_json::from_slice(bytes).map_err(|error| ResumeRefusal::Unreadable(error.to_string()))
    }

    /// The document as pretty JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// Checks that this checkpoint can continue against `current` (the source as it is now) with `settings`.
    pub fn check_resume(&self, current: &SourceIdentity, settings: &ImportSettings) -> Result<(), ResumeRefusal> {
        if self.schema_version != SCHEMA_VERSION {
            return Err(ResumeRefusal::SchemaVersion {
                found: self.schema_version,
            });
        }
        self.source
            .check_same_object(current)
            .map_err(ResumeRefusal::SourceChanged)?;
        if settings.hash() != self.settings_hash || self.settings.hash() != self.settings_hash {
            let same_but_transforms = ImportSettings {
                transforms: settings.transforms.clone(),
                ..self.settings.clone()
            };
            if settings.transforms != self.settings.transforms && same_but_transforms == *settings {
                let describe = |list: &[crate::transform::Transform]| {
                    if list.is_empty() {
                        "none".to_string()
                    } else {
                        list.iter().map(|t| t.describe()).collect::<Vec<_>>().join(", ")
                    }
                };
                return Err(ResumeRefusal::TransformsChanged {
                    before: describe(&self.settings.transforms),
                    now: describe(&settings.transforms),
                });
            }
            return Err(ResumeRefusal::SettingsChanged);
        }
        if let Some(size) = current.size.filter(|_| !current.gzip) {
            if self.committed_offset > size {
                return Err(ResumeRefusal::OffsetBeyondSize {
                    offset: self.committed_offset,
                    size,
                });
            }
        }
        Ok(())
    }

    /// True when the job has nothing left to do.
    pub fn is_completed(&self) -> bool {
        self.status == JobStatus::Completed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> SourceIdentity {
        SourceIdentity {
            url: Some("https://bucket.s3.eu-west-1.amazonaws.com/data/part-1.jsonl".into()),
            bucket: Some("bucket".into()),
            key: Some("data/part-1.jsonl".into()),
            etag: Some("\"abc\"".into()),
            size: Some(1000),
            ..SourceIdentity::default()
        }
    }

    #[test]
    fn round_trips_and_refuses_other_versions() {
        let checkpoint = Checkpoint::start("job-1", source(), ImportSettings::new("logs"), 42);
        let json = checkpoint.to_json();
        assert_eq!(Checkpoint::from_json(&json).unwrap(), checkpoint);
        let text = String::from_utf8(json)
            .unwrap()
            .replace("\"schema_version\": 1", "\"schema_version\": 9");
        assert_eq!(
            Checkpoint::from_json(text.as_bytes()),
            Err(ResumeRefusal::SchemaVersion { found: 9 })
        );
        assert!(matches!(Checkpoint::from_json(b"{"), Err(ResumeRefusal::Unreadable(_))));
    }

    #[test]
    fn resume_checks_source_settings_and_offset() {
        let settings = ImportSettings::new("logs");
        let mut checkpoint = Checkpoint::start("job-1", source(), settings.clone(), 0);
        assert_eq!(checkpoint.check_resume(&source(), &settings), Ok(()));

        let mut changed = source();
        changed.etag = Some("\"def\"".into());
        let refusal = checkpoint.check_resume(&changed, &settings).unwrap_err();
        assert!(refusal.to_string().contains("ETag changed"), "{refusal}");

        let mut other = source();
        other.key = Some("data/part-2.jsonl".into());
        assert!(matches!(
            checkpoint.check_resume(&other, &settings),
            Err(ResumeRefusal::SourceChanged(_))
        ));

        let mut different = settings.clone();
        different.index = "other".into();
        assert_eq!(
            checkpoint.check_resume(&source(), &different),
            Err(ResumeRefusal::SettingsChanged)
        );

        checkpoint.committed_offset = 1001;
        assert_eq!(
            checkpoint.check_resume(&source(), &settings),
            Err(ResumeRefusal::OffsetBeyondSize {
                offset: 1001,
                size: 1000
            })
        );
    }

    #[test]
    fn a_fresh_presigned_url_is_the_same_object() {
        let mut fresh = source();
        fresh.url = Some("https://s3.eu-west-1.amazonaws.com/bucket/data/part-1.jsonl".into());
        assert_eq!(source().check_same_object(&fresh), Ok(()));
        assert_eq!(source().id_namespace(), "s3://bucket/data/part-1.jsonl");
    }

    #[test]
    fn a_local_file_picked_again_must_match_name_size_time_and_first_bytes() {
        let file = SourceIdentity {
            name: Some("events.jsonl".into()),
            size: Some(2_000),
            last_modified: Some("1763769600000".into()),
            head_hash: Some("00000000deadbeef".into()),
            ..SourceIdentity::default()
        };
        assert_eq!(file.check_same_object(&file.clone()), Ok(()));
        let mut other_content = file.clone();
        other_content.head_hash = Some("0000000012345678".into());
        assert!(file
            .check_same_object(&other_content)
            .unwrap_err()
            .contains("first 64 KiB"));
        let mut touched = file.clone();
        touched.last_modified = Some("1763769700000".into());
        assert!(file.check_same_object(&touched).unwrap_err().contains("modified"));
        let mut renamed = file.clone();
        renamed.name = Some("other.jsonl".into());
        assert!(file
            .check_same_object(&renamed)
            .unwrap_err()
            .contains("different object"));
    }
}

//! Jobs, checkpoints, dead letters and source URLs in IndexedDB: one database, a versioned schema.
//!
//! Schema versions: 1 held checkpoints, dead letters and source URLs (one object per job); 2 adds `jobs`, the
//! manifests of jobs of several objects; 3 adds `file_handles`, the File System Access handles of local files (so a
//! reload can reopen them without the analyst picking them again). A version-1 checkpoint without a manifest still
//! lists as a job of one object ([`JobManifest::for_lone_checkpoint`]), so upgrading loses nothing.
//!
//! Values are the engine's JSON documents as strings (file handles excepted: the browser stores those itself), so a checkpoint read here is the same document the CLI writes
//! to a file. Dead letters are keyed by `job/offset` (offset zero-padded so keys sort by offset): storing one again
//! after a replay replaces it. Presigned URLs are bearer secrets: they live in their own store, only for resuming,
//! and are deleted when a job completes.

use indexed_db_futures::database::Database;
use indexed_db_futures::prelude::*;
use indexed_db_futures::primitive::{TryFromJs, TryToJs};
use indexed_db_futures::transaction::{Transaction, TransactionMode};
use sluice_engine::export::JobExport;
use sluice_engine::job::StoreError;
use sluice_engine::manifest::JobManifest;
use sluice_engine::{Checkpoint, CheckpointStore, DeadLetter, DeadLetterStore};
use wasm_bindgen::{JsCast, JsValue};

use super::file_access::FileHandle;

/// The database's name.
pub const DATABASE: &str = "sluice";
/// The schema version this build creates and reads. Each version's upgrade step lives in `upgrade`.
pub const SCHEMA_VERSION: u32 = 3;

const CHECKPOINTS: &str = "checkpoints";
const DEAD_LETTERS: &str = "dead_letters";
const SOURCE_URLS: &str = "source_urls";
const JOBS: &str = "jobs";
const FILE_HANDLES: &str = "file_handles";

fn store_error(context: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError(format!("browser storage (IndexedDB) failed to {context}: {error}"))
}

fn dead_letter_key(job_id: &str, offset: u64) -> String {
    format!("{job_id}/{offset:020}")
}

/// The IndexedDB stores of this app.
pub struct IdbStore {
    db: Database,
}

impl IdbStore {
    /// Opens (creating or upgrading) the app's database.
    pub async fn open() -> Result<Self, StoreError> {
        Self::open_named(DATABASE).await
    }

    /// Opens a database with another name (tests use their own).
    pub async fn open_named(name: &str) -> Result<Self, StoreError> {
        Self::open_at_version(name, SCHEMA_VERSION).await
    }

    /// Opens a database at an older schema version (tests of the upgrade path).
    pub async fn open_at_version(name: &str, version: u32) -> Result<Self, StoreError> {
        let db = Database::open(name)
            .with_version(version)
            .with_on_upgrade_needed(|event, db| {
                // One step per version, applied in order, so a browser several versions behind catches up.
                let old = event.old_version() as u32;
                if old < 1 {
                    db.create_object_store(CHECKPOINTS).build()?;
                    db.create_object_store(DEAD_LETTERS).build()?;
                    db.create_object_store(SOURCE_URLS).build()?;
                }
                let new = event.new_version().unwrap_or(0.0);
                if old < 2 && new >= 2.0 {
                    db.create_object_store(JOBS).build()?;
                }
                if old < 3 && new >= 3.0 {
                    db.create_object_store(FILE_HANDLES).build()?;
                }
                Ok(())
            })
            .await
            .map_err(|e| store_error("open its database", e))?;
        Ok(IdbStore { db })
    }

    /// Starts a transaction on one store (`doing` names the step in the error).
    fn begin(&self, store: &str, mode: TransactionMode, doing: &str) -> Result<Transaction<'_>, StoreError> {
        self.db
            .transaction(store)
            .with_mode(mode)
            .build()
            .map_err(|e| store_error(doing, e))
    }

    /// Writes `entries` (key, value) in one transaction. Values are the engine's JSON documents as strings, or
    /// browser objects IndexedDB clones itself (file handles).
    async fn put<V: TryToJs>(&self, store: &str, entries: Vec<(String, V)>) -> Result<(), StoreError> {
        let transaction = self.begin(store, TransactionMode::Readwrite, "start a write")?;
        let object_store = transaction
            .object_store(store)
            .map_err(|e| store_error("open a store", e))?;
        for (key, value) in entries {
            object_store
                .put(value)
                .with_key(key)
                .primitive()
                .map_err(|e| store_error("write", e))?;
        }
        // indexed_db_futures rolls a transaction back unless it is committed.
        transaction.commit().await.map_err(|e| store_error("commit a write", e))
    }

    async fn get<V>(&self, store: &str, key: &str) -> Result<Option<V>, StoreError>
    where
        Option<V>: TryFromJs,
    {
        let transaction = self.begin(store, TransactionMode::Readonly, "start a read")?;
        let object_store = transaction
            .object_store(store)
            .map_err(|e| store_error("open a store", e))?;
        object_store
            .get(key.to_string())
            .primitive()
            .map_err(|e| store_error("read", e))?
            .await
            .map_err(|e| store_error("read", e))
    }

    async fn delete(&self, store: &str, from: String, to: String) -> Result<(), StoreError> {
        let transaction = self.begin(store, TransactionMode::Readwrite, "start a delete")?;
        let object_store = transaction
            .object_store(store)
            .map_err(|e| store_error("open a store", e))?;
        object_store
            .delete(from..=to)
            .primitive()
            .map_err(|e| store_error("delete", e))?;
        transaction
            .commit()
            .await
            .map_err(|e| store_error("commit a delete", e))
    }

    async fn get_all(&self, store: &str) -> Result<Vec<String>, StoreError> {
        let transaction = self.begin(store, TransactionMode::Readonly, "start a read")?;
        let object_store = transaction
            .object_store(store)
            .map_err(|e| store_error("open a store", e))?;
        Ok(object_store
            .get_all()
            .primitive()
            .map_err(|e| store_error("read a whole store", e))?
            .await
            .map_err(|e| store_error("read a whole store", e))?
            .filter_map(Result::ok)
            .collect())
    }

    /// A job's checkpoint.
    pub async fn load(&self, job_id: &str) -> Result<Option<Checkpoint>, StoreError> {
        match self.get::<String>(CHECKPOINTS, job_id).await? {
            None => Ok(None),
            Some(json) => Checkpoint::from_json(json.as_bytes())
                .map(Some)
                .map_err(|e| store_error("read a checkpoint", e)),
        }
    }

    /// Every checkpoint (unreadable ones are skipped).
    pub async fn list(&self) -> Result<Vec<Checkpoint>, StoreError> {
        Ok(self
            .get_all(CHECKPOINTS)
            .await?
            .iter()
            .filter_map(|json| Checkpoint::from_json(json.as_bytes()).ok())
            .collect())
    }

    /// Saves a job's manifest.
    pub async fn save_manifest(&self, manifest: &JobManifest) -> Result<(), StoreError> {
        let json = serde_json::to_string(manifest).map_err(|e| store_error("encode a job", e))?;
        self.put(JOBS, vec![(manifest.id.clone(), json)]).await
    }

    /// Every job with each part's checkpoint (`None` for a part not started yet), oldest first. Checkpoints stored
    /// before manifests existed list as jobs of one object.
    pub async fn jobs(&self) -> Result<Vec<(JobManifest, Vec<Option<Checkpoint>>)>, StoreError> {
        let manifests: Vec<JobManifest> = self
            .get_all(JOBS)
            .await?
            .iter()
            .filter_map(|json| serde_json::from_str::<JobManifest>(json).ok())
            // A manifest this build cannot use (another schema version, no objects) is left alone, not shown.
            .filter(|manifest| manifest.check().is_ok())
            .collect();
        let mut checkpoints: std::collections::HashMap<String, Checkpoint> = self
            .list()
            .await?
            .into_iter()
            .map(|checkpoint| (checkpoint.job_id.clone(), checkpoint))
            .collect();
        let mut jobs: Vec<_> = manifests
            .into_iter()
            .map(|manifest| {
                let parts = manifest.parts.iter().map(|part| checkpoints.remove(&part.id)).collect();
                (manifest, parts)
            })
            .collect();
        jobs.extend(
            checkpoints
                .into_values()
                .map(|lone| (JobManifest::for_lone_checkpoint(&lone), vec![Some(lone)])),
        );
        jobs.sort_by_key(|(manifest, _)| manifest.created_at_ms);
        Ok(jobs)
    }

    /// Up to `limit` dead letters of a job, in source order.
    pub async fn dead_letters(&self, job_id: &str, limit: u32) -> Result<Vec<DeadLetter>, StoreError> {
        self.dead_letters_from(job_id, 0, limit).await
    }

    /// Up to `limit` dead letters of a job at or after `from` (an absolute offset), in source order: a page, so a
    /// job with millions of failed records is read a part at a time.
    pub async fn dead_letters_from(&self, job_id: &str, from: u64, limit: u32) -> Result<Vec<DeadLetter>, StoreError> {
        let transaction = self.begin(DEAD_LETTERS, TransactionMode::Readonly, "start a read")?;
        let object_store = transaction
            .object_store(DEAD_LETTERS)
            .map_err(|e| store_error("open a store", e))?;
        let values: Vec<String> = object_store
            .get_all()
            .with_query(dead_letter_key(job_id, from)..=dead_letter_key(job_id, u64::MAX))
            .with_limit(limit)
            .primitive()
            .map_err(|e| store_error("read dead letters", e))?
            .await
            .map_err(|e| store_error("read dead letters", e))?
            .filter_map(Result::ok)
            .collect();
        Ok(values
            .iter()
            .filter_map(|json| serde_json::from_str(json).ok())
            .collect())
    }

    /// Removes dead letters of a part whose records are indexed now, in one transaction.
    pub async fn delete_dead_letters(&self, part_id: &str, offsets: &[u64]) -> Result<(), StoreError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let transaction = self.begin(DEAD_LETTERS, TransactionMode::Readwrite, "start a delete")?;
        let object_store = transaction
            .object_store(DEAD_LETTERS)
            .map_err(|e| store_error("open a store", e))?;
        for &offset in offsets {
            let key = dead_letter_key(part_id, offset);
            object_store
                .delete(key.clone()..=key)
                .primitive()
                .map_err(|e| store_error("delete", e))?;
        }
        transaction
            .commit()
            .await
            .map_err(|e| store_error("commit a delete", e))
    }

    /// How many dead letters a part holds (counted by IndexedDB, without reading them).
    pub async fn count_dead_letters(&self, part_id: &str) -> Result<u64, StoreError> {
        let transaction = self.begin(DEAD_LETTERS, TransactionMode::Readonly, "start a read")?;
        let object_store = transaction
            .object_store(DEAD_LETTERS)
            .map_err(|e| store_error("open a store", e))?;
        let count = object_store
            .count()
            .with_query(dead_letter_key(part_id, 0)..=dead_letter_key(part_id, u64::MAX))
            .primitive()
            .map_err(|e| store_error("count dead letters", e))?
            .await
            .map_err(|e| store_error("count dead letters", e))?;
        Ok(u64::from(count))
    }

    /// Remembers the full (presigned) URL of a job's source, for resuming after a reload.
    pub async fn remember_source_url(&self, job_id: &str, url: &str) -> Result<(), StoreError> {
        self.put(SOURCE_URLS, vec![(job_id.to_string(), url.to_string())]).await
    }

    /// The remembered URL of a job's source.
    pub async fn source_url(&self, job_id: &str) -> Result<Option<String>, StoreError> {
        self.get(SOURCE_URLS, job_id).await
    }

    /// Forgets a job's source URL (done when the job completes: a presigned URL is a secret).
    pub async fn forget_source_url(&self, job_id: &str) -> Result<(), StoreError> {
        self.delete(SOURCE_URLS, job_id.to_string(), job_id.to_string()).await
    }

    /// Remembers the handle of a part's local file, so a reload can reopen the file without a new pick.
    pub async fn remember_file_handle(&self, part_id: &str, handle: &FileHandle) -> Result<(), StoreError> {
        self.put(FILE_HANDLES, vec![(part_id.to_string(), JsValue::from(handle.clone()))])
            .await
    }

    /// The remembered handle of a part's local file.
    pub async fn file_handle(&self, part_id: &str) -> Result<Option<FileHandle>, StoreError> {
        let value: Option<JsValue> = self.get(FILE_HANDLES, part_id).await?;
        Ok(value
            .filter(|v| !v.is_undefined() && !v.is_null())
            .map(JsCast::unchecked_into))
    }

    /// Forgets the handle of a part's local file (done when the part completes).
    pub async fn forget_file_handle(&self, part_id: &str) -> Result<(), StoreError> {
        self.delete(FILE_HANDLES, part_id.to_string(), part_id.to_string())
            .await
    }

    /// Deletes everything about one part (checkpoint, URL, file handle, dead letters): a fresh start for it.
    pub async fn delete_part(&self, part_id: &str) -> Result<(), StoreError> {
        self.delete(CHECKPOINTS, part_id.to_string(), part_id.to_string())
            .await?;
        self.forget_source_url(part_id).await?;
        self.forget_file_handle(part_id).await?;
        self.delete(
            DEAD_LETTERS,
            dead_letter_key(part_id, 0),
            dead_letter_key(part_id, u64::MAX),
        )
        .await
    }

    /// Deletes everything about a job.
    pub async fn delete_job(&self, manifest: &JobManifest) -> Result<(), StoreError> {
        for part in &manifest.parts {
            self.delete_part(&part.id).await?;
        }
        self.delete(JOBS, manifest.id.clone(), manifest.id.clone()).await
    }

    /// Stores a job read from a checkpoint file: its manifest, checkpoints and (when the file has them) URLs.
    /// Refuses a job this browser already has, rather than overwrite its progress.
    pub async fn import_job(&self, export: &JobExport) -> Result<(), StoreError> {
        let known = self.get::<String>(JOBS, &export.manifest.id).await?.is_some()
            || export.manifest.parts.len() == 1 && self.load(&export.manifest.parts[0].id).await?.is_some();
        if known {
            return Err(StoreError(format!(
                "this browser already has the import {}; delete it first to replace it with the file's",
                export.manifest.id
            )));
        }
        self.save_manifest(&export.manifest).await?;
        for checkpoint in &export.checkpoints {
            self.save(checkpoint).await?;
        }
        for (part_id, url) in &export.urls {
            self.remember_source_url(part_id, url).await?;
        }
        Ok(())
    }

    /// Closes the connection (tests reopen to check durability).
    pub fn close(self) {
        self.db.close();
    }
}

impl CheckpointStore for IdbStore {
    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        let json = String::from_utf8(checkpoint.to_json()).map_err(|e| store_error("encode a checkpoint", e))?;
        self.put(CHECKPOINTS, vec![(checkpoint.job_id.clone(), json)]).await
    }
}

impl DeadLetterStore for IdbStore {
    async fn store(&self, job_id: &str, letters: &[DeadLetter]) -> Result<(), StoreError> {
        let entries = letters
            .iter()
            .map(|letter| {
                let json = serde_json::to_string(letter).map_err(|e| store_error("encode a dead letter", e))?;
                Ok((dead_letter_key(job_id, letter.offset), json))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.put(DEAD_LETTERS, entries).await
    }
}

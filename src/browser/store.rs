//! Checkpoints, dead letters and source URLs in IndexedDB: one database, a versioned schema.
//!
//! Values are the engine's JSON documents as strings, so a checkpoint read here is the same document the CLI writes
//! to a file. Dead letters are keyed by `job/offset` (offset zero-padded so keys sort by offset): storing one again
//! after a replay replaces it. Presigned URLs are bearer secrets: they live in their own store, only for resuming,
//! and are deleted when a job completes.

use indexed_db_futures::database::Database;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::TransactionMode;
use sluice_engine::job::StoreError;
use sluice_engine::{Checkpoint, CheckpointStore, DeadLetter, DeadLetterStore};

/// The database's name.
pub const DATABASE: &str = "sluice";
/// The schema version this build creates and reads. Each version's upgrade step lives in `upgrade`.
pub const SCHEMA_VERSION: u32 = 1;

const CHECKPOINTS: &str = "checkpoints";
const DEAD_LETTERS: &str = "dead_letters";
const SOURCE_URLS: &str = "source_urls";

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
        let db = Database::open(name)
            .with_version(SCHEMA_VERSION)
            .with_on_upgrade_needed(|event, db| {
                // One step per version, applied in order, so a browser several versions behind catches up.
                let old = event.old_version() as u32;
                if old < 1 {
                    db.create_object_store(CHECKPOINTS).build()?;
                    db.create_object_store(DEAD_LETTERS).build()?;
                    db.create_object_store(SOURCE_URLS).build()?;
                }
                Ok(())
            })
            .await
            .map_err(|e| store_error("open its database", e))?;
        Ok(IdbStore { db })
    }

    async fn put(&self, store: &str, entries: Vec<(String, String)>) -> Result<(), StoreError> {
        let transaction = self
            .db
            .transaction(store)
            .with_mode(TransactionMode::Readwrite)
            .build()
            .map_err(|e| store_error("start a write", e))?;
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

    async fn get(&self, store: &str, key: &str) -> Result<Option<String>, StoreError> {
        let transaction = self
            .db
            .transaction(store)
            .build()
            .map_err(|e| store_error("start a read", e))?;
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
        let transaction = self
            .db
            .transaction(store)
            .with_mode(TransactionMode::Readwrite)
            .build()
            .map_err(|e| store_error("start a delete", e))?;
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

    /// A job's checkpoint.
    pub async fn load(&self, job_id: &str) -> Result<Option<Checkpoint>, StoreError> {
        match self.get(CHECKPOINTS, job_id).await? {
            None => Ok(None),
            Some(json) => Checkpoint::from_json(json.as_bytes())
                .map(Some)
                .map_err(|e| store_error("read a checkpoint", e)),
        }
    }

    /// Every job's checkpoint (unreadable ones are skipped).
    pub async fn list(&self) -> Result<Vec<Checkpoint>, StoreError> {
        let transaction = self
            .db
            .transaction(CHECKPOINTS)
            .build()
            .map_err(|e| store_error("start a read", e))?;
        let object_store = transaction
            .object_store(CHECKPOINTS)
            .map_err(|e| store_error("open a store", e))?;
        let values: Vec<String> = object_store
            .get_all()
            .primitive()
            .map_err(|e| store_error("list jobs", e))?
            .await
            .map_err(|e| store_error("list jobs", e))?
            .filter_map(Result::ok)
            .collect();
        Ok(values
            .iter()
            .filter_map(|json| Checkpoint::from_json(json.as_bytes()).ok())
            .collect())
    }

    /// Up to `limit` dead letters of a job, in source order.
    pub async fn dead_letters(&self, job_id: &str, limit: u32) -> Result<Vec<DeadLetter>, StoreError> {
        let transaction = self
            .db
            .transaction(DEAD_LETTERS)
            .build()
            .map_err(|e| store_error("start a read", e))?;
        let object_store = transaction
            .object_store(DEAD_LETTERS)
            .map_err(|e| store_error("open a store", e))?;
        let values: Vec<String> = object_store
            .get_all()
            .with_query(dead_letter_key(job_id, 0)..=dead_letter_key(job_id, u64::MAX))
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

    /// Deletes everything about a job.
    pub async fn delete_job(&self, job_id: &str) -> Result<(), StoreError> {
        self.delete(CHECKPOINTS, job_id.to_string(), job_id.to_string()).await?;
        self.forget_source_url(job_id).await?;
        self.delete(
            DEAD_LETTERS,
            dead_letter_key(job_id, 0),
            dead_letter_key(job_id, u64::MAX),
        )
        .await
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

//! File stores: the checkpoint (replaced atomically) and the dead letters (NDJSON, one line per record).

use std::cell::RefCell;
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use sluice_engine::checkpoint::ResumeRefusal;
use sluice_engine::job::StoreError;
use sluice_engine::{Checkpoint, CheckpointStore, DeadLetter, DeadLetterStore};

/// A checkpoint file, written to a temporary file, synced, then renamed over the old one: a crash at any moment
/// leaves either the old or the new checkpoint, never a torn one.
pub struct FileCheckpoints {
    path: PathBuf,
}

impl FileCheckpoints {
    /// A store at `path`.
    pub fn new(path: PathBuf) -> Self {
        FileCheckpoints { path }
    }

    /// The saved checkpoint, if any.
    pub fn load(&self) -> Result<Option<Checkpoint>, ResumeRefusal> {
        match std::fs::read(&self.path) {
            Ok(bytes) => Checkpoint::from_json(&bytes).map(Some),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(ResumeRefusal::Unreadable(format!("{}: {error}", self.path.display()))),
        }
    }

    /// Where the checkpoint lives.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl CheckpointStore for FileCheckpoints {
    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        let json = checkpoint.to_json();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || write_atomically(&path, &json))
            .await
            .map_err(|error| StoreError(error.to_string()))?
            .map_err(|error| StoreError(format!("{}: {error}", self.path.display())))
    }
}

/// Creates the directory a file goes in, so `--checkpoint runs/today/job.json` works without a `mkdir` first.
fn create_parent(path: &Path) -> std::io::Result<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => std::fs::create_dir_all(parent),
        None => Ok(()),
    }
}

/// Writes a file so that a crash leaves the old or the new content, never a mix.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    create_parent(path)?;
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&temporary, path)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        // Make the rename itself durable.
        if let Ok(directory) = std::fs::File::open(parent) {
            let _ = directory.sync_all();
        }
    }
    Ok(())
}

/// Dead letters appended to an NDJSON file (`{"offset":…,"end":…,"reason":…,"record":…}` per line). A record
/// replayed after a crash is not written twice: offsets already in the file are remembered.
pub struct FileDeadLetters {
    path: PathBuf,
    written: RefCell<HashSet<u64>>,
}

impl FileDeadLetters {
    /// A store at `path`; reads the offsets already there. The file is created on the first dead letter.
    pub fn open(path: PathBuf) -> std::io::Result<Self> {
        let mut written = HashSet::new();
        match std::fs::read(&path) {
            Ok(bytes) => {
                for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    if let Ok(letter) = serde_json::from_slice::<DeadLetter>(line) {
                        written.insert(letter.offset);
                    }
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
        Ok(FileDeadLetters {
            path,
            written: RefCell::new(written),
        })
    }

    /// How many dead letters the file holds.
    pub fn count(&self) -> usize {
        self.written.borrow().len()
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl DeadLetterStore for FileDeadLetters {
    async fn store(&self, _job_id: &str, letters: &[DeadLetter]) -> Result<(), StoreError> {
        let mut lines = Vec::new();
        let mut fresh = Vec::new();
        {
            let written = self.written.borrow();
            for letter in letters.iter().filter(|l| !written.contains(&l.offset)) {
                lines.extend_from_slice(&letter.to_ndjson_line());
                fresh.push(letter.offset);
            }
        }
        if lines.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            create_parent(&path)?;
            let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
            file.write_all(&lines)?;
            file.sync_data()
        })
        .await
        .map_err(|error| StoreError(error.to_string()))?
        .map_err(|error| StoreError(format!("{}: {error}", self.path.display())))?;
        self.written.borrow_mut().extend(fresh);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_engine::{ImportSettings, SourceIdentity};

    #[tokio::test]
    async fn stores_create_the_directories_they_write_in() {
        let root = std::env::temp_dir().join(format!("sluice-stores-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let checkpoint = Checkpoint::start("job", SourceIdentity::default(), ImportSettings::new("logs"), 1);
        let checkpoints = FileCheckpoints::new(root.join("runs/today/checkpoint.json"));
        checkpoints.save(&checkpoint).await.unwrap();
        assert_eq!(checkpoints.load().unwrap(), Some(checkpoint));
        let letters = FileDeadLetters::open(root.join("failed/records.ndjson")).unwrap();
        let letter = DeadLetter {
            offset: 3,
            end: 9,
            reason: "not JSON".into(),
            record: None,
        };
        letters.store("job", &[letter]).await.unwrap();
        assert_eq!(
            FileDeadLetters::open(root.join("failed/records.ndjson"))
                .unwrap()
                .count(),
            1
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}

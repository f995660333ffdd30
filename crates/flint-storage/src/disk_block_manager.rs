use std::path::{Path, PathBuf};
use std::sync::Mutex;

use thiserror::Error;

use crate::BlockId;

/// Failures of the local block store; all are runtime conditions of the local disk.
#[derive(Debug, Error)]
pub enum StorageError {
    /// The application's local directory could not be created (bad `spark.local.dir`, full disk).
    #[error("cannot create local directory {path} (check spark.local.dir): {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Owns one application's directory under `spark.local.dir` (Spark's `DiskBlockManager`) and
/// maps blocks to files in it; removes the directory on [`DiskBlockManager::stop`] or drop,
/// except the blocks a worker's shuffle service serves after the executor is gone
/// ([`DiskBlockManager::keep_blocks_on_stop`]).
#[derive(Debug)]
pub struct DiskBlockManager {
    root: PathBuf,
    blocks_dir: PathBuf,
    spill_dir: PathBuf,
    keep_blocks: bool,
    stopped: Mutex<bool>,
}

impl DiskBlockManager {
    /// Creates `<local_dir>/flint-<app_id>-<executor_id>-<uuid>/` with `blockmgr` and `spill` inside.
    pub fn create(local_dir: &Path, app_id: &str, executor_id: &str) -> Result<Self, StorageError> {
        let root = local_dir.join(format!(
            "flint-{app_id}-{executor_id}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let blocks_dir = root.join("blockmgr");
        let spill_dir = root.join("spill");
        for dir in [&blocks_dir, &spill_dir] {
            std::fs::create_dir_all(dir).map_err(|source| StorageError::CreateDir {
                path: dir.clone(),
                source,
            })?;
        }
        tracing::info!(path = %root.display(), "Created local directory at {}", root.display());
        Ok(Self {
            root,
            blocks_dir,
            spill_dir,
            keep_blocks: false,
            stopped: Mutex::new(false),
        })
    }

    /// Leaves the shuffle files in place on stop (only spills go), for the worker's shuffle
    /// service to serve and to delete when the application ends (Spark's `deleteFilesOnStop`
    /// off with `spark.shuffle.service.enabled`).
    pub fn keep_blocks_on_stop(mut self) -> Self {
        self.keep_blocks = true;
        self
    }

    /// The directory of the block files, which a worker's shuffle service is told about.
    pub fn blocks_dir(&self) -> &Path {
        &self.blocks_dir
    }

    /// The application's directory; nothing of the application lives outside it.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where DataFusion spills sorts, joins and aggregations.
    pub fn spill_dir(&self) -> &Path {
        &self.spill_dir
    }

    /// The file holding `block`.
    pub fn file_for(&self, block: BlockId) -> PathBuf {
        self.blocks_dir.join(block.to_string())
    }

    /// Deletes the files of one shuffle (its data and index files); returns how many.
    pub fn remove_shuffle(&self, shuffle_id: u32) -> usize {
        remove_shuffle_files(&self.blocks_dir, shuffle_id)
    }

    /// Removes the application's directory (or only its spills when blocks are kept); later
    /// calls do nothing.
    pub fn stop(&self) {
        let mut stopped = self
            .stopped
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if *stopped {
            return;
        }
        *stopped = true;
        if self.keep_blocks {
            remove_dir(&self.spill_dir);
            tracing::info!(
                path = %self.blocks_dir.display(),
                "Not deleting {}: the worker's shuffle service serves its files",
                self.blocks_dir.display()
            );
            return;
        }
        remove_dir(&self.root);
    }
}

/// Deletes the files of one shuffle (data and index files) from a directory of block files;
/// returns how many went.
pub fn remove_shuffle_files(blocks_dir: &Path, shuffle_id: u32) -> usize {
    let prefix = format!("shuffle_{shuffle_id}_");
    let Ok(entries) = std::fs::read_dir(blocks_dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(&prefix))
        .filter(|entry| std::fs::remove_file(entry.path()).is_ok())
        .count()
}

/// Deletes a directory tree, logging (not failing) when that does not work.
fn remove_dir(dir: &Path) {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {
            tracing::info!(path = %dir.display(), "Deleted local directory {}", dir.display())
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => tracing::warn!(
            "Failed to delete local directory {}: {error}",
            dir.display()
        ),
    }
}

impl Drop for DiskBlockManager {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_is_removed_on_stop_and_drop() {
        let base = tempfile::tempdir().unwrap();
        let manager = DiskBlockManager::create(base.path(), "local-1", "driver").unwrap();
        let root = manager.root().to_path_buf();
        std::fs::write(
            manager.file_for(BlockId::ShuffleData {
                shuffle_id: 0,
                map_id: 0,
            }),
            b"x",
        )
        .unwrap();
        assert!(root.exists());
        drop(manager);
        assert!(!root.exists());
    }

    #[test]
    fn a_shuffle_is_removed_with_its_files_only() {
        let base = tempfile::tempdir().unwrap();
        let manager = DiskBlockManager::create(base.path(), "app-1", "0").unwrap();
        let write = |shuffle_id, map_id| {
            for block in [
                BlockId::ShuffleData { shuffle_id, map_id },
                BlockId::ShuffleIndex { shuffle_id, map_id },
            ] {
                std::fs::write(manager.file_for(block), b"x").unwrap();
            }
        };
        write(1, 0);
        write(1, 1);
        write(11, 0);
        assert_eq!(manager.remove_shuffle(1), 4);
        assert!(
            manager
                .file_for(BlockId::ShuffleData {
                    shuffle_id: 11,
                    map_id: 0
                })
                .exists()
        );
    }

    #[test]
    fn kept_blocks_outlive_stop_but_spills_do_not() {
        let base = tempfile::tempdir().unwrap();
        let manager = DiskBlockManager::create(base.path(), "app-1", "3")
            .unwrap()
            .keep_blocks_on_stop();
        let data = manager.file_for(BlockId::ShuffleData {
            shuffle_id: 0,
            map_id: 0,
        });
        std::fs::write(&data, b"x").unwrap();
        let spill_dir = manager.spill_dir().to_path_buf();
        manager.stop();
        assert!(data.exists());
        assert!(!spill_dir.exists());
    }
}

//! What a master keeps so that a restarted master can take over (Spark's `PersistenceEngine`
//! and `FileSystemPersistenceEngine`): every registered worker, application and submitted
//! driver, one file each, written when it arrives and deleted when it goes. Executors are
//! not kept: the workers that run them say so when they register with the new master.

use std::path::{Path, PathBuf};

use flint_conf::{ConfError, SparkConf, keys};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::application::ApplicationDescription;
use crate::driver::DriverDescription;

/// Failures to read or write the recovery directory.
#[derive(Debug, Error)]
pub enum RecoveryError {
    /// The directory cannot be created or listed.
    #[error("cannot use recovery directory {path}: {source}")]
    Directory {
        path: String,
        source: std::io::Error,
    },
    /// One object cannot be written or deleted.
    #[error("cannot persist {name} in {path}: {source}")]
    Write {
        name: String,
        path: String,
        source: std::io::Error,
    },
}

/// `spark.deploy.recoveryMode`: whether and where the master keeps its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecoveryMode {
    /// `NONE`: a restarted master starts empty.
    None,
    /// `FILESYSTEM`: one file per worker, application and driver in this directory
    /// (`spark.deploy.recoveryDirectory`).
    FileSystem(PathBuf),
}

impl RecoveryMode {
    /// Reads `spark.deploy.recoveryMode` and `spark.deploy.recoveryDirectory`.
    pub fn from_conf(conf: &SparkConf) -> Result<Self, ConfError> {
        let mode = conf.value(&keys::DEPLOY_RECOVERY_MODE)?;
        match mode.trim().to_ascii_uppercase().as_str() {
            "NONE" => Ok(RecoveryMode::None),
            "FILESYSTEM" => {
                let directory = conf.value(&keys::DEPLOY_RECOVERY_DIRECTORY)?;
                if directory.trim().is_empty() {
                    return Err(ConfError::Inconsistent(format!(
                        "spark.deploy.recoveryMode=FILESYSTEM needs {}",
                        keys::DEPLOY_RECOVERY_DIRECTORY.key
                    )));
                }
                Ok(RecoveryMode::FileSystem(PathBuf::from(directory.trim())))
            }
            _ => Err(ConfError::InvalidValue {
                key: keys::DEPLOY_RECOVERY_MODE.key.to_string(),
                value: mode,
                expected: "NONE or FILESYSTEM",
            }),
        }
    }
}

/// A worker as persisted (Spark persists its `WorkerInfo` without the transient parts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredWorker {
    pub id: String,
    pub host: String,
    pub port: u16,
    pub cores: u32,
    pub memory_mib: u64,
    pub webui_address: String,
}

/// An application as persisted: what it asked for and since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredApplication {
    pub id: String,
    pub description: ApplicationDescription,
    pub start_time_ms: u64,
}

/// A submitted driver as persisted; `launched` once a worker was told to start it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredDriver {
    pub id: String,
    pub description: DriverDescription,
    pub submit_time_ms: u64,
    pub launched: bool,
}

/// One persisted object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub(crate) enum Persisted {
    Worker(StoredWorker),
    Application(StoredApplication),
    Driver(StoredDriver),
}

impl Persisted {
    /// Spark's names: `worker_<id>`, `app_<id>`, `driver_<id>`.
    pub fn name(&self) -> String {
        match self {
            Persisted::Worker(worker) => worker_name(&worker.id),
            Persisted::Application(app) => app_name(&app.id),
            Persisted::Driver(driver) => driver_name(&driver.id),
        }
    }
}

/// The persisted name of a worker.
pub(crate) fn worker_name(id: &str) -> String {
    format!("worker_{id}")
}

/// The persisted name of an application.
pub(crate) fn app_name(id: &str) -> String {
    format!("app_{id}")
}

/// The persisted name of a driver.
pub(crate) fn driver_name(id: &str) -> String {
    format!("driver_{id}")
}

/// Everything a master persisted, read back at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StoredState {
    pub workers: Vec<StoredWorker>,
    pub apps: Vec<StoredApplication>,
    pub drivers: Vec<StoredDriver>,
}

impl StoredState {
    /// True when there is nothing to recover.
    pub fn is_empty(&self) -> bool {
        self.workers.is_empty() && self.apps.is_empty() && self.drivers.is_empty()
    }
}

/// Where a master keeps its state (Spark's `PersistenceEngine`).
pub(crate) trait PersistenceEngine: Send {
    /// Writes (or replaces) one object.
    fn persist(&mut self, object: &Persisted) -> Result<(), RecoveryError>;
    /// Deletes one object by name; deleting one that is not there is not an error.
    fn unpersist(&mut self, name: &str) -> Result<(), RecoveryError>;
    /// Reads every object back.
    fn read(&self) -> Result<StoredState, RecoveryError>;
}

/// `spark.deploy.recoveryMode=NONE`: nothing is kept.
pub(crate) struct BlackHole;

impl PersistenceEngine for BlackHole {
    fn persist(&mut self, _: &Persisted) -> Result<(), RecoveryError> {
        Ok(())
    }

    fn unpersist(&mut self, _: &str) -> Result<(), RecoveryError> {
        Ok(())
    }

    fn read(&self) -> Result<StoredState, RecoveryError> {
        Ok(StoredState::default())
    }
}

/// `FILESYSTEM`: one JSON file per object, replaced atomically (written aside, then renamed).
pub(crate) struct FileSystemPersistence {
    directory: PathBuf,
}

impl FileSystemPersistence {
    /// Uses `directory`, creating it if needed.
    pub fn open(directory: &Path) -> Result<Self, RecoveryError> {
        std::fs::create_dir_all(directory).map_err(|source| RecoveryError::Directory {
            path: directory.display().to_string(),
            source,
        })?;
        Ok(Self {
            directory: directory.to_path_buf(),
        })
    }

    fn path_of(&self, name: &str) -> PathBuf {
        self.directory.join(file_name(name))
    }
}

/// A name as a file name: ids come from the network (a worker picks its own), so every
/// character but ASCII letters, digits, `-` and `_` is written `%XX`, and no name can climb
/// out of the directory or hide as a dot file.
fn file_name(name: &str) -> String {
    let mut file = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            file.push(byte as char);
        } else {
            file.push_str(&format!("%{byte:02X}"));
        }
    }
    file
}

impl PersistenceEngine for FileSystemPersistence {
    fn persist(&mut self, object: &Persisted) -> Result<(), RecoveryError> {
        let name = object.name();
        let write_error = |source| RecoveryError::Write {
            name: name.clone(),
            path: self.directory.display().to_string(),
            source,
        };
        let bytes = serde_json::to_vec(object).map_err(|e| write_error(e.into()))?;
        let path = self.path_of(&name);
        let aside = path.with_extension("tmp");
        std::fs::write(&aside, bytes).map_err(write_error)?;
        std::fs::rename(&aside, &path).map_err(write_error)
    }

    fn unpersist(&mut self, name: &str) -> Result<(), RecoveryError> {
        match std::fs::remove_file(self.path_of(name)) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                Err(RecoveryError::Write {
                    name: name.to_string(),
                    path: self.directory.display().to_string(),
                    source: error,
                })
            }
            _ => Ok(()),
        }
    }

    fn read(&self) -> Result<StoredState, RecoveryError> {
        let directory_error = |source| RecoveryError::Directory {
            path: self.directory.display().to_string(),
            source,
        };
        let mut state = StoredState::default();
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&self.directory)
            .map_err(directory_error)?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_none_or(|ext| ext != "tmp"))
            .collect();
        entries.sort();
        for path in entries {
            let object = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| {
                    serde_json::from_slice::<Persisted>(&bytes).map_err(|e| e.to_string())
                });
            match object {
                Ok(Persisted::Worker(worker)) => state.workers.push(worker),
                Ok(Persisted::Application(app)) => state.apps.push(app),
                Ok(Persisted::Driver(driver)) => state.drivers.push(driver),
                Err(error) => tracing::warn!(
                    "Ignoring {} in the recovery directory: {error}",
                    path.display()
                ),
            }
        }
        Ok(state)
    }
}

/// The engine `mode` asks for.
pub(crate) fn engine(mode: &RecoveryMode) -> Result<Box<dyn PersistenceEngine>, RecoveryError> {
    match mode {
        RecoveryMode::None => Ok(Box::new(BlackHole)),
        RecoveryMode::FileSystem(directory) => {
            tracing::info!(
                "Persisting recovery state to directory: {}",
                directory.display()
            );
            Ok(Box::new(FileSystemPersistence::open(directory)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn description() -> ApplicationDescription {
        ApplicationDescription {
            name: "app".into(),
            max_cores: Some(2),
            cores_per_executor: None,
            memory_per_executor_mib: 512,
            driver_url: "127.0.0.1:1".into(),
            user: "me".into(),
            conf: [("spark.a".to_string(), "b".to_string())].into(),
            app_ui_url: None,
            initial_executor_limit: Some(0),
        }
    }

    /// Objects written are read back; replaced ones once, deleted ones not at all; a
    /// corrupt file and a half-written one are skipped.
    #[test]
    fn file_system_engine_reads_back_what_it_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let mut engine = FileSystemPersistence::open(&dir.path().join("state")).unwrap();
        let worker = StoredWorker {
            id: "worker-1-127.0.0.1-7078".into(),
            host: "127.0.0.1".into(),
            port: 7078,
            cores: 4,
            memory_mib: 1024,
            webui_address: "http://127.0.0.1:8081".into(),
        };
        let app = StoredApplication {
            id: "app-1-0000".into(),
            description: description(),
            start_time_ms: 7,
        };
        let mut driver = StoredDriver {
            id: "driver-1-0000".into(),
            description: DriverDescription {
                application: "/a.sql".into(),
                arguments: vec![],
                cores: 1,
                memory_mib: 256,
                supervise: true,
                conf: Default::default(),
            },
            submit_time_ms: 3,
            launched: false,
        };
        engine.persist(&Persisted::Worker(worker.clone())).unwrap();
        engine
            .persist(&Persisted::Application(app.clone()))
            .unwrap();
        engine.persist(&Persisted::Driver(driver.clone())).unwrap();
        driver.launched = true;
        engine.persist(&Persisted::Driver(driver.clone())).unwrap();
        std::fs::write(dir.path().join("state/garbage"), b"{not json").unwrap();
        std::fs::write(dir.path().join("state/half.tmp"), b"{").unwrap();
        let state = engine.read().unwrap();
        assert_eq!(state.workers, vec![worker.clone()]);
        assert_eq!(state.apps, vec![app.clone()]);
        assert_eq!(state.drivers, vec![driver]);

        engine.unpersist(&app_name(&app.id)).unwrap();
        engine.unpersist(&app_name("never-there")).unwrap();
        let state = engine.read().unwrap();
        assert!(state.apps.is_empty());
        assert_eq!(state.workers.len(), 1);
    }

    /// A hostile worker id cannot name a file outside the directory.
    #[test]
    fn names_stay_inside_the_directory() {
        assert_eq!(
            file_name("worker_../../etc"),
            "worker_%2E%2E%2F%2E%2E%2Fetc"
        );
        assert_eq!(file_name("app_app-1-0000"), "app_app-1-0000");
        assert!(!file_name(".hidden").starts_with('.'));
    }

    /// The mode is NONE, or FILESYSTEM with a directory; anything else is a clear error.
    #[test]
    fn recovery_mode_is_read_from_the_conf() {
        let mut conf = SparkConf::new();
        assert_eq!(RecoveryMode::from_conf(&conf).unwrap(), RecoveryMode::None);
        conf.set("spark.deploy.recoveryMode", "FILESYSTEM");
        assert!(
            RecoveryMode::from_conf(&conf)
                .unwrap_err()
                .to_string()
                .contains("spark.deploy.recoveryDirectory")
        );
        conf.set("spark.deploy.recoveryDirectory", "/tmp/r");
        assert_eq!(
            RecoveryMode::from_conf(&conf).unwrap(),
            RecoveryMode::FileSystem("/tmp/r".into())
        );
        conf.set("spark.deploy.recoveryMode", "CUSTOM");
        assert!(
            RecoveryMode::from_conf(&conf)
                .unwrap_err()
                .to_string()
                .contains("expected NONE or FILESYSTEM")
        );
    }
}

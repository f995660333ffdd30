//! What a master keeps so that a restarted or standby master can take over (Spark's
//! `PersistenceEngine`, `FileSystemPersistenceEngine` and `ZooKeeperPersistenceEngine`): every
//! registered worker, application and submitted driver, one file or znode each, written when
//! it arrives and deleted when it goes. Executors are not kept: the workers that run them say
//! so when they register with the new master.

use std::path::{Path, PathBuf};

use flint_conf::{ConfError, SparkConf, keys};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use zookeeper_client as zk;

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
    /// A ZooKeeper request failed.
    #[error("ZooKeeper at {url}: cannot {what}: {source}")]
    ZooKeeper {
        url: String,
        what: String,
        source: zk::Error,
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
    /// `ZOOKEEPER`: one znode each under `<dir>/master_status`, and a leader elected among
    /// the masters under `<dir>/leader_election` (`spark.deploy.zookeeper.url`, `.dir`).
    ZooKeeper {
        /// `HOST:PORT[,HOST:PORT...]` of the ensemble.
        url: String,
        /// The masters' root znode, `/spark` by default.
        dir: String,
    },
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
            "ZOOKEEPER" => {
                let url = conf
                    .optional(&keys::DEPLOY_ZOOKEEPER_URL)?
                    .filter(|url| !url.trim().is_empty())
                    .ok_or_else(|| {
                        ConfError::Inconsistent(format!(
                            "spark.deploy.recoveryMode=ZOOKEEPER needs {}",
                            keys::DEPLOY_ZOOKEEPER_URL.key
                        ))
                    })?;
                let dir = conf.value(&keys::DEPLOY_ZOOKEEPER_DIR)?;
                let dir = format!("/{}", dir.trim().trim_matches('/'));
                if dir == "/" {
                    return Err(ConfError::InvalidValue {
                        key: keys::DEPLOY_ZOOKEEPER_DIR.key.to_string(),
                        value: dir,
                        expected: "a znode path below the root, such as /spark",
                    });
                }
                Ok(RecoveryMode::ZooKeeper {
                    url: url.trim().to_string(),
                    dir,
                })
            }
            _ => Err(ConfError::InvalidValue {
                key: keys::DEPLOY_RECOVERY_MODE.key.to_string(),
                value: mode,
                expected: "NONE, FILESYSTEM or ZOOKEEPER",
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

/// Where a master keeps its state (Spark's `PersistenceEngine`), as the recovery mode says.
pub(crate) enum Persistence {
    /// `NONE`: nothing is kept.
    None,
    /// `FILESYSTEM`.
    FileSystem(FileSystemPersistence),
    /// `ZOOKEEPER`.
    ZooKeeper(ZooKeeperPersistence),
}

impl Persistence {
    /// Writes (or replaces) one object.
    pub async fn persist(&mut self, object: &Persisted) -> Result<(), RecoveryError> {
        match self {
            Persistence::None => Ok(()),
            Persistence::FileSystem(files) => files.persist(object),
            Persistence::ZooKeeper(znodes) => znodes.persist(object).await,
        }
    }

    /// Deletes one object by name; deleting one that is not there is not an error.
    pub async fn unpersist(&mut self, name: &str) -> Result<(), RecoveryError> {
        match self {
            Persistence::None => Ok(()),
            Persistence::FileSystem(files) => files.unpersist(name),
            Persistence::ZooKeeper(znodes) => znodes.unpersist(name).await,
        }
    }
}

/// Adds one persisted object, read from `source`, to `state`; a corrupt one is skipped
/// with a warning (a half-written file of a crash must not stop the next master).
fn add_object(state: &mut StoredState, source: &str, bytes: Result<Vec<u8>, String>) {
    let object = bytes
        .and_then(|bytes| serde_json::from_slice::<Persisted>(&bytes).map_err(|e| e.to_string()));
    match object {
        Ok(Persisted::Worker(worker)) => state.workers.push(worker),
        Ok(Persisted::Application(app)) => state.apps.push(app),
        Ok(Persisted::Driver(driver)) => state.drivers.push(driver),
        Err(error) => tracing::warn!("Ignoring {source} in the recovery state: {error}"),
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
        tracing::info!(
            "Persisting recovery state to directory: {}",
            directory.display()
        );
        Ok(Self {
            directory: directory.to_path_buf(),
        })
    }

    fn path_of(&self, name: &str) -> PathBuf {
        self.directory.join(file_name(name))
    }

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

    /// Reads every object back.
    pub fn read(&self) -> Result<StoredState, RecoveryError> {
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
            let bytes = std::fs::read(&path).map_err(|e| e.to_string());
            add_object(&mut state, &path.display().to_string(), bytes);
        }
        Ok(state)
    }
}

/// A name as a file or znode name: ids come from the network (a worker picks its own), so
/// every character but ASCII letters, digits, `-` and `_` is written `%XX`, and no name can
/// climb out of its directory or hide as a dot file.
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

/// `ZOOKEEPER`: one znode per object under `<dir>/master_status` (Spark's
/// `ZooKeeperPersistenceEngine`), holding the same JSON as the files.
#[derive(Clone)]
pub(crate) struct ZooKeeperPersistence {
    client: zk::Client,
    url: String,
    /// `<dir>/master_status`.
    status_dir: String,
}

/// ACLs of the masters' znodes: open, as Spark's masters create them.
const OPEN: zk::CreateOptions<'static> =
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());

impl ZooKeeperPersistence {
    /// Uses `<dir>/master_status` of the ensemble `client` is connected to, creating it.
    pub async fn open(client: zk::Client, url: &str, dir: &str) -> Result<Self, RecoveryError> {
        let status_dir = format!("{dir}/master_status");
        client
            .mkdir(&status_dir, &OPEN)
            .await
            .map_err(|source| RecoveryError::ZooKeeper {
                url: url.to_string(),
                what: format!("create {status_dir}"),
                source,
            })?;
        tracing::info!("Persisting recovery state to ZooKeeper");
        Ok(Self {
            client,
            url: url.to_string(),
            status_dir,
        })
    }

    fn error(&self, what: String) -> impl FnOnce(zk::Error) -> RecoveryError + '_ {
        move |source| RecoveryError::ZooKeeper {
            url: self.url.clone(),
            what,
            source,
        }
    }

    async fn persist(&mut self, object: &Persisted) -> Result<(), RecoveryError> {
        let path = format!("{}/{}", self.status_dir, file_name(&object.name()));
        let bytes = serde_json::to_vec(object).map_err(|e| RecoveryError::Write {
            name: object.name(),
            path: self.status_dir.clone(),
            source: e.into(),
        })?;
        match self.client.set_data(&path, &bytes, None).await {
            Err(zk::Error::NoNode) => match self.client.create(&path, &bytes, &OPEN).await {
                // Created meanwhile by a retried request: write it once more.
                Err(zk::Error::NodeExists) => self
                    .client
                    .set_data(&path, &bytes, None)
                    .await
                    .map(drop)
                    .map_err(self.error(format!("write {path}"))),
                other => other
                    .map(drop)
                    .map_err(self.error(format!("create {path}"))),
            },
            other => other.map(drop).map_err(self.error(format!("write {path}"))),
        }
    }

    async fn unpersist(&mut self, name: &str) -> Result<(), RecoveryError> {
        let path = format!("{}/{}", self.status_dir, file_name(name));
        match self.client.delete(&path, None).await {
            Ok(()) | Err(zk::Error::NoNode) => Ok(()),
            Err(source) => Err(self.error(format!("delete {path}"))(source)),
        }
    }

    /// Reads every object back.
    pub async fn read(&self) -> Result<StoredState, RecoveryError> {
        let mut names = self
            .client
            .list_children(&self.status_dir)
            .await
            .map_err(self.error(format!("list {}", self.status_dir)))?;
        names.sort();
        let mut state = StoredState::default();
        for name in names {
            let path = format!("{}/{name}", self.status_dir);
            let bytes = match self.client.get_data(&path).await {
                Ok((bytes, _)) => Ok(bytes),
                // Deleted since it was listed.
                Err(zk::Error::NoNode) => continue,
                Err(error) => Err(error.to_string()),
            };
            add_object(&mut state, &path, bytes);
        }
        Ok(state)
    }
}

/// Connects to the ensemble at `url` with a session of `session_timeout`: a master whose
/// session ends (it died, or lost ZooKeeper for that long) loses its leadership.
pub(crate) async fn connect_zookeeper(
    url: &str,
    session_timeout: std::time::Duration,
) -> Result<zk::Client, RecoveryError> {
    zk::Client::connector()
        .with_session_timeout(session_timeout)
        .with_connection_timeout(session_timeout)
        .connect(url)
        .await
        .map_err(|source| RecoveryError::ZooKeeper {
            url: url.to_string(),
            what: "connect".into(),
            source,
        })
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

    /// The mode is NONE, FILESYSTEM with a directory or ZOOKEEPER with an ensemble; anything
    /// else is a clear error.
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
        conf.set("spark.deploy.recoveryMode", "zookeeper");
        assert!(
            RecoveryMode::from_conf(&conf)
                .unwrap_err()
                .to_string()
                .contains("spark.deploy.zookeeper.url")
        );
        conf.set("spark.deploy.zookeeper.url", "h1:2181,h2:2181");
        assert_eq!(
            RecoveryMode::from_conf(&conf).unwrap(),
            RecoveryMode::ZooKeeper {
                url: "h1:2181,h2:2181".into(),
                dir: "/spark".into()
            }
        );
        conf.set("spark.deploy.zookeeper.dir", "flint/ha/");
        assert_eq!(
            RecoveryMode::from_conf(&conf).unwrap(),
            RecoveryMode::ZooKeeper {
                url: "h1:2181,h2:2181".into(),
                dir: "/flint/ha".into()
            }
        );
        conf.set("spark.deploy.zookeeper.dir", "/");
        assert!(RecoveryMode::from_conf(&conf).is_err());
        conf.set("spark.deploy.recoveryMode", "CUSTOM");
        assert!(
            RecoveryMode::from_conf(&conf)
                .unwrap_err()
                .to_string()
                .contains("expected NONE, FILESYSTEM or ZOOKEEPER")
        );
    }
}

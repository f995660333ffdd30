//! The worker's shuffle service (Spark's `ExternalShuffleService` and its
//! `ExternalShuffleBlockResolver`): executors on the worker register the directory of their
//! shuffle files, and reducers fetch those blocks from the service, so they outlive the
//! executor. When the application ends the worker tells the service, which forgets its
//! executors and serves nothing of it any more.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use arrow_flight::Action;
use arrow_flight::flight_service_client::FlightServiceClient;
use flint_rpc::RpcSecurity;
use flint_rpc::shuffle::{RegisterExecutor, RemoveShuffle};
use prost::Message;
use tonic::Status;

use crate::block_server::{BlockResolver, REGISTER_EXECUTOR, REMOVE_SHUFFLE};

/// The executors registered with one worker's shuffle service, by application.
#[derive(Debug)]
pub struct ExternalShuffleService {
    /// Where the worker makes applications' directories: `<local_root>/<app-id>/...`; a
    /// registered directory must lie below its application's.
    local_root: PathBuf,
    state: Mutex<ServiceState>,
}

#[derive(Debug, Default)]
struct ServiceState {
    /// `(app id, executor id)` → the executor's directory of block files.
    executors: HashMap<(String, String), PathBuf>,
    /// Applications that ended: nothing of them is registered or served again.
    ended: HashSet<String>,
}

impl ExternalShuffleService {
    /// A service for the executors whose application directories are below `local_root`.
    pub fn new(local_root: PathBuf) -> Self {
        Self {
            local_root,
            state: Mutex::new(ServiceState::default()),
        }
    }

    /// Forgets an application that ended (Spark's `applicationRemoved`): its executors'
    /// blocks are not served any more, and none of its executors can register again. The
    /// worker deletes the files.
    pub fn application_removed(&self, app_id: &str) {
        let mut state = self.lock();
        let before = state.executors.len();
        state.executors.retain(|(app, _), _| app != app_id);
        let removed = before - state.executors.len();
        state.ended.insert(app_id.to_string());
        drop(state);
        tracing::info!(
            app_id,
            "Application {app_id} removed from the shuffle service ({removed} executor(s) forgotten)"
        );
    }

    /// How many executors are registered now.
    pub fn registered_executors(&self) -> usize {
        self.lock().executors.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ServiceState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl BlockResolver for ExternalShuffleService {
    fn blocks_dir(&self, app_id: &str, executor_id: &str) -> Result<PathBuf, Status> {
        let state = self.lock();
        if state.ended.contains(app_id) {
            return Err(Status::not_found(format!(
                "application {app_id} has ended: its shuffle files are gone"
            )));
        }
        state
            .executors
            .get(&(app_id.to_string(), executor_id.to_string()))
            .cloned()
            .ok_or_else(|| {
                Status::not_found(format!(
                    "executor {executor_id} of application {app_id} is not registered with this shuffle service"
                ))
            })
    }

    fn remove_shuffle(&self, request: RemoveShuffle) -> Result<usize, Status> {
        let RemoveShuffle { app_id, shuffle_id } = request;
        let dirs: Vec<PathBuf> = self
            .lock()
            .executors
            .iter()
            .filter(|((app, _), _)| *app == app_id)
            .map(|(_, dir)| dir.clone())
            .collect();
        let removed: usize = dirs
            .iter()
            .map(|dir| flint_storage::remove_shuffle_files(dir, shuffle_id))
            .sum();
        tracing::info!(
            app_id = %app_id,
            "Removed shuffle {shuffle_id} of {app_id}: {removed} file(s) of {} executor(s) deleted",
            dirs.len()
        );
        Ok(removed)
    }

    fn register(&self, request: RegisterExecutor) -> Result<(), Status> {
        let RegisterExecutor {
            app_id,
            executor_id,
            blocks_dir,
        } = request;
        if !flint_common::is_path_safe_id(&app_id) || !flint_common::is_path_safe_id(&executor_id) {
            return Err(Status::invalid_argument(format!(
                "invalid application or executor id ('{}', '{}')",
                app_id.chars().take(130).collect::<String>(),
                executor_id.chars().take(130).collect::<String>()
            )));
        }
        let app_dir = self.local_root.join(&app_id);
        let refused = |why: String| {
            Status::permission_denied(format!(
                "executor {executor_id} of {app_id} cannot register {blocks_dir}: {why}"
            ))
        };
        // Resolved on disk, so `..` or a symbolic link cannot lead out of the application's
        // directory.
        let dir = std::fs::canonicalize(Path::new(&blocks_dir))
            .map_err(|error| refused(error.to_string()))?;
        let root = std::fs::canonicalize(&app_dir).map_err(|error| {
            refused(format!(
                "this worker has no directory for the application ({error})"
            ))
        })?;
        if !dir.starts_with(&root) {
            return Err(refused(format!(
                "it is not below the application's directory {}",
                root.display()
            )));
        }
        let mut state = self.lock();
        if state.ended.contains(&app_id) {
            return Err(Status::failed_precondition(format!(
                "application {app_id} has ended"
            )));
        }
        tracing::info!(
            app_id = %app_id,
            "Registered executor {executor_id} of {app_id} with its shuffle files in {}",
            dir.display()
        );
        state.executors.insert((app_id, executor_id), dir);
        Ok(())
    }
}

/// Failure of an executor to register with its worker's shuffle service.
#[derive(Debug, thiserror::Error)]
#[error(
    "Unable to register with external shuffle server at {host}:{port} after {attempts} attempt(s) (is spark.shuffle.service.enabled set on the worker?): {last}"
)]
pub struct RegistrationError {
    host: String,
    port: u16,
    attempts: usize,
    last: String,
}

/// How long an executor waits between registration attempts (Spark's 5 seconds).
const REGISTRATION_RETRY_WAIT: Duration = Duration::from_secs(5);

/// Registers an executor's block directory with the shuffle service at `host:port` (Spark's
/// `BlockManager.registerWithExternalShuffleServer`): up to `attempts` tries of `timeout`
/// each (`spark.shuffle.registration.maxAttempts`, `.timeout`), five seconds apart.
pub async fn register_executor(
    host: &str,
    port: u16,
    registration: RegisterExecutor,
    timeout: Duration,
    attempts: usize,
    security: &RpcSecurity,
) -> Result<(), RegistrationError> {
    let attempts = attempts.max(1);
    let mut last = String::new();
    for attempt in 1..=attempts {
        match tokio::time::timeout(timeout, try_register(host, port, &registration, security)).await
        {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(error)) => last = error,
            Err(_) => last = format!("no answer within {timeout:?}"),
        }
        if attempt < attempts {
            tracing::error!(
                "Failed to connect to external shuffle server, will retry {} more times after waiting {} seconds...: {last}",
                attempts - attempt,
                REGISTRATION_RETRY_WAIT.as_secs()
            );
            tokio::time::sleep(REGISTRATION_RETRY_WAIT).await;
        }
    }
    Err(RegistrationError {
        host: host.to_string(),
        port,
        attempts,
        last,
    })
}

async fn try_register(
    host: &str,
    port: u16,
    registration: &RegisterExecutor,
    security: &RpcSecurity,
) -> Result<(), String> {
    send_action(
        host,
        port,
        REGISTER_EXECUTOR,
        registration.encode_to_vec(),
        security,
    )
    .await
}

/// Asks the shuffle service at `host:port` to delete the files of a shuffle of `app_id`
/// that no job reads any more, including those of executors that are gone (Spark's
/// `spark.shuffle.service.removeShuffle`).
pub async fn remove_shuffle(
    host: &str,
    port: u16,
    app_id: &str,
    shuffle_id: u32,
    security: &RpcSecurity,
) -> Result<(), String> {
    let request = RemoveShuffle {
        app_id: app_id.to_string(),
        shuffle_id,
    };
    send_action(
        host,
        port,
        REMOVE_SHUFFLE,
        request.encode_to_vec(),
        security,
    )
    .await
}

/// Sends one Flight action and waits for its (empty) answer.
async fn send_action(
    host: &str,
    port: u16,
    kind: &str,
    body: Vec<u8>,
    security: &RpcSecurity,
) -> Result<(), String> {
    let channel = flint_rpc::connect(host, port, Duration::from_secs(5), security)
        .await
        .map_err(|error| error.to_string())?;
    let action = Action {
        r#type: kind.to_string(),
        body: body.into(),
    };
    let mut answers = FlightServiceClient::new(channel)
        .do_action(action)
        .await
        .map_err(|status| format!("{:?}: {}", status.code(), status.message()))?
        .into_inner();
    while answers
        .message()
        .await
        .map_err(|status| format!("{:?}: {}", status.code(), status.message()))?
        .is_some()
    {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration(app: &str, executor: &str, dir: &Path) -> RegisterExecutor {
        RegisterExecutor {
            app_id: app.into(),
            executor_id: executor.into(),
            blocks_dir: dir.display().to_string(),
        }
    }

    /// Only directories below the application's own are taken; an ended application's
    /// executors are forgotten and cannot come back.
    #[test]
    fn registrations_stay_inside_their_application_and_end_with_it() {
        let root = tempfile::tempdir().unwrap();
        let blocks = root.path().join("app-1/executor-0/flint-x/blockmgr");
        std::fs::create_dir_all(&blocks).unwrap();
        std::fs::create_dir_all(root.path().join("app-2")).unwrap();
        let service = ExternalShuffleService::new(root.path().to_path_buf());

        let outside = service.register(registration("app-2", "0", &blocks));
        assert_eq!(outside.unwrap_err().code(), tonic::Code::PermissionDenied);
        let escaping = service.register(registration(
            "app-1",
            "0",
            &root.path().join("app-1/../app-2"),
        ));
        assert_eq!(escaping.unwrap_err().code(), tonic::Code::PermissionDenied);
        let bad_id = service.register(registration("../app-1", "0", &blocks));
        assert_eq!(bad_id.unwrap_err().code(), tonic::Code::InvalidArgument);
        assert_eq!(
            service.blocks_dir("app-1", "0").unwrap_err().code(),
            tonic::Code::NotFound
        );

        service
            .register(registration("app-1", "0", &blocks))
            .unwrap();
        assert_eq!(service.registered_executors(), 1);
        assert_eq!(
            service.blocks_dir("app-1", "0").unwrap(),
            std::fs::canonicalize(&blocks).unwrap()
        );

        std::fs::write(blocks.join("shuffle_4_0_0.data"), b"x").unwrap();
        std::fs::write(blocks.join("shuffle_4_0_0.index"), b"x").unwrap();
        std::fs::write(blocks.join("shuffle_41_0_0.data"), b"x").unwrap();
        let removed = service.remove_shuffle(RemoveShuffle {
            app_id: "app-1".into(),
            shuffle_id: 4,
        });
        assert_eq!(removed.unwrap(), 2, "only shuffle 4's files");
        assert!(blocks.join("shuffle_41_0_0.data").exists());
        let other_app = service.remove_shuffle(RemoveShuffle {
            app_id: "app-2".into(),
            shuffle_id: 41,
        });
        assert_eq!(other_app.unwrap(), 0, "another application's request");

        service.application_removed("app-1");
        assert_eq!(service.registered_executors(), 0);
        let served = service.blocks_dir("app-1", "0").unwrap_err();
        assert!(served.message().contains("has ended"), "{served}");
        let again = service.register(registration("app-1", "0", &blocks));
        assert_eq!(again.unwrap_err().code(), tonic::Code::FailedPrecondition);
    }
}

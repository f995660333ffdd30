//! Connect sessions (Spark's `SessionHolder`): each client session is a Flint session of the
//! one application, with its own temporary views and SQL conf, and its executions.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::ConnectError;
use crate::execute::Execution;

/// One client session.
pub struct ConnectSession {
    /// The client's id for it (a UUID the client chose).
    pub session_id: String,
    /// The server's id for it, constant for its life; the client checks it.
    pub server_side_session_id: String,
    /// `user_context.user_id` of the first request.
    pub user_id: String,
    /// The Flint session that plans and runs its requests.
    pub spark: flint::SparkSession,
    /// When it started and last served a request (ms since the epoch).
    pub start_time: u64,
    last_access: AtomicU64,
    /// Keys the client set that are not SQL confs (`spark.app.name`, `spark.executor.memory`).
    client_conf: Mutex<BTreeMap<String, String>>,
    executions: Mutex<HashMap<String, Arc<Execution>>>,
}

impl ConnectSession {
    /// Marks the session used now.
    pub fn touch(&self) {
        self.last_access
            .store(flint_common::now_millis(), Ordering::Relaxed);
    }

    /// When the session last served a request (ms since the epoch).
    pub fn last_access(&self) -> u64 {
        self.last_access.load(Ordering::Relaxed)
    }

    /// A value the client set that is not a SQL conf.
    pub fn client_conf(&self, key: &str) -> Option<String> {
        self.client_conf.lock().ok()?.get(key).cloned()
    }

    /// Every value the client set that is not a SQL conf.
    pub fn client_confs(&self) -> BTreeMap<String, String> {
        self.client_conf
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    /// `spark.conf.set`: SQL confs change how this session plans and the scheduling pool where
    /// its jobs run; other keys are kept.
    pub fn set(&self, key: &str, value: &str) -> Result<(), ConnectError> {
        if is_session_conf(key) {
            self.spark
                .set_conf(key, value)
                .map_err(|e| ConnectError::IllegalArgument(e.to_string()))?;
        } else if let Ok(mut conf) = self.client_conf.lock() {
            conf.insert(key.to_string(), value.to_string());
        }
        Ok(())
    }

    /// `spark.conf.unset`.
    pub fn unset(&self, key: &str) -> Result<(), ConnectError> {
        if let Ok(mut conf) = self.client_conf.lock() {
            conf.remove(key);
        }
        if is_session_conf(key) {
            self.spark.unset_conf(key)?;
        }
        Ok(())
    }

    /// Registers a running execution under its operation id.
    pub fn add_execution(&self, execution: Arc<Execution>) -> Result<(), ConnectError> {
        let mut executions = self
            .executions
            .lock()
            .map_err(|_| ConnectError::Interrupted)?;
        if executions.contains_key(&execution.operation_id) {
            return Err(ConnectError::InvalidPlan(format!(
                "[INVALID_HANDLE.OPERATION_ALREADY_EXISTS] The handle {} is invalid. Operation already exists. SQLSTATE: HY000",
                execution.operation_id
            )));
        }
        executions.insert(execution.operation_id.clone(), execution);
        Ok(())
    }

    /// The execution with this operation id.
    pub fn execution(&self, operation_id: &str) -> Option<Arc<Execution>> {
        self.executions.lock().ok()?.get(operation_id).cloned()
    }

    /// Forgets an execution (`ReleaseExecute` of all of it), interrupting it if it runs.
    pub fn remove_execution(&self, operation_id: &str) -> Option<Arc<Execution>> {
        let execution = self.executions.lock().ok()?.remove(operation_id);
        if let Some(execution) = &execution {
            execution.interrupt();
        }
        execution
    }

    /// The executions of this session, for `Interrupt` and the UI.
    pub fn executions(&self) -> Vec<Arc<Execution>> {
        self.executions
            .lock()
            .map(|e| e.values().cloned().collect())
            .unwrap_or_default()
    }
}

/// Every session of the application's Connect endpoint (Spark's `SparkConnectSessionManager`).
pub struct SessionManager {
    root: flint::SparkSession,
    sessions: Mutex<HashMap<String, Arc<ConnectSession>>>,
}

impl SessionManager {
    /// Sessions of `root`'s application.
    pub fn new(root: flint::SparkSession) -> Self {
        SessionManager {
            root,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// The session with this id, created on its first request (Connect has no "open
    /// session" call). A client that names a server-side id must name the current one.
    pub fn get_or_create(
        &self,
        session_id: &str,
        user_id: &str,
        observed_server_id: Option<&str>,
    ) -> Result<Arc<ConnectSession>, ConnectError> {
        if uuid::Uuid::parse_str(session_id).is_err() {
            return Err(ConnectError::InvalidPlan(format!(
                "[INVALID_HANDLE.FORMAT] The handle {session_id} is invalid. Handle must be an UUID string of the format '00112233-4455-6677-8899-aabbccddeeff'. SQLSTATE: HY000"
            )));
        }
        let mut sessions = self
            .sessions
            .lock()
            .map_err(|_| ConnectError::Interrupted)?;
        if let Some(session) = sessions.get(session_id) {
            if let Some(observed) = observed_server_id
                && !observed.is_empty()
                && observed != session.server_side_session_id
            {
                return Err(ConnectError::InvalidPlan(format!(
                    "[INVALID_HANDLE.SESSION_CHANGED] The handle {session_id} is invalid. The existing Spark server driver instance has restarted. Please reconnect. SQLSTATE: HY000"
                )));
            }
            session.touch();
            return Ok(Arc::clone(session));
        }
        if observed_server_id.is_some_and(|id| !id.is_empty()) {
            return Err(ConnectError::InvalidPlan(format!(
                "[INVALID_HANDLE.SESSION_CLOSED] The handle {session_id} is invalid. Session was closed. SQLSTATE: HY000"
            )));
        }
        let now = flint_common::now_millis();
        let session = Arc::new(ConnectSession {
            session_id: session_id.to_string(),
            server_side_session_id: uuid::Uuid::new_v4().to_string(),
            user_id: user_id.to_string(),
            spark: self.root.new_session()?,
            start_time: now,
            last_access: AtomicU64::new(now),
            client_conf: Mutex::new(BTreeMap::new()),
            executions: Mutex::new(HashMap::new()),
        });
        tracing::info!(session_id, user_id, "New Spark Connect session");
        self.root
            .post_event(flint::SparkListenerEvent::ConnectSessionStarted {
                session_id: session_id.to_string(),
                user_id: user_id.to_string(),
                time: now,
            });
        sessions.insert(session_id.to_string(), Arc::clone(&session));
        Ok(session)
    }

    /// The session with this id, if it is open (for calls that must not open one:
    /// `ReleaseExecute` may arrive after `ReleaseSession`).
    pub fn get(&self, session_id: &str) -> Option<Arc<ConnectSession>> {
        self.sessions.lock().ok()?.get(session_id).cloned()
    }

    /// Ends a session (`ReleaseSession`): its executions are interrupted and forgotten.
    pub fn release(&self, session_id: &str) -> Option<Arc<ConnectSession>> {
        let session = self.sessions.lock().ok()?.remove(session_id)?;
        for execution in session.executions() {
            session.remove_execution(&execution.operation_id);
        }
        self.root
            .post_event(flint::SparkListenerEvent::ConnectSessionClosed {
                session_id: session_id.to_string(),
                time: flint_common::now_millis(),
            });
        tracing::info!(
            session_id,
            user_id = %session.user_id,
            "Spark Connect session released after {} ms (last active {} ms ago)",
            flint_common::now_millis().saturating_sub(session.start_time),
            flint_common::now_millis().saturating_sub(session.last_access())
        );
        Some(session)
    }

    /// Forgets what clients abandoned (Spark's session and execute managers): executions
    /// ended more than `detached` ago and never released, running ones no client stream has
    /// read for `detached` (interrupted: their jobs are cancelled), and sessions idle for
    /// `idle`. Returns how many executions and sessions went.
    pub fn expire(&self, now: u64, detached: u64, idle: u64) -> (usize, usize) {
        let mut executions = 0;
        let mut idle_sessions = Vec::new();
        for session in self.sessions() {
            for execution in session.executions() {
                let abandoned = match execution.end_time() {
                    Some(end) => now.saturating_sub(end) > detached,
                    None => execution
                        .detached_since()
                        .is_some_and(|since| now.saturating_sub(since) > detached),
                };
                if abandoned {
                    if execution.end_time().is_none() {
                        tracing::info!(
                            operation_id = %execution.operation_id,
                            "Interrupting a Spark Connect operation no client has read for {detached} ms"
                        );
                        execution.interrupt();
                    }
                    session.remove_execution(&execution.operation_id);
                    executions += 1;
                }
            }
            let running = session
                .executions()
                .iter()
                .any(|e| e.state() == crate::execute::ExecutionState::Running);
            if !running && now.saturating_sub(session.last_access()) > idle {
                idle_sessions.push(session.session_id.clone());
            }
        }
        for session_id in &idle_sessions {
            self.release(session_id);
        }
        (executions, idle_sessions.len())
    }

    /// Every open session.
    pub fn sessions(&self) -> Vec<Arc<ConnectSession>> {
        self.sessions
            .lock()
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default()
    }
}

/// Keys a client sets on its own Flint session: SQL settings, and the scheduling pool its
/// jobs run in (Spark's `spark.scheduler.pool` local property).
fn is_session_conf(key: &str) -> bool {
    key.starts_with("spark.sql.") || key == flint_conf::keys::SCHEDULER_POOL.key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sessions_are_created_on_first_use_checked_and_expired_when_idle() {
        let local = tempfile::tempdir().expect("temp dir");
        let spark = flint::SparkSession::builder()
            .master("local[1]")
            .config("spark.ui.enabled", "false")
            .config("spark.local.dir", &local.path().display().to_string())
            .create()
            .await
            .expect("application");
        let manager = SessionManager::new(spark.clone());
        assert!(manager.get_or_create("not-a-uuid", "u", None).is_err());
        let id = "00112233-4455-6677-8899-aabbccddeeff";
        let session = manager.get_or_create(id, "ann", None).expect("session");
        let again = manager
            .get_or_create(id, "ann", Some(&session.server_side_session_id))
            .expect("same session");
        assert_eq!(again.server_side_session_id, session.server_side_session_id);
        assert!(
            manager
                .get_or_create(id, "ann", Some("another-server"))
                .is_err()
        );
        let now = flint_common::now_millis();
        assert_eq!(manager.expire(now, 1_000, 60_000), (0, 0));
        assert_eq!(manager.expire(now + 120_000, 1_000, 60_000), (0, 1));
        assert!(manager.get(id).is_none());
        spark.stop();
    }
}

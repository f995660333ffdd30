//! Leader election among masters through ZooKeeper (Spark's `ZooKeeperLeaderElectionAgent`,
//! which uses Curator's `LeaderLatch`): each master creates an ephemeral sequential znode
//! under `<dir>/leader_election`; the one with the lowest sequence number leads, each other
//! waits for the znode just before its own to go. A master's znode goes with its ZooKeeper
//! session, so a leader that dies (or loses ZooKeeper for the session timeout) is replaced.

use std::time::Duration;

use zookeeper_client as zk;

use crate::recovery::RecoveryError;

/// One master's place in the election.
pub(crate) struct LeaderElection {
    client: zk::Client,
    url: String,
    election_dir: String,
    /// The name of this master's znode, `latch-<sequence>`.
    own: String,
}

/// The prefix of the masters' election znodes.
const LATCH: &str = "latch-";

impl LeaderElection {
    /// Joins the election under `<dir>/leader_election`, with `master_url` as the znode's data.
    pub async fn join(
        client: zk::Client,
        url: &str,
        dir: &str,
        master_url: &str,
    ) -> Result<Self, RecoveryError> {
        tracing::info!("Starting ZooKeeper LeaderElection agent");
        let election_dir = format!("{dir}/leader_election");
        let error = |what: String| {
            move |source| RecoveryError::ZooKeeper {
                url: url.to_string(),
                what,
                source,
            }
        };
        let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        client
            .mkdir(&election_dir, &open)
            .await
            .map_err(error(format!("create {election_dir}")))?;
        let latch = zk::CreateMode::EphemeralSequential.with_acls(zk::Acls::anyone_all());
        let prefix = format!("{election_dir}/{LATCH}");
        let (_, sequence) = client
            .create(&prefix, master_url.as_bytes(), &latch)
            .await
            .map_err(error(format!("create {prefix}")))?;
        Ok(Self {
            client,
            url: url.to_string(),
            own: format!("{LATCH}{sequence}"),
            election_dir,
        })
    }

    /// Waits until this master leads: its znode is the lowest. Each turn it watches the
    /// znode just before its own, so a leader's death wakes one master only.
    pub async fn wait_for_leadership(&self) -> Result<(), RecoveryError> {
        loop {
            let mut latches: Vec<String> = self
                .client
                .list_children(&self.election_dir)
                .await
                .map_err(|source| self.error("list the election", source))?
                .into_iter()
                .filter(|name| name.starts_with(LATCH))
                .collect();
            latches.sort();
            let Some(position) = latches.iter().position(|name| *name == self.own) else {
                // Our znode is gone: the session ended.
                return Err(self.error("stay in the election", zk::Error::SessionExpired));
            };
            if position == 0 {
                return Ok(());
            }
            let before = format!("{}/{}", self.election_dir, latches[position - 1]);
            let (stat, watcher) = self
                .client
                .check_and_watch_stat(&before)
                .await
                .map_err(|source| self.error("watch the master before this one", source))?;
            if stat.is_some() {
                let event = watcher.changed().await;
                if matches!(
                    event.session_state,
                    zk::SessionState::Expired | zk::SessionState::Closed
                ) {
                    return Err(self.error("stay in the election", zk::Error::SessionExpired));
                }
            }
        }
    }

    /// Waits until this master may no longer lead; returns why. That is when its session
    /// ends (expired, closed), or when it has been cut off from ZooKeeper for the session
    /// timeout: by then the ensemble may have expired the session and elected another
    /// master, which must not find this one still acting as leader.
    pub async fn wait_for_session_end(&self, session_timeout: Duration) -> String {
        let mut states = self.client.state_watcher();
        let mut cut_off: Option<tokio::time::Instant> = None;
        loop {
            let deadline = cut_off.map(|since| since + session_timeout);
            let state = tokio::select! {
                state = states.changed() => state,
                () = sleep_until(deadline) => {
                    return format!(
                        "cut off from ZooKeeper at {} for {session_timeout:?}",
                        self.url
                    );
                }
            };
            match state {
                zk::SessionState::Disconnected => {
                    tracing::warn!("Lost the connection to ZooKeeper at {}", self.url);
                    cut_off.get_or_insert_with(tokio::time::Instant::now);
                }
                state if state.is_terminated() => {
                    return format!("ZooKeeper session at {} {state:?}", self.url);
                }
                _ => cut_off = None,
            }
        }
    }

    fn error(&self, what: &str, source: zk::Error) -> RecoveryError {
        RecoveryError::ZooKeeper {
            url: self.url.clone(),
            what: what.to_string(),
            source,
        }
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

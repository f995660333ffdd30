//! Starting and stopping a driver's Connect endpoint (Spark's `SparkConnectServer`).

use std::sync::Arc;

use flint_conf::keys;
use tonic::Status;
use tonic::codec::CompressionEncoding;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;

use crate::generated::spark_connect_service_server::SparkConnectServiceServer;
use crate::service::ConnectService;
use crate::session::SessionManager;

/// `spark.connect.grpc.binding.port`'s default.
pub const DEFAULT_PORT: u16 = 15002;

/// Plans nest deeply and carry local data; Spark allows messages of 128 MiB.
const MAX_MESSAGE_BYTES: usize = 128 * 1024 * 1024;

/// The endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum ConnectServerError {
    /// No port could be bound.
    #[error(transparent)]
    Bind(#[from] flint_rpc::RpcError),
    /// A `spark.connect.*` setting is invalid.
    #[error("{0}")]
    Conf(String),
}

/// Refuses every request whose `authorization: Bearer` token is not the secret of
/// `spark.authenticate` (PySpark sends it for `sc://host:port/;token=...` or
/// `SPARK_CONNECT_AUTHENTICATE_TOKEN`), before anything it sent is decoded or acted on.
#[derive(Clone)]
struct BearerToken(flint_rpc::RpcSecurity);

impl Interceptor for BearerToken {
    fn call(&mut self, request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if !self.0.authenticates() {
            return Ok(request);
        }
        let token = request
            .metadata()
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        if token.is_some_and(|token| self.0.accepts_token(token)) {
            return Ok(request);
        }
        let peer = request
            .remote_addr()
            .map_or_else(|| "an unknown peer".to_string(), |addr| addr.to_string());
        let why = if token.is_some() {
            "a wrong bearer token"
        } else {
            "no bearer token"
        };
        tracing::warn!(
            "Refused a Spark Connect request from {peer}: {why} (spark.authenticate is on)"
        );
        Err(Status::unauthenticated("Invalid authentication token"))
    }
}

/// A running Connect endpoint; stops when dropped.
pub struct ConnectServer {
    port: u16,
    security: flint_rpc::RpcSecurity,
    sessions: Arc<SessionManager>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl ConnectServer {
    /// Serves Spark Connect for `spark`'s application on `host:port` (0: any free port),
    /// over TLS with `spark.ssl.enabled`.
    pub async fn start(
        spark: flint::SparkSession,
        host: &str,
        port: u16,
    ) -> Result<ConnectServer, ConnectServerError> {
        Self::serve(spark, host, port, true).await
    }

    /// Serves Spark Connect on a free port of 127.0.0.1 for a PySpark program this process
    /// starts (`flint submit app.py`, `flint pyspark`): never over TLS, since the traffic
    /// stays on this host and the program is given a plain `sc://localhost` URL; the token
    /// of `spark.authenticate` is still required.
    pub async fn start_loopback(
        spark: flint::SparkSession,
    ) -> Result<ConnectServer, ConnectServerError> {
        Self::serve(spark, "127.0.0.1", 0, false).await
    }

    async fn serve(
        spark: flint::SparkSession,
        host: &str,
        port: u16,
        tls: bool,
    ) -> Result<ConnectServer, ConnectServerError> {
        let conf = spark.conf();
        let max_retries = conf
            .value(&keys::PORT_MAX_RETRIES)
            .map_err(|e| ConnectServerError::Conf(e.to_string()))?;
        let duration = |key: &keys::Key<std::time::Duration>| {
            conf.value(key)
                .map_err(|e| ConnectServerError::Conf(e.to_string()))
        };
        let detached = duration(&keys::CONNECT_DETACHED_TIMEOUT)?.as_millis() as u64;
        let idle = duration(&keys::CONNECT_SESSION_TIMEOUT)?.as_millis() as u64;
        let interval = duration(&keys::CONNECT_MAINTENANCE_INTERVAL)?
            .max(std::time::Duration::from_millis(100));
        crate::codec::set_recursion_limit(
            conf.value(&keys::CONNECT_GRPC_RECURSION_LIMIT)
                .map_err(|e| ConnectServerError::Conf(e.to_string()))?,
        );
        let security = flint_rpc::RpcSecurity::from_conf(conf)
            .map_err(|e| ConnectServerError::Conf(e.to_string()))?;
        let (listener, port) =
            flint_rpc::bind_service("SparkConnectService", host, port, max_retries).await?;
        let sessions = Arc::new(SessionManager::new(spark));
        let service = SparkConnectServiceServer::new(ConnectService::new(Arc::clone(&sessions)))
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd);
        let service = InterceptedService::new(service, BearerToken(security.clone()));
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        // PySpark speaks standard gRPC (over TLS with spark.ssl.enabled): it proves the
        // secret as a bearer token on each request instead of Flint's connection handshake.
        let transport = if tls {
            security.tls_only()
        } else {
            flint_rpc::RpcSecurity::none()
        };
        let incoming = flint_rpc::incoming(listener, &transport);
        tokio::spawn(async move {
            let served = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(error) = served {
                tracing::error!("Spark Connect server stopped: {error}");
            }
        });
        let expiring = Arc::downgrade(&sessions);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            loop {
                tick.tick().await;
                let Some(sessions) = expiring.upgrade() else {
                    break;
                };
                let (executions, sessions) =
                    sessions.expire(flint_common::now_millis(), detached, idle);
                if executions + sessions > 0 {
                    tracing::info!(
                        "Forgot {executions} abandoned operations and closed {sessions} idle sessions"
                    );
                }
            }
        });
        tracing::info!(port, "Spark Connect server started at: {host}:{port}");
        Ok(ConnectServer {
            port,
            security,
            sessions,
            shutdown: Some(shutdown),
        })
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The bearer token clients must send (the secret of `spark.authenticate`), if any.
    pub fn bearer_token(&self) -> Option<&str> {
        self.security.secret()
    }

    /// How many client sessions are open.
    pub fn session_count(&self) -> usize {
        self.sessions.sessions().len()
    }

    /// Stops accepting requests.
    pub fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

impl Drop for ConnectServer {
    fn drop(&mut self) {
        self.stop();
    }
}

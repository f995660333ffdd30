use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use thiserror::Error;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::auth::{self, AuthError, RpcSecurity};
use crate::tls::{ClientConnection, MaybeTls, ServerConnection, TlsConfig};

/// Failures to bind or reach an RPC or HTTP service.
#[derive(Debug, Error)]
pub enum RpcError {
    /// No port in the allowed range could be bound.
    #[error(
        "cannot bind service '{service}' on {host}:{port} (tried {attempts} ports; set another port or free it): {source}"
    )]
    Bind {
        service: String,
        host: String,
        port: u16,
        attempts: u16,
        source: std::io::Error,
    },
    /// The address is not a valid endpoint.
    #[error("invalid address {address}: {message}")]
    InvalidAddress { address: String, message: String },
    /// The peer did not answer, or did not authenticate.
    #[error("cannot connect to {address}: {message}")]
    Connect { address: String, message: String },
}

/// Binds `service` on `host:port`, trying the next ports when one is taken, as Spark's
/// `Utils.startServiceOnPort` does: port 0 means any free port; otherwise up to
/// `max_retries` more ports (`spark.port.maxRetries`) are tried, each failure logged with
/// Spark's "could not bind on port" line. Logs Spark's "Successfully started service" line
/// and returns the listener with the port it got.
pub async fn bind_service(
    service: &str,
    host: &str,
    port: u16,
    max_retries: u16,
) -> Result<(TcpListener, u16), RpcError> {
    let attempts = if port == 0 { 1 } else { max_retries + 1 };
    let mut last_error = None;
    for offset in 0..attempts {
        let candidate = if port == 0 {
            0
        } else {
            (((port as u32 + offset as u32 - 1024) % (65536 - 1024)) + 1024) as u16
        };
        match TcpListener::bind((host, candidate)).await {
            Ok(listener) => {
                let bound = listener.local_addr().map(|a| a.port()).unwrap_or(candidate);
                tracing::info!(
                    port = bound,
                    "Successfully started service '{service}' on port {bound}."
                );
                return Ok((listener, bound));
            }
            Err(error) => {
                if offset + 1 < attempts {
                    tracing::warn!(
                        "Service '{service}' could not bind on port {candidate}. Attempting port {}.",
                        candidate.wrapping_add(1)
                    );
                }
                last_error = Some(error);
            }
        }
    }
    Err(RpcError::Bind {
        service: service.to_string(),
        host: host.to_string(),
        port,
        attempts,
        source: last_error.unwrap_or_else(|| std::io::Error::other("no attempt made")),
    })
}

/// The connections a gRPC server accepts on `listener`, with `TCP_NODELAY` set: RPC messages
/// are small and latency-bound, and Nagle's algorithm with delayed ACKs would hold a reply
/// (a shuffle block's next message, a task's status update) for up to 40 ms. Clients set it
/// already (tonic's default).
///
/// With TLS on, a connection is handed to the server once its TLS handshake is done; with
/// authentication on, once its peer has then proved it knows the secret (see
/// [`crate::auth`]). Any other is closed with one warning naming the peer, before the server
/// reads a byte of gRPC from it.
pub fn incoming(listener: TcpListener, security: &RpcSecurity) -> Incoming {
    let acceptor = security.tls().map(|tls| tls.rpc_acceptor());
    Incoming {
        connections: accept_loop(listener, security.secret().map(Arc::from), acceptor),
    }
}

/// Accepts connections on `listener` until the receiver is dropped, and passes on each one
/// that completes TLS (with `acceptor`) and the secret's exchange (with `secret`). Each
/// connection's handshakes run on their own task, so a slow peer holds up no other.
pub(crate) fn accept_loop(
    listener: TcpListener,
    secret: Option<Arc<str>>,
    acceptor: Option<TlsAcceptor>,
) -> mpsc::Receiver<(ServerConnection, SocketAddr)> {
    let (accepted, connections) = mpsc::channel(64);
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                // The server is gone: stop accepting, which frees the port.
                _ = accepted.closed() => return,
                next = listener.accept() => next,
            };
            let (stream, peer) = match next {
                Ok(connection) => connection,
                Err(error) => {
                    // Out of file descriptors and the like: try again shortly.
                    tracing::debug!("accept failed on port {port}: {error}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            if secret.is_none() && acceptor.is_none() {
                if accepted
                    .send((MaybeTls::Plain(stream), peer))
                    .await
                    .is_err()
                {
                    return;
                }
                continue;
            }
            let accepted = accepted.clone();
            let secret = secret.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let handshakes = async {
                    let mut connection = match acceptor {
                        Some(acceptor) => MaybeTls::Tls(Box::new(
                            acceptor.accept(stream).await.map_err(AuthError::Tls)?,
                        )),
                        None => MaybeTls::Plain(stream),
                    };
                    if let Some(secret) = secret {
                        auth::authenticate_client(&mut connection, &secret).await?;
                    }
                    Ok::<_, AuthError>(connection)
                };
                match tokio::time::timeout(auth::HANDSHAKE_TIMEOUT, handshakes).await {
                    Ok(Ok(connection)) => {
                        let _ = accepted.send((connection, peer)).await;
                    }
                    Ok(Err(error)) => {
                        tracing::warn!("Refused a connection from {peer} on port {port}: {error}")
                    }
                    Err(_) => tracing::warn!(
                        "Refused a connection from {peer} on port {port}: {}",
                        AuthError::Timeout
                    ),
                }
            });
        }
    });
    connections
}

/// The accepted, secured connections of a server's listener (see [`incoming`]).
pub struct Incoming {
    connections: mpsc::Receiver<(ServerConnection, SocketAddr)>,
}

impl futures_core::Stream for Incoming {
    type Item = Result<ServerConnection, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.connections
            .poll_recv(cx)
            .map(|next| next.map(|(connection, _)| Ok(connection)))
    }
}

fn endpoint(host: &str, port: u16, timeout: Duration) -> Result<Endpoint, RpcError> {
    let address = format!("http://{host}:{port}");
    Ok(Endpoint::from_shared(address.clone())
        .map_err(|e| RpcError::InvalidAddress {
            address,
            message: e.to_string(),
        })?
        .connect_timeout(timeout)
        .timeout(timeout))
}

/// Opens TCP connections to one peer and, as the process's settings say, speaks TLS and
/// proves the secret on each before gRPC uses it.
#[derive(Clone)]
struct SecureConnector {
    host: Arc<str>,
    port: u16,
    secret: Option<Arc<str>>,
    tls: Option<TlsConfig>,
}

impl SecureConnector {
    fn new(host: &str, port: u16, security: &RpcSecurity) -> Self {
        SecureConnector {
            host: Arc::from(host),
            port,
            secret: security.secret().map(Arc::from),
            tls: security.tls().cloned(),
        }
    }
}

impl tower_service::Service<Uri> for SecureConnector {
    type Response = TokioIo<ClientConnection>;
    type Error = AuthError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, AuthError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), AuthError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let SecureConnector {
            host,
            port,
            secret,
            tls,
        } = self.clone();
        Box::pin(async move {
            let stream = TcpStream::connect((&*host, port))
                .await
                .map_err(AuthError::Connect)?;
            let _ = stream.set_nodelay(true);
            let mut connection = match tls {
                Some(tls) => MaybeTls::Tls(Box::new(
                    tls.connect(&host, stream).await.map_err(AuthError::Tls)?,
                )),
                None => MaybeTls::Plain(stream),
            };
            if let Some(secret) = secret {
                auth::authenticate_to_server(&mut connection, &secret).await?;
            }
            Ok(TokioIo::new(connection))
        })
    }
}

/// True when connections need more than tonic's own connector: TLS or the secret.
fn secured(security: &RpcSecurity) -> bool {
    security.secret().is_some() || security.tls().is_some()
}

/// Opens a gRPC channel to `host:port`, giving up after `timeout`; with authentication on,
/// every connection first proves the secret.
pub async fn connect(
    host: &str,
    port: u16,
    timeout: Duration,
    security: &RpcSecurity,
) -> Result<Channel, RpcError> {
    let endpoint = endpoint(host, port, timeout)?;
    let address = format!("{host}:{port}");
    let connected = if secured(security) {
        endpoint
            .connect_with_connector(SecureConnector::new(host, port, security))
            .await
    } else {
        endpoint.connect().await
    };
    connected.map_err(|source| RpcError::Connect {
        address,
        message: error_chain(&source),
    })
}

/// A gRPC channel to `host:port` that connects on first use (and again after a failure), for
/// peers the caller talks to now and then, such as the master to its workers.
pub fn connect_lazy(
    host: &str,
    port: u16,
    timeout: Duration,
    security: &RpcSecurity,
) -> Result<Channel, RpcError> {
    let endpoint = endpoint(host, port, timeout)?;
    Ok(if secured(security) {
        endpoint.connect_with_connector_lazy(SecureConnector::new(host, port, security))
    } else {
        endpoint.connect_lazy()
    })
}

/// An error and its causes, one line (tonic's own text is just "transport error").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// True when a call failed because the peer could not be reached (connection refused or
/// dropped: tonic's `Unavailable`, or any status made from a transport error, such as a
/// connection an authenticating server closed before HTTP/2 began), not because its handler
/// said no or was slow to answer. Flint's handlers never answer `Unavailable` themselves,
/// except a master that is shutting down.
pub fn is_unreachable(status: &tonic::Status) -> bool {
    status.code() == tonic::Code::Unavailable
        || std::error::Error::source(status)
            .is_some_and(|cause| cause.is::<tonic::transport::Error>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_taken_port_moves_to_the_next_one() {
        let (_first, taken) = bind_service("test", "127.0.0.1", 0, 16).await.unwrap();
        if taken == u16::MAX {
            return;
        }
        let (second, port) = bind_service("test", "127.0.0.1", taken, 16).await.unwrap();
        assert_ne!(port, taken);
        assert_eq!(second.local_addr().unwrap().port(), port);
        let refused = bind_service("test", "127.0.0.1", taken, 0).await;
        assert!(matches!(refused, Err(RpcError::Bind { attempts: 1, .. })));
    }
}

use std::time::Duration;

use thiserror::Error;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint};

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
    /// The peer did not answer.
    #[error("cannot connect to {address}: {source}")]
    Connect {
        address: String,
        source: tonic::transport::Error,
    },
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
pub fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// Opens a gRPC channel to `host:port`, giving up after `timeout`.
pub async fn connect(host: &str, port: u16, timeout: Duration) -> Result<Channel, RpcError> {
    let address = format!("http://{host}:{port}");
    let endpoint = Endpoint::from_shared(address.clone())
        .map_err(|e| RpcError::InvalidAddress {
            address: address.clone(),
            message: e.to_string(),
        })?
        .connect_timeout(timeout)
        .timeout(timeout);
    endpoint
        .connect()
        .await
        .map_err(|source| RpcError::Connect { address, source })
}

/// A gRPC channel to `host:port` that connects on first use (and again after a failure), for
/// peers the caller talks to now and then, such as the master to its workers.
pub fn connect_lazy(host: &str, port: u16, timeout: Duration) -> Result<Channel, RpcError> {
    let address = format!("http://{host}:{port}");
    let endpoint = Endpoint::from_shared(address.clone())
        .map_err(|e| RpcError::InvalidAddress {
            address,
            message: e.to_string(),
        })?
        .connect_timeout(timeout)
        .timeout(timeout);
    Ok(endpoint.connect_lazy())
}

/// True when a call failed because the peer could not be reached (connection refused or
/// dropped: tonic's `Unavailable`), not because its handler said no or was slow to answer.
/// Flint's handlers never answer `Unavailable` themselves, except a master that is shutting
/// down.
pub fn is_unreachable(status: &tonic::Status) -> bool {
    status.code() == tonic::Code::Unavailable
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

//! Fetching shuffle blocks over the network (the client of Spark's block transfer service): a
//! reducer whose block lives on another host asks the block's server with a Flight `DoGet`
//! whose ticket names the application, the executor that wrote the block and the block. The
//! server is the executor's own, or its worker's shuffle service (`flint-shuffle-service`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow_flight::FlightData;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_client::FlightServiceClient;
use datafusion::arrow::array::RecordBatch;
use flint_rpc::RpcSecurity;
use flint_shuffle_service::block_ticket;
use flint_storage::BlockId;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use tonic::Status;
use tonic::transport::Channel;

use crate::ShuffleBlock;

/// Fetches one application's shuffle blocks from block servers (executors' own, or workers'
/// shuffle services), keeping one connection per server address.
///
/// Tasks run on runtimes of their own that end with them, while a connection's background
/// work lives on the runtime it was made on; so connections are made and read on the
/// executor's long-lived runtime, and only the (cheap) bytes cross to the task, which decodes
/// them itself.
#[derive(Debug)]
pub struct ShuffleClient {
    app_id: String,
    timeout: Duration,
    /// `spark.shuffle.io.maxRetries`: fetches retried after a connection failure.
    max_retries: u32,
    /// `spark.shuffle.io.retryWait`: the wait before each retry.
    retry_wait: Duration,
    channels: Mutex<HashMap<(String, u16), Channel>>,
    runtime: Option<tokio::runtime::Handle>,
    /// `spark.authenticate`: the secret each connection to a block server proves.
    security: RpcSecurity,
}

impl ShuffleClient {
    /// A client for application `app_id`'s blocks whose connections and requests give up
    /// after `timeout` (`spark.network.timeout`), doing its network work on the runtime it is
    /// created in (outside a runtime: on each fetch's own, without keeping connections).
    pub fn new(app_id: String, timeout: Duration) -> Self {
        Self {
            app_id,
            timeout,
            max_retries: 3,
            retry_wait: Duration::from_secs(5),
            channels: Mutex::new(HashMap::new()),
            runtime: tokio::runtime::Handle::try_current().ok(),
            security: RpcSecurity::none(),
        }
    }

    /// Proves `security`'s secret on every connection to a block server.
    pub fn with_security(mut self, security: RpcSecurity) -> Self {
        self.security = security;
        self
    }

    /// Retries a fetch whose connection failed up to `max_retries` times, `wait` apart
    /// (Spark's `spark.shuffle.io.maxRetries` and `retryWait`; 3 and 5 s until set).
    pub fn with_retries(mut self, max_retries: u32, wait: Duration) -> Self {
        self.max_retries = max_retries;
        self.retry_wait = wait;
        self
    }

    fn forget_channel(&self, host: &str, port: u16) {
        self.channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(host.to_string(), port));
    }

    /// Streams one block's messages into `sender`, skipping the first `delivered` (sent by
    /// an earlier attempt) and counting those it sends; a dropped receiver ends it quietly.
    async fn stream_block(
        &self,
        (host, port): (&str, u16),
        ticket: &arrow_flight::Ticket,
        delivered: &mut usize,
        sender: &tokio::sync::mpsc::Sender<Result<FlightData, Status>>,
    ) -> Result<(), Status> {
        let channel = self.channel(host, port).map_err(Status::unavailable)?;
        let mut messages = FlightServiceClient::new(channel)
            .do_get(ticket.clone())
            .await?
            .into_inner();
        let mut seen = 0;
        while let Some(data) = messages.message().await? {
            seen += 1;
            if seen <= *delivered {
                continue;
            }
            if sender.send(Ok(data)).await.is_err() {
                return Ok(());
            }
            *delivered += 1;
        }
        Ok(())
    }

    fn channel(&self, host: &str, port: u16) -> Result<Channel, String> {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(channel) = channels.get(&(host.to_string(), port)) {
            return Ok(channel.clone());
        }
        let channel = flint_rpc::connect_lazy(host, port, self.timeout, &self.security)
            .map_err(|e| e.to_string())?;
        if self.runtime.is_some() {
            channels.insert((host.to_string(), port), channel.clone());
        }
        Ok(channel)
    }

    /// One block's record batches, fetched with `DoGet`; `on_bytes` is told the size of every
    /// message received. Errors are messages for the reader's fetch failure.
    pub fn fetch(
        self: &Arc<Self>,
        shuffle_id: u32,
        block: &ShuffleBlock,
        on_bytes: impl Fn(usize) + Send + 'static,
    ) -> BoxStream<'static, Result<RecordBatch, String>> {
        let block_id = BlockId::Shuffle {
            shuffle_id,
            map_id: block.map_id,
            reduce_id: block.reduce_id,
        };
        let ticket = block_ticket(&self.app_id, &block.executor_id, block_id);
        let name = block_id.to_string();
        let (host, port) = (block.host.clone(), block.port);
        let context = format!("fetching {name} from {host}:{port}");
        let (sender, receiver) = tokio::sync::mpsc::channel::<Result<FlightData, Status>>(8);
        let client = Arc::clone(self);
        let transfer = async move {
            // Spark's `RetryingBlockTransferor`: a connection that fails is tried again, a
            // block the server refuses (missing, corrupt) is not. A retry skips the messages
            // an earlier attempt passed on, so no row is read twice.
            let mut delivered = 0;
            let mut retries = 0;
            loop {
                let status = match client
                    .stream_block((&host, port), &ticket, &mut delivered, &sender)
                    .await
                {
                    Ok(()) => return,
                    Err(status) => status,
                };
                if retries >= client.max_retries || !is_transient(&status) {
                    let _ = sender.send(Err(status)).await;
                    return;
                }
                retries += 1;
                tracing::info!(
                    "Retrying fetch ({retries}/{}) for 1 outstanding blocks after {} ms: {name} from {host}:{port}: {}",
                    client.max_retries,
                    client.retry_wait.as_millis(),
                    status.message()
                );
                client.forget_channel(&host, port);
                tokio::time::sleep(client.retry_wait).await;
            }
        };
        match &self.runtime {
            Some(runtime) => drop(runtime.spawn(transfer)),
            None => drop(tokio::spawn(transfer)),
        }
        let data = futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|item| (item, receiver))
        })
        .map_ok(move |data| {
            on_bytes(data.data_header.len() + data.data_body.len());
            data
        })
        .map_err(|status| FlightError::Tonic(Box::new(status)));
        FlightRecordBatchStream::new_from_flight_data(data)
            .map_err(move |error| format!("{context}: {}", describe(&error)))
            .boxed()
    }
}

/// A failure of the connection rather than the server's answer about the block: worth a
/// retry (Spark retries on `IOException`s). A refused connection is not: nothing listens
/// there any more (the executor is gone, and with it its worker's shuffle service if it had
/// one), so waiting cannot help and the map output is better computed again at once; Spark
/// retries it too, which holds every reducer of a lost executor for 15 s.
fn is_transient(status: &Status) -> bool {
    let transient = matches!(
        status.code(),
        tonic::Code::Unavailable
            | tonic::Code::Unknown
            | tonic::Code::Cancelled
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Aborted
    );
    transient && !is_connection_refused(status)
}

/// True when the status comes from a connection the peer's host refused.
fn is_connection_refused(status: &Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(cause) = source {
        if cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|error| error.kind() == std::io::ErrorKind::ConnectionRefused)
        {
            return true;
        }
        source = cause.source();
    }
    false
}

/// A fetch error in one line: a gRPC status by its code and message, with its cause.
fn describe(error: &FlightError) -> String {
    match error {
        FlightError::Tonic(status) => {
            let mut text = format!("{:?}: {}", status.code(), status.message());
            let mut source = std::error::Error::source(status.as_ref());
            while let Some(cause) = source {
                text.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            text
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block server that is gone refuses the connection: no retry (and no 15 s wait),
    /// whether or not connections prove the secret first.
    #[tokio::test]
    async fn a_refused_connection_is_not_retried_with_or_without_the_secret() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let ticket = arrow_flight::Ticket::new("block");
        for security in [RpcSecurity::none(), RpcSecurity::new(Some("s3cret".into()))] {
            let client =
                ShuffleClient::new("app".into(), Duration::from_secs(5)).with_security(security);
            let (sender, _receiver) = tokio::sync::mpsc::channel(1);
            let status = client
                .stream_block(("127.0.0.1", port), &ticket, &mut 0, &sender)
                .await
                .unwrap_err();
            assert!(
                is_connection_refused(&status),
                "{}",
                describe(&status.into())
            );
        }
    }
}

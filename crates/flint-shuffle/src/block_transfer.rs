//! Shuffle blocks over the network (Spark's `NettyBlockTransferService`): every executor serves
//! the blocks of its map outputs over Arrow Flight, and a reducer whose block lives on another
//! host fetches it with `DoGet`. The ticket is the block's Spark name,
//! `shuffle_<shuffle>_<map>_<reduce>`; the server resolves it inside its own block manager's
//! directory only, so a ticket can never name an arbitrary file.
//!
//! The blocks on disk already are Arrow IPC streams (compressed), so the server sends their IPC
//! messages as they are, one `FlightData` each, without decoding or recompressing them.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::flight_service_server::{FlightService, FlightServiceServer};
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo,
    HandshakeRequest, HandshakeResponse, PollInfo, PutResult, SchemaResult, Ticket,
};
use bytes::Bytes;
use datafusion::arrow::array::RecordBatch;
use flint_storage::{BlockId, DiskBlockManager};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use tonic::transport::Channel;
use tonic::{Request, Response, Status, Streaming};

use crate::ShuffleBlock;
use crate::index::read_range;

/// The IPC continuation marker that starts every message of a stream.
const CONTINUATION: [u8; 4] = [0xFF; 4];

/// Serves this executor's shuffle blocks to reducers on other hosts (Spark's block transfer
/// service, on `spark.blockManager.port`).
#[derive(Debug, Clone)]
pub struct BlockTransferService {
    executor_id: String,
    block_manager: Arc<DiskBlockManager>,
}

impl BlockTransferService {
    /// A service for the blocks of `block_manager`, written by executor `executor_id`.
    pub fn new(executor_id: String, block_manager: Arc<DiskBlockManager>) -> Self {
        Self {
            executor_id,
            block_manager,
        }
    }

    /// The gRPC service to add to a tonic server.
    pub fn into_server(self) -> FlightServiceServer<Self> {
        FlightServiceServer::new(self)
    }

    /// Opens the byte range of one reduce partition's block; `None` for an empty block.
    fn open(&self, ticket: &[u8]) -> Result<Option<std::io::Take<BufReader<File>>>, Status> {
        let name = std::str::from_utf8(ticket)
            .map_err(|_| Status::invalid_argument("the ticket is not a UTF-8 block name"))?;
        let Some(BlockId::Shuffle {
            shuffle_id,
            map_id,
            reduce_id,
        }) = BlockId::parse(name)
        else {
            return Err(Status::invalid_argument(format!(
                "'{}' is not a shuffle block name (expected shuffle_<shuffle>_<map>_<reduce>)",
                name.chars().take(100).collect::<String>()
            )));
        };
        let not_found = |what: &str, error: std::io::Error| {
            Status::not_found(format!(
                "shuffle block {name} is not on executor {}: {what}: {error}",
                self.executor_id
            ))
        };
        let index = self
            .block_manager
            .file_for(BlockId::ShuffleIndex { shuffle_id, map_id });
        let (start, end) = read_range(&index, reduce_id).map_err(|e| not_found("index", e))?;
        if start == end {
            return Ok(None);
        }
        let data = self
            .block_manager
            .file_for(BlockId::ShuffleData { shuffle_id, map_id });
        let mut file = File::open(&data).map_err(|e| not_found("data", e))?;
        let length = file.metadata().map_err(|e| not_found("data", e))?.len();
        if end > length {
            return Err(Status::data_loss(format!(
                "shuffle block {name}: data file has {length} bytes, index says the block ends at {end}"
            )));
        }
        file.seek(SeekFrom::Start(start))
            .map_err(|e| not_found("data", e))?;
        Ok(Some(BufReader::new(file).take(end - start)))
    }
}

type FlightStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

fn unsupported<T>(method: &str) -> Result<T, Status> {
    Err(Status::unimplemented(format!(
        "the shuffle block service only answers DoGet, not {method}"
    )))
}

#[tonic::async_trait]
impl FlightService for BlockTransferService {
    type HandshakeStream = FlightStream<HandshakeResponse>;
    type ListFlightsStream = FlightStream<FlightInfo>;
    type DoGetStream = FlightStream<FlightData>;
    type DoPutStream = FlightStream<PutResult>;
    type DoExchangeStream = FlightStream<FlightData>;
    type DoActionStream = FlightStream<arrow_flight::Result>;
    type ListActionsStream = FlightStream<ActionType>;

    async fn do_get(
        &self,
        request: Request<Ticket>,
    ) -> Result<Response<Self::DoGetStream>, Status> {
        let Some(mut block) = self.open(&request.into_inner().ticket)? else {
            return Ok(Response::new(Box::pin(futures::stream::empty())));
        };
        // File reads are blocking: a thread reads messages ahead into a small queue.
        let (sender, receiver) = tokio::sync::mpsc::channel(4);
        tokio::task::spawn_blocking(move || {
            loop {
                let message = match read_ipc_message(&mut block) {
                    Ok(Some(message)) => Ok(message),
                    Ok(None) => return,
                    Err(error) => Err(Status::data_loss(format!(
                        "corrupt shuffle block on disk: {error}"
                    ))),
                };
                let failed = message.is_err();
                if sender.blocking_send(message).is_err() || failed {
                    return;
                }
            }
        });
        let stream = futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|item| (item, receiver))
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn handshake(
        &self,
        _request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        unsupported("Handshake")
    }

    async fn list_flights(
        &self,
        _request: Request<Criteria>,
    ) -> Result<Response<Self::ListFlightsStream>, Status> {
        unsupported("ListFlights")
    }

    async fn get_flight_info(
        &self,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        unsupported("GetFlightInfo")
    }

    async fn poll_flight_info(
        &self,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<PollInfo>, Status> {
        unsupported("PollFlightInfo")
    }

    async fn get_schema(
        &self,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<SchemaResult>, Status> {
        unsupported("GetSchema")
    }

    async fn do_put(
        &self,
        _request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoPutStream>, Status> {
        unsupported("DoPut")
    }

    async fn do_exchange(
        &self,
        _request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        unsupported("DoExchange")
    }

    async fn do_action(
        &self,
        _request: Request<Action>,
    ) -> Result<Response<Self::DoActionStream>, Status> {
        unsupported("DoAction")
    }

    async fn list_actions(
        &self,
        _request: Request<Empty>,
    ) -> Result<Response<Self::ListActionsStream>, Status> {
        unsupported("ListActions")
    }
}

/// Reads the next message of an Arrow IPC stream as Flight data (its flatbuffer header and its
/// body, untouched); `None` at the end-of-stream marker or the end of the input.
fn read_ipc_message(reader: &mut impl Read) -> std::io::Result<Option<FlightData>> {
    let invalid = |message: String| std::io::Error::new(std::io::ErrorKind::InvalidData, message);
    let mut word = [0u8; 4];
    match reader.read_exact(&mut word) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(error) => return Err(error),
    }
    if word == CONTINUATION {
        reader.read_exact(&mut word)?;
    }
    let header_length = i32::from_le_bytes(word);
    if header_length == 0 {
        return Ok(None);
    }
    let header_length = usize::try_from(header_length)
        .map_err(|_| invalid(format!("negative message length {header_length}")))?;
    let mut header = vec![0u8; header_length];
    reader.read_exact(&mut header)?;
    let message = arrow_ipc::root_as_message(&header)
        .map_err(|e| invalid(format!("bad message header: {e}")))?;
    let body_length = usize::try_from(message.bodyLength())
        .map_err(|_| invalid(format!("negative body length {}", message.bodyLength())))?;
    // Read through `take` so a lying length cannot allocate more than the block holds.
    let mut body = Vec::new();
    reader
        .by_ref()
        .take(body_length as u64)
        .read_to_end(&mut body)?;
    if body.len() != body_length {
        return Err(invalid(format!(
            "message body truncated: {} of {body_length} bytes",
            body.len()
        )));
    }
    Ok(Some(FlightData {
        data_header: Bytes::from(header),
        data_body: Bytes::from(body),
        ..Default::default()
    }))
}

/// Fetches shuffle blocks from other executors' [`BlockTransferService`]s, keeping one
/// connection per executor address.
///
/// Tasks run on runtimes of their own that end with them, while a connection's background
/// work lives on the runtime it was made on; so connections are made and read on the
/// executor's long-lived runtime, and only the (cheap) bytes cross to the task, which decodes
/// them itself.
#[derive(Debug)]
pub struct ShuffleClient {
    timeout: Duration,
    channels: Mutex<HashMap<(String, u16), Channel>>,
    runtime: Option<tokio::runtime::Handle>,
}

impl ShuffleClient {
    /// A client whose connections and requests give up after `timeout` (`spark.network.timeout`),
    /// doing its network work on the runtime it is created in (outside a runtime: on each
    /// fetch's own, without keeping connections).
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            channels: Mutex::new(HashMap::new()),
            runtime: tokio::runtime::Handle::try_current().ok(),
        }
    }

    fn channel(&self, host: &str, port: u16) -> Result<Channel, String> {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(channel) = channels.get(&(host.to_string(), port)) {
            return Ok(channel.clone());
        }
        let channel =
            flint_rpc::connect_lazy(host, port, self.timeout).map_err(|e| e.to_string())?;
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
        let name = BlockId::Shuffle {
            shuffle_id,
            map_id: block.map_id,
            reduce_id: block.reduce_id,
        }
        .to_string();
        let (host, port) = (block.host.clone(), block.port);
        let context = format!("fetching {name} from {host}:{port}");
        let (sender, receiver) = tokio::sync::mpsc::channel::<Result<FlightData, Status>>(8);
        let client = Arc::clone(self);
        let transfer = async move {
            let channel = match client.channel(&host, port) {
                Ok(channel) => channel,
                Err(message) => {
                    let _ = sender.send(Err(Status::unavailable(message))).await;
                    return;
                }
            };
            let mut messages = match FlightServiceClient::new(channel)
                .do_get(Ticket::new(name))
                .await
            {
                Ok(response) => response.into_inner(),
                Err(status) => {
                    let _ = sender.send(Err(status)).await;
                    return;
                }
            };
            loop {
                let item = match messages.message().await {
                    Ok(Some(data)) => Ok(data),
                    Ok(None) => return,
                    Err(status) => Err(status),
                };
                let failed = item.is_err();
                // A dropped receiver means the task stopped reading: stop fetching.
                if sender.send(item).await.is_err() || failed {
                    return;
                }
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
    use std::io::Cursor;
    use std::sync::Arc;

    use arrow_ipc::CompressionType;
    use arrow_ipc::writer::{IpcWriteOptions, StreamWriter};
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use futures::TryStreamExt;

    use super::*;

    fn batches() -> Vec<RecordBatch> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        (0..3)
            .map(|i| {
                RecordBatch::try_new(
                    Arc::clone(&schema),
                    vec![
                        Arc::new(Int64Array::from_iter_values(i * 100..i * 100 + 100)),
                        Arc::new(StringArray::from_iter_values(
                            (0..100).map(|j| format!("row {j}")),
                        )),
                    ],
                )
                .unwrap()
            })
            .collect()
    }

    fn ipc_stream(batches: &[RecordBatch]) -> Vec<u8> {
        let options = IpcWriteOptions::default()
            .try_with_compression(Some(CompressionType::LZ4_FRAME))
            .unwrap();
        let mut writer =
            StreamWriter::try_new_with_options(Vec::new(), &batches[0].schema(), options).unwrap();
        for batch in batches {
            writer.write(batch).unwrap();
        }
        writer.finish().unwrap();
        writer.into_inner().unwrap()
    }

    #[tokio::test]
    async fn ipc_messages_decode_as_flight_data() {
        let batches = batches();
        let mut reader = Cursor::new(ipc_stream(&batches));
        let mut messages = vec![];
        while let Some(message) = read_ipc_message(&mut reader).unwrap() {
            messages.push(Ok(message));
        }
        assert_eq!(
            messages.len(),
            1 + batches.len(),
            "schema then one per batch"
        );
        let decoded: Vec<RecordBatch> =
            FlightRecordBatchStream::new_from_flight_data(futures::stream::iter(messages))
                .try_collect()
                .await
                .unwrap();
        assert_eq!(decoded, batches);
    }

    #[test]
    fn truncated_and_garbage_streams_are_errors() {
        let bytes = ipc_stream(&batches());
        let mut truncated = Cursor::new(&bytes[..bytes.len() / 2]);
        let mut result = Ok(None);
        for _ in 0..10 {
            result = read_ipc_message(&mut truncated);
            if !matches!(result, Ok(Some(_))) {
                break;
            }
        }
        assert!(
            result.is_err(),
            "a truncated stream must fail, got {result:?}"
        );
        let mut garbage = Cursor::new(b"\xff\xff\xff\xff\x10\x00\x00\x00not a flatbuffer".to_vec());
        assert!(read_ipc_message(&mut garbage).is_err());
        let mut negative = Cursor::new(b"\xff\xff\xff\xff\xf0\xff\xff\xff".to_vec());
        assert!(read_ipc_message(&mut negative).is_err());
    }

    /// Bad tickets and unknown blocks get clear statuses, and the service keeps serving.
    #[tokio::test]
    async fn bad_tickets_get_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let manager = Arc::new(DiskBlockManager::create(dir.path(), "test", "1").unwrap());
        let service = BlockTransferService::new("1".into(), manager);
        for (ticket, code) in [
            (&b"../../etc/passwd"[..], tonic::Code::InvalidArgument),
            (&b"\xff\xfe"[..], tonic::Code::InvalidArgument),
            (&b"shuffle_1_2_3"[..], tonic::Code::NotFound),
        ] {
            let request = Request::new(Ticket::new(ticket.to_vec()));
            match service.do_get(request).await {
                Ok(_) => panic!("{ticket:?} was served"),
                Err(status) => assert_eq!(status.code(), code, "{ticket:?}: {status}"),
            }
        }
    }
}

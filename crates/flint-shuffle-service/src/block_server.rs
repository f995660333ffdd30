//! The Flight server of shuffle blocks: a ticket is an `OpenBlock` message naming an
//! application, an executor and a block (`shuffle_<shuffle>_<map>_<reduce>`); a
//! [`BlockResolver`] says where that executor's files are, and the server reads the block's
//! byte range from its data file through the index file. The blocks on disk already are Arrow
//! IPC streams (compressed), so their IPC messages are sent as they are, one `FlightData`
//! each, without decoding or recompressing them. An executor's blocks of cached DataFrames
//! kept in its memory ([`MemoryBlocks`]) are encoded the same way when asked for.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use arrow_flight::flight_service_server::{FlightService, FlightServiceServer};
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo,
    HandshakeRequest, HandshakeResponse, PollInfo, PutResult, SchemaResult, Ticket,
};
use bytes::Bytes;
use flint_rpc::shuffle::{OpenBlock, RegisterExecutor, RemoveShuffle};
use flint_storage::BlockId;
use flint_storage::shuffle_index::{checksum_path, read_range, verify_range};
use futures::Stream;
use prost::Message;
use tonic::{Request, Response, Status, Streaming};

/// The IPC continuation marker that starts every message of a stream.
const CONTINUATION: [u8; 4] = [0xFF; 4];

/// The Flight action an executor sends to register with its worker's shuffle service.
pub(crate) const REGISTER_EXECUTOR: &str = "RegisterExecutor";

/// The Flight action a driver sends a shuffle service to delete a shuffle's files.
pub(crate) const REMOVE_SHUFFLE: &str = "RemoveShuffle";

/// The ticket that asks a block server for one block of one executor of an application.
pub fn block_ticket(app_id: &str, executor_id: &str, block: BlockId) -> Ticket {
    Ticket::new(
        OpenBlock {
            app_id: app_id.to_string(),
            executor_id: executor_id.to_string(),
            block_id: block.to_string(),
        }
        .encode_to_vec(),
    )
}

/// Where a block server finds an executor's block files, and whom it accepts as registered.
pub trait BlockResolver: Send + Sync + std::fmt::Debug + 'static {
    /// The directory of the block files `executor_id` of application `app_id` wrote; an error
    /// status (not found, refused) when this server does not serve them.
    fn blocks_dir(&self, app_id: &str, executor_id: &str) -> Result<PathBuf, Status>;

    /// A block `executor_id` keeps in memory, encoded as an Arrow IPC stream; `None` when it
    /// is not in memory here (it may be on disk).
    fn memory_block(
        &self,
        _app_id: &str,
        _executor_id: &str,
        _shuffle_id: u32,
        _map_id: u64,
    ) -> Option<std::io::Result<Vec<u8>>> {
        None
    }

    /// Deletes the files of one shuffle of an application (Spark's `RemoveShuffleMerge`),
    /// returning how many; servers that serve only their own executor's blocks refuse it.
    fn remove_shuffle(&self, request: RemoveShuffle) -> Result<usize, Status> {
        Err(Status::unimplemented(format!(
            "shuffle {} cannot be removed here: this is an executor's own block service, not a shuffle service",
            request.shuffle_id
        )))
    }

    /// Takes an executor's registration (Spark's `RegisterExecutor`); servers that serve only
    /// their own executor's blocks refuse it.
    fn register(&self, request: RegisterExecutor) -> Result<(), Status> {
        Err(Status::unimplemented(format!(
            "executor {} cannot register here: this is an executor's own block service, not a shuffle service",
            request.executor_id
        )))
    }
}

/// Cached blocks an executor keeps in memory, encoded for the wire on request.
pub trait MemoryBlocks: Send + Sync + std::fmt::Debug + 'static {
    /// Map output `map_id` of cache `shuffle_id` as an Arrow IPC stream, if it is in memory.
    fn encoded(&self, shuffle_id: u32, map_id: u64) -> Option<std::io::Result<Vec<u8>>>;
}

/// The blocks of the one executor a server runs in (Spark's `NettyBlockTransferService`).
#[derive(Debug, Clone)]
pub struct ExecutorBlocks {
    app_id: String,
    executor_id: String,
    blocks_dir: PathBuf,
    memory: Option<Arc<dyn MemoryBlocks>>,
}

impl ExecutorBlocks {
    /// The blocks executor `executor_id` of `app_id` keeps in `blocks_dir`.
    pub fn new(app_id: String, executor_id: String, blocks_dir: PathBuf) -> Self {
        Self {
            app_id,
            executor_id,
            blocks_dir,
            memory: None,
        }
    }

    /// Also serves the cached blocks `memory` holds.
    pub fn with_memory(mut self, memory: Arc<dyn MemoryBlocks>) -> Self {
        self.memory = Some(memory);
        self
    }

    fn check(&self, app_id: &str, executor_id: &str) -> Result<(), Status> {
        if app_id != self.app_id || executor_id != self.executor_id {
            return Err(Status::not_found(format!(
                "this is executor {} of {}: it does not serve the blocks of executor {executor_id} of {app_id}",
                self.executor_id, self.app_id
            )));
        }
        Ok(())
    }
}

impl BlockResolver for ExecutorBlocks {
    fn blocks_dir(&self, app_id: &str, executor_id: &str) -> Result<PathBuf, Status> {
        self.check(app_id, executor_id)?;
        Ok(self.blocks_dir.clone())
    }

    fn memory_block(
        &self,
        app_id: &str,
        executor_id: &str,
        shuffle_id: u32,
        map_id: u64,
    ) -> Option<std::io::Result<Vec<u8>>> {
        self.check(app_id, executor_id).ok()?;
        self.memory.as_ref()?.encoded(shuffle_id, map_id)
    }
}

/// Serves shuffle blocks over Arrow Flight `DoGet`, finding them through its resolver;
/// `DoAction("RegisterExecutor")` registers an executor where the resolver takes that.
#[derive(Debug)]
pub struct BlockServer<R> {
    resolver: Arc<R>,
}

impl<R> Clone for BlockServer<R> {
    fn clone(&self) -> Self {
        Self {
            resolver: Arc::clone(&self.resolver),
        }
    }
}

impl<R: BlockResolver> BlockServer<R> {
    /// A server of the blocks `resolver` finds.
    pub fn new(resolver: Arc<R>) -> Self {
        Self { resolver }
    }

    /// The gRPC service to add to a tonic server.
    pub fn into_server(self) -> FlightServiceServer<Self> {
        FlightServiceServer::new(self)
    }

    /// Opens one reduce partition's block: its encoding in memory, or its byte range on disk;
    /// `None` for an empty block. Blocking: it reads files (or encodes batches).
    fn open(&self, ticket: &[u8]) -> Result<Option<Box<dyn Read + Send>>, Status> {
        let request = OpenBlock::decode(ticket).map_err(|error| {
            Status::invalid_argument(format!("the ticket is not an OpenBlock message: {error}"))
        })?;
        let name = request.block_id.as_str();
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
        if let Some(encoded) =
            self.resolver
                .memory_block(&request.app_id, &request.executor_id, shuffle_id, map_id)
        {
            let bytes = encoded.map_err(|error| {
                Status::internal(format!("cannot encode cached block {name}: {error}"))
            })?;
            return Ok((!bytes.is_empty()).then(|| Box::new(std::io::Cursor::new(bytes)) as _));
        }
        let blocks_dir = self
            .resolver
            .blocks_dir(&request.app_id, &request.executor_id)?;
        let not_found = |what: &str, error: std::io::Error| {
            Status::not_found(format!(
                "shuffle block {name} of executor {} is not here: {what}: {error}",
                request.executor_id
            ))
        };
        let index = blocks_dir.join(BlockId::ShuffleIndex { shuffle_id, map_id }.to_string());
        let (start, end) = read_range(&index, reduce_id).map_err(|e| not_found("index", e))?;
        if start == end {
            return Ok(None);
        }
        let data = blocks_dir.join(BlockId::ShuffleData { shuffle_id, map_id }.to_string());
        verify_range(&data, &checksum_path(&index), reduce_id, (start, end)).map_err(|error| {
            Status::data_loss(format!(
                "shuffle block {name} of executor {}: {error}",
                request.executor_id
            ))
        })?;
        let mut file = File::open(&data).map_err(|e| not_found("data", e))?;
        let length = file.metadata().map_err(|e| not_found("data", e))?.len();
        if end > length {
            return Err(Status::data_loss(format!(
                "shuffle block {name}: data file has {length} bytes, index says the block ends at {end}"
            )));
        }
        file.seek(SeekFrom::Start(start))
            .map_err(|e| not_found("data", e))?;
        Ok(Some(Box::new(BufReader::new(file).take(end - start))))
    }
}

type FlightStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

fn unsupported<T>(method: &str) -> Result<T, Status> {
    Err(Status::unimplemented(format!(
        "the shuffle block service only answers DoGet and DoAction, not {method}"
    )))
}

#[tonic::async_trait]
impl<R: BlockResolver> FlightService for BlockServer<R> {
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
        let server = self.clone();
        let ticket = request.into_inner().ticket;
        let opened = tokio::task::spawn_blocking(move || server.open(&ticket))
            .await
            .map_err(|error| Status::internal(format!("opening the block failed: {error}")))?;
        let Some(mut block) = opened? else {
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

    async fn do_action(
        &self,
        request: Request<Action>,
    ) -> Result<Response<Self::DoActionStream>, Status> {
        let action = request.into_inner();
        let malformed = |message: &str, error: prost::DecodeError| {
            Status::invalid_argument(format!(
                "the body of {} is not a {message} message: {error}",
                action.r#type
            ))
        };
        match action.r#type.as_str() {
            REGISTER_EXECUTOR => {
                let registration = RegisterExecutor::decode(action.body.clone())
                    .map_err(|error| malformed("RegisterExecutor", error))?;
                self.resolver.register(registration)?;
            }
            REMOVE_SHUFFLE => {
                let request = RemoveShuffle::decode(action.body.clone())
                    .map_err(|error| malformed("RemoveShuffle", error))?;
                let resolver = Arc::clone(&self.resolver);
                // Deleting files blocks.
                tokio::task::spawn_blocking(move || resolver.remove_shuffle(request))
                    .await
                    .map_err(|error| Status::internal(format!("removing failed: {error}")))??;
            }
            other => {
                return Err(Status::unimplemented(format!(
                    "unknown action '{}' (this service takes {REGISTER_EXECUTOR} and {REMOVE_SHUFFLE})",
                    other.chars().take(100).collect::<String>()
                )));
            }
        }
        Ok(Response::new(Box::pin(futures::stream::empty())))
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
    // Read through `take`, as the body below: a lying length cannot allocate more than the
    // block holds.
    let mut header = Vec::new();
    reader
        .by_ref()
        .take(header_length as u64)
        .read_to_end(&mut header)?;
    if header.len() != header_length {
        return Err(invalid(format!(
            "message header truncated: {} of {header_length} bytes",
            header.len()
        )));
    }
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

#[cfg(test)]
mod tests {
    use std::io::Cursor;
    use std::sync::Arc;

    use arrow::array::{Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow_flight::decode::FlightRecordBatchStream;
    use arrow_ipc::CompressionType;
    use arrow_ipc::writer::{IpcWriteOptions, StreamWriter};
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

    /// Bad tickets, other executors' blocks and unknown blocks get clear statuses, and the
    /// service keeps serving.
    #[tokio::test]
    async fn bad_tickets_get_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let server = BlockServer::new(Arc::new(ExecutorBlocks::new(
            "app-1".into(),
            "1".into(),
            dir.path().to_path_buf(),
        )));
        let block = |name: &str, executor: &str| {
            OpenBlock {
                app_id: "app-1".into(),
                executor_id: executor.into(),
                block_id: name.into(),
            }
            .encode_to_vec()
        };
        for (ticket, code) in [
            (block("../../etc/passwd", "1"), tonic::Code::InvalidArgument),
            (b"\xff\xfe".to_vec(), tonic::Code::InvalidArgument),
            (block("shuffle_1_2_3", "1"), tonic::Code::NotFound),
            (block("shuffle_1_2_3", "2"), tonic::Code::NotFound),
        ] {
            let request = Request::new(Ticket::new(ticket.clone()));
            match server.do_get(request).await {
                Ok(_) => panic!("{ticket:?} was served"),
                Err(status) => assert_eq!(status.code(), code, "{ticket:?}: {status}"),
            }
        }
        let registration = Action {
            r#type: REGISTER_EXECUTOR.into(),
            body: RegisterExecutor::default().encode_to_vec().into(),
        };
        match server.do_action(Request::new(registration)).await {
            Ok(_) => panic!("an executor's own block service took a registration"),
            Err(status) => assert_eq!(status.code(), tonic::Code::Unimplemented),
        }
    }

    proptest::proptest! {
        /// A block's bytes, however corrupt, are read as messages or refused, never a panic
        /// (nor an allocation larger than the bytes there are).
        #[test]
        fn any_block_bytes_are_messages_or_an_error(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
        ) {
            let mut reader = std::io::Cursor::new(bytes);
            for _ in 0..64 {
                match read_ipc_message(&mut reader) {
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
        }
    }
}

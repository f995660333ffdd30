use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use arrow_ipc::reader::StreamReader;
use datafusion::arrow::array::{RecordBatch, RecordBatchOptions};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{
    Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};

use crate::{FetchFailure, ShuffleEnv, ShuffleError};
use flint_storage::MemoryBlockKey;
use flint_storage::shuffle_index::{checksum_path, read_range, verify_range};
use futures::StreamExt;
use futures::stream::BoxStream;

/// One block to read: reduce partition `reduce_id` of one map output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShuffleBlock {
    /// The map task that wrote it.
    pub map_index: u32,
    /// The attempt id naming the map output's files.
    pub map_id: u64,
    /// The reduce partition inside the map output.
    pub reduce_id: u32,
    /// The executor that wrote and serves it.
    pub executor_id: String,
    /// The host of that executor.
    pub host: String,
    /// The port of that executor's block transfer service (0: read from disk only).
    pub port: u16,
    /// The map output's data file.
    pub data_path: String,
    /// The map output's index file.
    pub index_path: String,
    /// A cached block its executor keeps in memory (or kept: it may have moved to its files).
    pub in_memory: bool,
    /// Its bytes (on disk, or in memory), which bound how many fetches run at once.
    pub size: u64,
}

/// How much a reducer fetches at once (Spark's `spark.reducer.maxSizeInFlight` and
/// `spark.reducer.maxReqsInFlight`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchLimits {
    /// Bytes of blocks being fetched at once (48 MiB).
    pub max_bytes_in_flight: u64,
    /// Blocks being fetched at once (no limit).
    pub max_reqs_in_flight: usize,
}

impl Default for FetchLimits {
    fn default() -> Self {
        Self {
            max_bytes_in_flight: 48 << 20,
            max_reqs_in_flight: usize::MAX,
        }
    }
}

impl FetchLimits {
    /// How many of `blocks` a reducer reads at once: as many as fit in the bytes in flight
    /// at their mean size, at least one, at most the requests in flight.
    pub fn concurrency(&self, blocks: &[ShuffleBlock]) -> usize {
        if blocks.is_empty() {
            return 1;
        }
        let mean = (blocks.iter().map(|b| b.size).sum::<u64>() / blocks.len() as u64).max(1);
        let by_size = usize::try_from(self.max_bytes_in_flight / mean).unwrap_or(usize::MAX);
        by_size
            .min(self.max_reqs_in_flight)
            .min(blocks.len())
            .max(1)
    }
}

/// A leaf that reads shuffle blocks written by a parent stage (Spark's `ShuffleBlockFetcherIterator`
/// behind `ShuffledRowRDD`): output partition `p` reads `partitions[p]`, block after block.
#[derive(Debug)]
pub struct ShuffleReaderExec {
    shuffle_id: u32,
    schema: SchemaRef,
    partitions: Vec<Vec<ShuffleBlock>>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl ShuffleReaderExec {
    /// A reader of `shuffle_id` whose partition `p` reads `partitions[p]`.
    pub fn new(shuffle_id: u32, schema: SchemaRef, partitions: Vec<Vec<ShuffleBlock>>) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(partitions.len()),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Self {
            shuffle_id,
            schema,
            partitions,
            properties,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    /// The shuffle this reader consumes.
    pub fn shuffle_id(&self) -> u32 {
        self.shuffle_id
    }

    /// The blocks each output partition reads.
    pub fn partitions(&self) -> &[Vec<ShuffleBlock>] {
        &self.partitions
    }
}

impl DisplayAs for ShuffleReaderExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "ShuffleReaderExec: shuffle_id={}, partitions={}",
            self.shuffle_id,
            self.partitions.len()
        )
    }
}

impl ExecutionPlan for ShuffleReaderExec {
    fn name(&self) -> &str {
        "ShuffleReaderExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal(
                "ShuffleReaderExec has no children".into(),
            ))
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let blocks = self.partitions.get(partition).cloned().ok_or_else(|| {
            DataFusionError::Internal(format!(
                "ShuffleReaderExec of shuffle {} has no partition {partition}; this is a Flint bug",
                self.shuffle_id
            ))
        })?;
        let metrics = ReadMetrics {
            bytes: MetricBuilder::new(&self.metrics).counter("shuffle_bytes_read", partition),
            records: MetricBuilder::new(&self.metrics).counter("shuffle_records_read", partition),
            remote_bytes: MetricBuilder::new(&self.metrics)
                .counter("shuffle_remote_bytes_read", partition),
        };
        let schema = Arc::clone(&self.schema);
        let shuffle_id = self.shuffle_id;
        // Without a shuffle environment (plans run outside an executor) every block is local.
        let env = context.session_config().get_extension::<ShuffleEnv>();
        // Remote blocks are fetched several at once, within the reducer's bytes and requests
        // in flight, while local blocks are read one after the other (each open block holds a
        // file); rows arrive in any order, as in Spark.
        let (remote, local): (Vec<ShuffleBlock>, Vec<ShuffleBlock>) = blocks
            .into_iter()
            .partition(|block| env.as_ref().is_some_and(|env| env.reads_remotely(block)));
        let concurrency = env
            .as_ref()
            .map_or_else(FetchLimits::default, |env| env.fetch_limits)
            .concurrency(&remote);
        let read_block = move |block: ShuffleBlock| {
            let (map_index, reduce_id, map_id) = (block.map_index, block.reduce_id, block.map_id);
            let (executor_id, host, port) =
                (block.executor_id.clone(), block.host.clone(), block.port);
            let fail = move |message: String| -> DataFusionError {
                ShuffleError::FetchFailed(FetchFailure {
                    shuffle_id,
                    map_index,
                    reduce_id,
                    executor_id: executor_id.clone(),
                    map_id,
                    host: host.clone(),
                    port,
                    message,
                })
                .into()
            };
            match env.as_ref().filter(|env| env.reads_remotely(&block)) {
                Some(env) => remote_block_batches(
                    Arc::clone(env),
                    shuffle_id,
                    block,
                    &schema,
                    &metrics,
                    fail,
                ),
                _ => match cached_in_memory(env.as_deref(), shuffle_id, &block) {
                    Some(batches) => memory_block_batches(batches, &schema, &metrics),
                    None => local_block_batches(&block, &schema, &metrics, fail),
                },
            }
        };
        let remote = futures::stream::iter(remote)
            .map(read_block.clone())
            .flatten_unordered(concurrency);
        let local = futures::stream::iter(local).flat_map(read_block);
        let batches = futures::stream::select(remote, local);

        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            batches,
        )))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// The batches of a cached block this executor keeps in its memory store, if it does.
fn cached_in_memory(
    env: Option<&ShuffleEnv>,
    shuffle_id: u32,
    block: &ShuffleBlock,
) -> Option<Vec<RecordBatch>> {
    let env = env?;
    if !block.in_memory || block.executor_id != env.executor_id {
        return None;
    }
    env.memory_store.as_ref()?.get(MemoryBlockKey {
        shuffle_id,
        map_id: block.map_id,
    })
}

/// The batches of a block held in memory, as the plan reads them.
fn memory_block_batches(
    batches: Vec<RecordBatch>,
    schema: &SchemaRef,
    metrics: &ReadMetrics,
) -> BoxStream<'static, Result<RecordBatch>> {
    let (schema, metrics) = (Arc::clone(schema), metrics.clone());
    futures::stream::iter(batches.into_iter().map(move |batch| {
        metrics.bytes.add(batch.get_array_memory_size());
        metrics.records.add(batch.num_rows());
        with_schema(&schema, &batch)
    }))
    .boxed()
}

/// The batches of a block written on this host, read from its files.
fn local_block_batches(
    block: &ShuffleBlock,
    schema: &SchemaRef,
    metrics: &ReadMetrics,
    fail: impl Fn(String) -> DataFusionError + Send + 'static,
) -> BoxStream<'static, Result<RecordBatch>> {
    let batches = match open_block(block, metrics) {
        Ok(Some(reader)) => BlockBatches::Reading {
            reader: Box::new(reader),
            schema: Arc::clone(schema),
            metrics: metrics.clone(),
            fail: Box::new(fail),
        },
        Ok(None) => BlockBatches::Empty,
        Err(error) => BlockBatches::Failed(Some(fail(error.to_string()))),
    };
    futures::stream::iter(batches).boxed()
}

/// The batches of a block on another host, fetched from its executor over Arrow Flight.
fn remote_block_batches(
    env: Arc<ShuffleEnv>,
    shuffle_id: u32,
    block: ShuffleBlock,
    schema: &SchemaRef,
    metrics: &ReadMetrics,
    fail: impl Fn(String) -> DataFusionError + Send + 'static,
) -> BoxStream<'static, Result<RecordBatch>> {
    let schema = Arc::clone(schema);
    let metrics = metrics.clone();
    let (bytes, remote_bytes) = (metrics.bytes.clone(), metrics.remote_bytes.clone());
    env.client
        .fetch(shuffle_id, &block, move |n| {
            bytes.add(n);
            remote_bytes.add(n);
        })
        .map(move |batch| match batch {
            Ok(batch) => {
                metrics.records.add(batch.num_rows());
                with_schema(&schema, &batch)
            }
            Err(message) => Err(fail(message)),
        })
        .boxed()
}

/// A block's batch under the plan's schema: the writer's is the same up to field metadata,
/// and blocks of column-less rows carry one placeholder column (see the writer).
fn with_schema(schema: &SchemaRef, batch: &RecordBatch) -> Result<RecordBatch> {
    let columns = if schema.fields().is_empty() {
        vec![]
    } else {
        batch.columns().to_vec()
    };
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(Arc::clone(schema), columns, &options).map_err(Into::into)
}

#[derive(Clone)]
struct ReadMetrics {
    /// Every block's bytes.
    bytes: Count,
    records: Count,
    /// The bytes of blocks fetched from other hosts.
    remote_bytes: Count,
}

type BlockReader = StreamReader<BufReader<std::io::Take<File>>>;

/// Opens one block for decoding; `None` for an empty block.
fn open_block(block: &ShuffleBlock, metrics: &ReadMetrics) -> std::io::Result<Option<BlockReader>> {
    let index_path = Path::new(&block.index_path);
    let (start, end) = read_range(index_path, block.reduce_id)?;
    if start == end {
        return Ok(None);
    }
    // A block corrupted on disk is a fetch failure (its map output is computed again), never
    // rows.
    verify_range(
        Path::new(&block.data_path),
        &checksum_path(index_path),
        block.reduce_id,
        (start, end),
    )?;
    let mut file = File::open(&block.data_path)?;
    let file_len = file.metadata()?.len();
    if end > file_len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("data file has {file_len} bytes, index says block ends at {end}"),
        ));
    }
    file.seek(SeekFrom::Start(start))?;
    metrics.bytes.add((end - start) as usize);
    let reader = StreamReader::try_new(BufReader::new(file.take(end - start)), None)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    Ok(Some(reader))
}

/// The batches of one block, or its failure.
enum BlockBatches {
    Empty,
    Failed(Option<DataFusionError>),
    Reading {
        reader: Box<BlockReader>,
        schema: SchemaRef,
        metrics: ReadMetrics,
        fail: Box<dyn Fn(String) -> DataFusionError + Send>,
    },
}

impl Iterator for BlockBatches {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            BlockBatches::Empty => None,
            BlockBatches::Failed(error) => error.take().map(Err),
            BlockBatches::Reading {
                reader,
                schema,
                metrics,
                fail,
            } => match reader.next()? {
                Ok(batch) => {
                    metrics.records.add(batch.num_rows());
                    Some(with_schema(schema, &batch))
                }
                Err(error) => Some(Err(fail(error.to_string()))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{FetchLimits, ShuffleBlock};

    fn blocks(sizes: &[u64]) -> Vec<ShuffleBlock> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, size)| ShuffleBlock {
                map_index: i as u32,
                map_id: i as u64,
                reduce_id: 0,
                executor_id: "1".into(),
                host: "h".into(),
                port: 1,
                data_path: String::new(),
                index_path: String::new(),
                in_memory: false,
                size: *size,
            })
            .collect()
    }

    /// A reducer fetches as many blocks at once as fit in the bytes in flight at their mean
    /// size, never fewer than one nor more than the requests in flight.
    #[test]
    fn fetches_in_flight_follow_the_byte_and_request_limits() {
        let limits = FetchLimits::default();
        assert_eq!(limits.concurrency(&blocks(&[1 << 20; 100])), 48);
        assert_eq!(limits.concurrency(&blocks(&[100; 5])), 5);
        assert_eq!(limits.concurrency(&blocks(&[1 << 30, 1 << 30])), 1);
        assert_eq!(limits.concurrency(&blocks(&[])), 1);
        let few = FetchLimits {
            max_reqs_in_flight: 2,
            ..limits
        };
        assert_eq!(few.concurrency(&blocks(&[100; 5])), 2);
    }
}

use std::fmt;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_ipc::CompressionType;
use arrow_ipc::writer::{IpcWriteOptions, StreamWriter};
use datafusion::arrow::array::{NullArray, RecordBatch};
use datafusion::arrow::compute::BatchCoalescer;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::execution::memory_pool::MemoryConsumer;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::repartition::BatchPartitioner;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};
use flint_storage::{BlockId, DiskBlockManager, MemoryBlockKey, MemoryStore, StorageLevel};
use futures::StreamExt;

use crate::ShuffleError;
use flint_storage::shuffle_index::{self, encode_index};

/// What an executor lends the shuffle nodes of its tasks, through the task context's
/// session-config extensions: where blocks live and how they are compressed.
#[derive(Debug)]
pub struct ShuffleEnv {
    /// The executor's id, recorded in each map output so readers know whom to ask.
    pub executor_id: String,
    /// The host the executor runs on: readers on the same host read its files directly.
    pub host: String,
    /// The port that serves its shuffle files: its own block server's, or its worker's
    /// shuffle service's; 0 when it serves no blocks (local mode).
    pub block_transfer_port: u16,
    /// The port of its own block server, which serves the cached blocks it keeps in memory
    /// (they go with the executor), and those on its disk unless `rdd_blocks_from_service`;
    /// 0 in local mode.
    pub own_block_port: u16,
    /// `spark.shuffle.service.fetch.rdd.enabled` with a shuffle service: cached blocks on
    /// disk are served by the service, and outlive the executor, as shuffle files do.
    pub rdd_blocks_from_service: bool,
    /// Cached blocks kept in the executor's memory; `None` keeps every cache on disk.
    pub memory_store: Option<Arc<MemoryStore>>,
    /// `spark.shuffle.readHostLocalDisk`: read blocks written on this host from disk rather
    /// than over the network.
    pub read_host_local_disk: bool,
    /// Fetches blocks that live on other hosts.
    pub client: Arc<crate::ShuffleClient>,
    /// The executor's block manager (its directory under `spark.local.dir`).
    pub block_manager: Arc<DiskBlockManager>,
    /// `spark.io.compression.codec` for shuffle blocks.
    pub compression: Option<CompressionType>,
    /// `spark.shuffle.checksum.enabled`: map outputs carry a checksum of each block, which
    /// readers check before they decode it.
    pub checksums: bool,
    /// How much a reducer fetches at once.
    pub fetch_limits: crate::FetchLimits,
}

impl ShuffleEnv {
    /// True when `block` must be fetched over the network: another executor serves it and it
    /// lives on another host (or `spark.shuffle.readHostLocalDisk` is off).
    /// A block another executor keeps in memory is always fetched from it.
    pub fn reads_remotely(&self, block: &crate::ShuffleBlock) -> bool {
        block.port != 0
            && block.executor_id != self.executor_id
            && (block.in_memory || !(self.read_host_local_disk && block.host == self.host))
    }

    pub(crate) fn from_context(context: &TaskContext) -> Result<Arc<ShuffleEnv>> {
        context
            .session_config()
            .get_extension::<ShuffleEnv>()
            .ok_or_else(|| ShuffleError::MissingEnv.into())
    }
}

/// How a map task splits its rows among reduce partitions.
#[derive(Debug, Clone)]
pub enum ShuffleOutputPartitioning {
    /// By hash of expressions into N partitions (Spark's `HashPartitioning`).
    Hash(Vec<Arc<dyn PhysicalExpr>>, usize),
    /// Round robin into N partitions (`repartition(n)` without columns).
    RoundRobin(usize),
    /// Into the partition an integer expression names, in `[0, N)` (`repartitionById`, and
    /// `repartitionByRange` through a computed range index).
    Direct(Arc<dyn PhysicalExpr>, usize),
    /// All rows in one block: the next stage merges map outputs (coalesce, sort-merge).
    Single,
}

impl ShuffleOutputPartitioning {
    /// The number of reduce partitions (blocks per map output).
    pub fn partition_count(&self) -> usize {
        match self {
            ShuffleOutputPartitioning::Hash(_, n)
            | ShuffleOutputPartitioning::RoundRobin(n)
            | ShuffleOutputPartitioning::Direct(_, n) => *n,
            ShuffleOutputPartitioning::Single => 1,
        }
    }
}

/// The result of one map task: where its output is and how big each block is (Spark's `MapStatus`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapStatus {
    /// The map task's partition index in its stage.
    pub map_index: u32,
    /// The attempt id naming the files (`shuffle_<shuffle>_<map_id>_0.data`), unique per application.
    pub map_id: u64,
    /// The executor that wrote (and serves) the files.
    pub executor_id: String,
    /// The host of that executor.
    pub host: String,
    /// The port of that executor's block transfer service (0: none, read from disk only).
    pub port: u16,
    /// The data file.
    pub data_path: String,
    /// The index file.
    pub index_path: String,
    /// Bytes of each reduce partition's block.
    pub partition_lengths: Vec<u64>,
    /// Rows written.
    pub records_written: u64,
    /// The output is a cached block kept in the executor's memory (its length is its size
    /// there): it is served by the executor itself and lost with it.
    pub in_memory: bool,
}

/// The root of a shuffle-map stage: runs its input partition and writes the rows to one data
/// and one index file, split by [`ShuffleOutputPartitioning`] (Spark's `ShuffleWriteProcessor`,
/// with the bypass-merge layout: one temp file per reduce partition, concatenated at the end).
#[derive(Debug)]
pub struct ShuffleWriterExec {
    input: Arc<dyn ExecutionPlan>,
    shuffle_id: u32,
    partitioning: ShuffleOutputPartitioning,
    cache_level: Option<StorageLevel>,
    metrics: ExecutionPlanMetricsSet,
}

impl ShuffleWriterExec {
    /// A writer for `shuffle_id` over `input`.
    pub fn new(
        input: Arc<dyn ExecutionPlan>,
        shuffle_id: u32,
        partitioning: ShuffleOutputPartitioning,
    ) -> Self {
        Self {
            input,
            shuffle_id,
            partitioning,
            cache_level: None,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    /// Makes the writer store a cached DataFrame's blocks as `level` says: in the executor's
    /// memory while it has room for them, else on disk.
    pub fn with_cache_level(mut self, level: StorageLevel) -> Self {
        self.cache_level = Some(level);
        self
    }

    /// The storage level of the cache whose blocks this writes, if it writes a cache's.
    pub fn cache_level(&self) -> Option<StorageLevel> {
        self.cache_level
    }

    /// The shuffle this writer produces.
    pub fn shuffle_id(&self) -> u32 {
        self.shuffle_id
    }

    /// How rows are split among reduce partitions.
    pub fn partitioning(&self) -> &ShuffleOutputPartitioning {
        &self.partitioning
    }

    /// The plan whose rows are shuffled.
    pub fn input(&self) -> &Arc<dyn ExecutionPlan> {
        &self.input
    }

    /// Runs map task `map_index` (attempt `attempt_id`, unique per application) and writes its output.
    pub async fn write_map_output(
        &self,
        map_index: usize,
        attempt_id: u64,
        context: Arc<TaskContext>,
    ) -> Result<MapStatus> {
        let env = ShuffleEnv::from_context(&context)?;
        let stream = self.input.execute(map_index, Arc::clone(&context))?;
        let stream = match (&env.memory_store, self.cache_level) {
            (Some(store), Some(level)) if level.use_memory => {
                match self
                    .store_in_memory(store, map_index, attempt_id, &env, stream)
                    .await?
                {
                    Ok(status) => return Ok(status),
                    Err(rest) => rest,
                }
            }
            _ => stream,
        };
        self.write_files(map_index, attempt_id, &env, &context, stream)
            .await
    }

    /// Keeps a cached block's batches in the executor's memory store, reserving storage
    /// memory batch by batch (Spark's unrolling); when the store has no room, returns the
    /// rows as a stream again (those unrolled so far first) for the disk.
    async fn store_in_memory(
        &self,
        store: &Arc<MemoryStore>,
        map_index: usize,
        attempt_id: u64,
        env: &ShuffleEnv,
        mut stream: SendableRecordBatchStream,
    ) -> Result<std::result::Result<MapStatus, SendableRecordBatchStream>> {
        let schema = self.input.schema();
        let mut coalescer = BatchCoalescer::new(Arc::clone(&schema), TARGET_BATCH_ROWS);
        let (mut batches, mut size, mut records) = (Vec::new(), 0usize, 0u64);
        let mut reserve = |batch: RecordBatch, batches: &mut Vec<RecordBatch>| {
            let bytes = batch.get_array_memory_size();
            let fits = store.reserve(self.shuffle_id, bytes);
            if fits {
                size += bytes;
            }
            batches.push(batch);
            fits
        };
        let unrolled: Result<bool> = async {
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                records += batch.num_rows() as u64;
                if batch.num_columns() == 0 {
                    if !reserve(batch, &mut batches) {
                        return Ok(false);
                    }
                    continue;
                }
                // Coalescing also compacts string views, so a block holds no buffer it
                // does not read.
                coalescer.push_batch(batch)?;
                while let Some(batch) = coalescer.next_completed_batch() {
                    if !reserve(batch, &mut batches) {
                        return Ok(false);
                    }
                }
            }
            coalescer.finish_buffered_batch()?;
            while let Some(batch) = coalescer.next_completed_batch() {
                if !reserve(batch, &mut batches) {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        .await;
        let key = MemoryBlockKey {
            shuffle_id: self.shuffle_id,
            map_id: attempt_id,
        };
        match unrolled {
            Ok(true) => {
                let use_disk = self.cache_level.is_some_and(|level| level.use_disk);
                store.insert((key, map_index as u32), batches, size, use_disk);
                MetricBuilder::new(&self.metrics)
                    .counter("shuffle_records_written", map_index)
                    .add(records as usize);
                Ok(Ok(MapStatus {
                    map_index: map_index as u32,
                    map_id: attempt_id,
                    executor_id: env.executor_id.clone(),
                    host: env.host.clone(),
                    port: env.own_block_port,
                    data_path: env
                        .block_manager
                        .file_for(BlockId::ShuffleData {
                            shuffle_id: self.shuffle_id,
                            map_id: attempt_id,
                        })
                        .display()
                        .to_string(),
                    index_path: env
                        .block_manager
                        .file_for(BlockId::ShuffleIndex {
                            shuffle_id: self.shuffle_id,
                            map_id: attempt_id,
                        })
                        .display()
                        .to_string(),
                    partition_lengths: vec![size as u64],
                    records_written: records,
                    in_memory: true,
                }))
            }
            Ok(false) => {
                store.release(size);
                tracing::warn!(
                    "Not enough space to cache rdd_{}_{map_index} in memory! (computed {} so far); persisting it to disk instead",
                    self.shuffle_id,
                    flint_conf::format_size(
                        batches
                            .iter()
                            .map(|b| b.get_array_memory_size() as u64)
                            .sum()
                    )
                );
                // The disk writer counts the rows again, those unrolled so far included.
                let unrolled = futures::stream::iter(batches.into_iter().map(Ok));
                let rest: SendableRecordBatchStream = Box::pin(
                    datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
                        schema,
                        unrolled.chain(stream),
                    ),
                );
                Ok(Err(rest))
            }
            Err(error) => {
                store.release(size);
                Err(error)
            }
        }
    }

    /// Writes a map task's rows to its data and index files, split among reduce partitions.
    async fn write_files(
        &self,
        map_index: usize,
        attempt_id: u64,
        env: &ShuffleEnv,
        context: &Arc<TaskContext>,
        mut stream: SendableRecordBatchStream,
    ) -> Result<MapStatus> {
        let schema = self.input.schema();
        let num_reduces = self.partitioning.partition_count();
        let data_path = env.block_manager.file_for(BlockId::ShuffleData {
            shuffle_id: self.shuffle_id,
            map_id: attempt_id,
        });
        let index_path = env.block_manager.file_for(BlockId::ShuffleIndex {
            shuffle_id: self.shuffle_id,
            map_id: attempt_id,
        });
        let options = IpcWriteOptions::default().try_with_compression(env.compression)?;
        let records_metric =
            MetricBuilder::new(&self.metrics).counter("shuffle_records_written", map_index);
        let bytes_metric =
            MetricBuilder::new(&self.metrics).counter("shuffle_bytes_written", map_index);
        let write_time =
            MetricBuilder::new(&self.metrics).subset_time("shuffle_write_time", map_index);

        let mut partitioner = match &self.partitioning {
            ShuffleOutputPartitioning::Hash(exprs, n) => Some(Partitioner::Hash(
                BatchPartitioner::new_hash_partitioner(exprs.clone(), *n, write_time.clone())?,
            )),
            ShuffleOutputPartitioning::RoundRobin(n) => {
                Some(Partitioner::RoundRobin(RoundRobinRows::new(map_index, *n)))
            }
            ShuffleOutputPartitioning::Direct(expr, n) => {
                Some(Partitioner::Direct(Arc::clone(expr), *n))
            }
            ShuffleOutputPartitioning::Single => None,
        };
        // Each reduce partition's block is encoded into memory while the executor's memory
        // pool allows, then into its own temp file; at the end the blocks are written back to
        // back into one data file (Spark's bypass-merge writer, minus the copy when all fit).
        let part_paths: Vec<PathBuf> = (0..num_reduces)
            .map(|r| tmp_path(&data_path, &format!(".part{r}")))
            .collect();
        let mut parts: Vec<Option<PartWriter>> = (0..num_reduces).map(|_| None).collect();
        let reservation = MemoryConsumer::new(format!("ShuffleWriter[{map_index}]"))
            .with_can_spill(true)
            .register(context.memory_pool());
        let mut records = 0u64;
        let result: Result<()> = async {
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                records += batch.num_rows() as u64;
                let mut push = |reduce: usize, batch: RecordBatch| -> Result<()> {
                    let part = match &mut parts[reduce] {
                        Some(part) => part,
                        slot @ None => {
                            slot.insert(PartWriter::create(&part_paths[reduce], &schema, &options)?)
                        }
                    };
                    part.push(batch)
                };
                match &mut partitioner {
                    Some(Partitioner::Hash(partitioner)) => {
                        partitioner.partition(batch, &mut push)?
                    }
                    Some(Partitioner::RoundRobin(rows)) => rows.partition(batch, &mut push)?,
                    Some(Partitioner::Direct(expr, n)) => {
                        direct_partition(expr, *n, batch, &mut push)?
                    }
                    None => push(0, batch)?,
                }
                let buffered: usize = parts.iter().flatten().map(PartWriter::buffered_bytes).sum();
                if buffered > reservation.size()
                    && reservation.try_grow(buffered - reservation.size()).is_err()
                {
                    for part in parts.iter_mut().flatten() {
                        part.spill()?;
                    }
                    reservation.free();
                }
            }
            Ok(())
        }
        .await;
        let finished = result.and_then(|()| {
            let timer = write_time.timer();
            let blocks = parts
                .iter_mut()
                .map(|part| part.take().map(PartWriter::finish).transpose())
                .collect::<Result<Vec<_>>>()?;
            let lengths = write_output_files(&data_path, &index_path, blocks, env.checksums)?;
            timer.done();
            Ok(lengths)
        });
        reservation.free();
        for path in &part_paths {
            let _ = std::fs::remove_file(path);
        }
        let lengths = finished?;
        records_metric.add(records as usize);
        bytes_metric.add(lengths.iter().sum::<u64>() as usize);
        Ok(MapStatus {
            map_index: map_index as u32,
            map_id: attempt_id,
            executor_id: env.executor_id.clone(),
            host: env.host.clone(),
            // A cache's files go with the executor unless its worker's service serves them.
            port: if self.cache_level.is_some() && !env.rdd_blocks_from_service {
                env.own_block_port
            } else {
                env.block_transfer_port
            },
            data_path: data_path.display().to_string(),
            index_path: index_path.display().to_string(),
            partition_lengths: lengths,
            records_written: records,
            in_memory: false,
        })
    }
}

/// Writes a map output's blocks back to back into its data file, their offsets into its index
/// file and, with `checksums`, their checksums into its checksum file, through temp files
/// renamed into place (checksums and index first, then data: a reader that sees the data file
/// finds the others complete); returns the blocks' lengths.
fn write_output_files(
    data_path: &Path,
    index_path: &Path,
    blocks: Vec<Option<Block>>,
    checksums: bool,
) -> Result<Vec<u64>> {
    let checksum_path = shuffle_index::checksum_path(index_path);
    let (data_tmp, index_tmp) = (tmp_path(data_path, ""), tmp_path(index_path, ""));
    let checksum_tmp = tmp_path(&checksum_path, "");
    let written = write_data_file(&data_tmp, blocks).and_then(|(lengths, sums)| {
        if checksums {
            std::fs::write(&checksum_tmp, shuffle_index::encode_checksums(&sums))
                .map_err(|e| write_error(&checksum_tmp, e))?;
            std::fs::rename(&checksum_tmp, &checksum_path)
                .map_err(|e| write_error(&checksum_path, e))?;
        }
        std::fs::write(&index_tmp, encode_index(&lengths))
            .map_err(|e| write_error(&index_tmp, e))?;
        std::fs::rename(&index_tmp, index_path).map_err(|e| write_error(index_path, e))?;
        std::fs::rename(&data_tmp, data_path).map_err(|e| write_error(data_path, e))?;
        Ok(lengths)
    });
    if written.is_err() {
        for path in [&data_tmp, &index_tmp, &checksum_tmp] {
            let _ = std::fs::remove_file(path);
        }
    }
    written
}

/// A cached block kept in memory, encoded as the blocks on disk are (one compressed Arrow IPC
/// stream); empty for a block without rows.
pub(crate) fn encode_batches(
    batches: &[RecordBatch],
    options: &IpcWriteOptions,
) -> Result<Vec<u8>> {
    let Some(first) = batches.first() else {
        return Ok(Vec::new());
    };
    // Never spilled: the path is not used.
    let mut part = PartWriter::create(Path::new(""), &first.schema(), options)?;
    for batch in batches {
        part.push(batch.clone())?;
    }
    match part.finish()? {
        Block::Memory(bytes) => Ok(bytes),
        Block::File(path) => Err(DataFusionError::Internal(format!(
            "an encoded block went to {}; this is a Flint bug",
            path.display()
        ))),
    }
}

/// Writes a cached block pushed out of memory as a map output's files (data and index, and
/// checksums with `checksums`, one reduce partition); returns its bytes on disk.
pub(crate) fn write_cached_block(
    block_manager: &DiskBlockManager,
    key: MemoryBlockKey,
    batches: &[RecordBatch],
    options: &IpcWriteOptions,
    checksums: bool,
) -> Result<u64> {
    let bytes = encode_batches(batches, options)?;
    let block = (!bytes.is_empty()).then_some(Block::Memory(bytes));
    let lengths = write_output_files(
        &block_manager.file_for(BlockId::ShuffleData {
            shuffle_id: key.shuffle_id,
            map_id: key.map_id,
        }),
        &block_manager.file_for(BlockId::ShuffleIndex {
            shuffle_id: key.shuffle_id,
            map_id: key.map_id,
        }),
        vec![block],
        checksums,
    )?;
    Ok(lengths.iter().sum())
}

fn tmp_path(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!("{suffix}.tmp"));
    path.with_file_name(name)
}

fn write_error(path: &Path, source: std::io::Error) -> DataFusionError {
    ShuffleError::Write {
        path: path.display().to_string(),
        source,
    }
    .into()
}

/// Writes the blocks back to back into the data file and returns their lengths and checksums.
fn write_data_file(data_path: &Path, blocks: Vec<Option<Block>>) -> Result<(Vec<u64>, Vec<u64>)> {
    let mut out = BufWriter::new(File::create(data_path).map_err(|e| write_error(data_path, e))?);
    let mut lengths = Vec::with_capacity(blocks.len());
    let mut checksums = Vec::with_capacity(blocks.len());
    for block in blocks {
        let mut checksum = shuffle_index::Checksum::default();
        let length = match block {
            None => 0,
            Some(Block::Memory(bytes)) => {
                checksum.update(&bytes);
                out.write_all(&bytes)
                    .map_err(|e| write_error(data_path, e))?;
                bytes.len() as u64
            }
            Some(Block::File(path)) => {
                let mut part = File::open(&path).map_err(|e| write_error(&path, e))?;
                let mut summed = ChecksumWriter {
                    inner: &mut out,
                    checksum: &mut checksum,
                };
                std::io::copy(&mut part, &mut summed).map_err(|e| write_error(data_path, e))?
            }
        };
        lengths.push(length);
        checksums.push(checksum.value());
    }
    out.flush().map_err(|e| write_error(data_path, e))?;
    Ok((lengths, checksums))
}

/// Passes bytes on, adding them to a checksum.
struct ChecksumWriter<'a, W> {
    inner: &'a mut W,
    checksum: &'a mut shuffle_index::Checksum,
}

impl<W: Write> Write for ChecksumWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.checksum.update(&buf[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A finished block: still in memory, or spilled to a temp file.
enum Block {
    Memory(Vec<u8>),
    File(PathBuf),
}

/// Where a block's bytes go while it is written.
enum PartSink {
    Memory(Vec<u8>),
    File(BufWriter<File>),
}

impl Write for PartSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            PartSink::Memory(bytes) => bytes.write(buf),
            PartSink::File(file) => file.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            PartSink::Memory(_) => Ok(()),
            PartSink::File(file) => file.flush(),
        }
    }
}

/// One reduce partition's block being written: rows are coalesced into batches of a useful
/// size before they are encoded, since hash partitioning leaves many small slices. Coalescing
/// also compacts string views, which would otherwise drag every buffer they point into
/// into the block.
struct PartWriter {
    coalescer: BatchCoalescer,
    writer: StreamWriter<PartSink>,
    path: PathBuf,
}

const TARGET_BATCH_ROWS: usize = 8192;

/// The schema of blocks whose rows have no columns: one all-null column carries the count.
fn row_count_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        "__rows",
        DataType::Null,
        true,
    )]))
}

impl PartWriter {
    fn create(path: &Path, schema: &SchemaRef, options: &IpcWriteOptions) -> Result<Self> {
        let ipc_schema = if schema.fields().is_empty() {
            row_count_schema()
        } else {
            Arc::clone(schema)
        };
        let writer = StreamWriter::try_new_with_options(
            PartSink::Memory(Vec::new()),
            &ipc_schema,
            options.clone(),
        )?;
        let coalescer = BatchCoalescer::new(Arc::clone(schema), TARGET_BATCH_ROWS);
        Ok(Self {
            coalescer,
            writer,
            path: path.to_path_buf(),
        })
    }

    fn push(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_columns() == 0 {
            // Rows without columns (`count(*)`): Arrow IPC cannot carry a row count alone, so
            // the block holds one all-null column that the reader drops again.
            let rows = Arc::new(NullArray::new(batch.num_rows())) as _;
            self.writer
                .write(&RecordBatch::try_new(row_count_schema(), vec![rows])?)?;
            return Ok(());
        }
        self.coalescer.push_batch(batch)?;
        while let Some(batch) = self.coalescer.next_completed_batch() {
            self.writer.write(&batch)?;
        }
        Ok(())
    }

    /// Encoded bytes held in memory.
    fn buffered_bytes(&self) -> usize {
        match self.writer.get_ref() {
            PartSink::Memory(bytes) => bytes.len(),
            PartSink::File(_) => 0,
        }
    }

    /// Moves the encoded bytes to the temp file; later bytes go there directly.
    fn spill(&mut self) -> Result<()> {
        if let PartSink::Memory(bytes) = self.writer.get_mut() {
            let bytes = std::mem::take(bytes);
            let mut file =
                BufWriter::new(File::create(&self.path).map_err(|e| write_error(&self.path, e))?);
            file.write_all(&bytes)
                .map_err(|e| write_error(&self.path, e))?;
            *self.writer.get_mut() = PartSink::File(file);
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Block> {
        self.coalescer.finish_buffered_batch()?;
        while let Some(batch) = self.coalescer.next_completed_batch() {
            self.writer.write(&batch)?;
        }
        self.writer.finish()?;
        match self.writer.into_inner()? {
            PartSink::Memory(bytes) => Ok(Block::Memory(bytes)),
            PartSink::File(mut file) => {
                file.flush().map_err(|e| write_error(&self.path, e))?;
                Ok(Block::File(self.path))
            }
        }
    }
}

impl DisplayAs for ShuffleWriterExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        match &self.partitioning {
            ShuffleOutputPartitioning::Hash(exprs, n) => {
                let exprs: Vec<String> = exprs.iter().map(|e| e.to_string()).collect();
                write!(
                    f,
                    "ShuffleWriterExec: shuffle_id={}, partitioning=Hash([{}], {n})",
                    self.shuffle_id,
                    exprs.join(", ")
                )
            }
            ShuffleOutputPartitioning::RoundRobin(n) => {
                write!(
                    f,
                    "ShuffleWriterExec: shuffle_id={}, partitioning=RoundRobin({n})",
                    self.shuffle_id
                )
            }
            ShuffleOutputPartitioning::Direct(expr, n) => {
                write!(
                    f,
                    "ShuffleWriterExec: shuffle_id={}, partitioning=Direct({expr}, {n})",
                    self.shuffle_id
                )
            }
            ShuffleOutputPartitioning::Single => {
                write!(
                    f,
                    "ShuffleWriterExec: shuffle_id={}, partitioning=Single",
                    self.shuffle_id
                )
            }
        }
    }
}

impl ExecutionPlan for ShuffleWriterExec {
    fn name(&self) -> &str {
        "ShuffleWriterExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        let exprs: &[Arc<dyn PhysicalExpr>] = match &self.partitioning {
            ShuffleOutputPartitioning::Hash(exprs, _) => exprs,
            ShuffleOutputPartitioning::Direct(expr, _) => std::slice::from_ref(expr),
            _ => &[],
        };
        for expr in exprs {
            if f(expr)? == TreeNodeRecursion::Stop {
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let [input] = <[_; 1]>::try_from(children)
            .map_err(|_| DataFusionError::Internal("ShuffleWriterExec takes one child".into()))?;
        Ok(Arc::new(ShuffleWriterExec {
            input,
            shuffle_id: self.shuffle_id,
            partitioning: self.partitioning.clone(),
            cache_level: self.cache_level,
            metrics: ExecutionPlanMetricsSet::new(),
        }))
    }

    fn execute(
        &self,
        _partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        Err(DataFusionError::Internal(
            "ShuffleWriterExec runs through write_map_output, not execute; this is a Flint bug"
                .into(),
        ))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// How a map task splits its rows into blocks.
enum Partitioner {
    /// By the hash of the keys (DataFusion's partitioner, Spark's `HashPartitioning`).
    Hash(BatchPartitioner),
    /// Row by row in turn.
    RoundRobin(RoundRobinRows),
    /// Into the partition the expression names.
    Direct(Arc<dyn PhysicalExpr>, usize),
}

/// Sends each row of `batch` to the partition `expr` names for it, modulo `n` (Spark's
/// `pmod` in `ShufflePartitionIdPassThrough`); a NULL fails the task.
fn direct_partition(
    expr: &Arc<dyn PhysicalExpr>,
    n: usize,
    batch: RecordBatch,
    push: &mut impl FnMut(usize, RecordBatch) -> Result<()>,
) -> Result<()> {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{DataType, Int64Type};
    let ids = expr.evaluate(&batch)?.into_array(batch.num_rows())?;
    let ids = datafusion::arrow::compute::cast(&ids, &DataType::Int64)?;
    let ids = ids.as_primitive::<Int64Type>();
    let mut rows: Vec<Vec<u32>> = vec![Vec::new(); n];
    for row in 0..batch.num_rows() {
        if !ids.is_valid(row) {
            return Err(DataFusionError::Execution(
                "[INVALID_PARTITION_ID] The partition ID is NULL: repartitionById needs an integer for every row. SQLSTATE: 22003".into(),
            ));
        }
        let id = ids.value(row).rem_euclid(n as i64) as usize;
        rows[id].push(row as u32);
    }
    for (reduce, indices) in rows.into_iter().enumerate() {
        if indices.is_empty() {
            continue;
        }
        let indices = datafusion::arrow::array::UInt32Array::from(indices);
        push(
            reduce,
            datafusion::arrow::compute::take_record_batch(&batch, &indices)?,
        )?;
    }
    Ok(())
}

/// Spark's `RoundRobinPartitioning`: each row goes to the next reduce partition, starting
/// after one chosen by `XORShiftRandom(mapIndex).nextInt(n)`, so every map task spreads its
/// rows evenly and tasks start at different partitions. (DataFusion's round robin moves
/// whole batches, which leaves a one-batch input in a single partition.)
struct RoundRobinRows {
    partitions: usize,
    position: usize,
}

impl RoundRobinRows {
    fn new(map_index: usize, partitions: usize) -> Self {
        let mut random = flint_sql::partition_values::XorShiftRandom::new(map_index as i64);
        let bound = i32::try_from(partitions).unwrap_or(i32::MAX);
        RoundRobinRows {
            partitions: partitions.max(1),
            position: random.next_int_bounded(bound).max(0) as usize,
        }
    }

    fn partition(
        &mut self,
        batch: RecordBatch,
        push: &mut impl FnMut(usize, RecordBatch) -> Result<()>,
    ) -> Result<()> {
        let mut rows: Vec<Vec<u32>> = vec![Vec::new(); self.partitions];
        for row in 0..batch.num_rows() {
            self.position = (self.position + 1) % self.partitions;
            rows[self.position].push(row as u32);
        }
        for (reduce, indices) in rows.into_iter().enumerate() {
            if indices.is_empty() {
                continue;
            }
            let rows = if batch.num_columns() == 0 {
                // Only a row count (`count()` over no columns): Arrow's take needs a column.
                RecordBatch::try_new_with_options(
                    batch.schema(),
                    vec![],
                    &datafusion::arrow::array::RecordBatchOptions::new()
                        .with_row_count(Some(indices.len())),
                )?
            } else {
                let indices = datafusion::arrow::array::UInt32Array::from(indices);
                datafusion::arrow::compute::take_record_batch(&batch, &indices)?
            };
            push(reduce, rows)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int64Array, RecordBatch, RecordBatchOptions};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::memory::MemorySourceConfig;
    use datafusion::execution::TaskContext;
    use datafusion::physical_expr::Partitioning;
    use datafusion::physical_expr::expressions::Column;
    use datafusion::physical_plan::ExecutionPlan;
    use datafusion::prelude::SessionConfig;
    use flint_storage::DiskBlockManager;
    use futures::TryStreamExt;

    use super::*;
    use crate::{ShuffleReadMode, UnresolvedShuffleExec};

    fn context(dir: &std::path::Path, pool_bytes: usize) -> Arc<TaskContext> {
        let env = ShuffleEnv {
            executor_id: "driver".into(),
            host: "localhost".into(),
            block_transfer_port: 0,
            own_block_port: 0,
            rdd_blocks_from_service: false,
            memory_store: None,
            read_host_local_disk: true,
            client: Arc::new(
                crate::ShuffleClient::new("test".into(), std::time::Duration::from_secs(10))
                    .with_retries(2, std::time::Duration::from_millis(10)),
            ),
            block_manager: Arc::new(DiskBlockManager::create(dir, "test", "driver").unwrap()),
            compression: Some(CompressionType::LZ4_FRAME),
            checksums: true,
            fetch_limits: crate::FetchLimits::default(),
        };
        context_with(env, pool_bytes)
    }

    fn context_with(env: ShuffleEnv, pool_bytes: usize) -> Arc<TaskContext> {
        let runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(
                datafusion::execution::memory_pool::GreedyMemoryPool::new(pool_bytes),
            ))
            .build_arc()
            .unwrap();
        Arc::new(
            TaskContext::default()
                .with_session_config(SessionConfig::new().with_extension(Arc::new(env)))
                .with_runtime(runtime),
        )
    }

    async fn round_trip(
        batches: Vec<RecordBatch>,
        partitioning: ShuffleOutputPartitioning,
    ) -> Vec<RecordBatch> {
        round_trip_with_pool(batches, partitioning, 64 << 20).await
    }

    async fn round_trip_with_pool(
        batches: Vec<RecordBatch>,
        partitioning: ShuffleOutputPartitioning,
        pool_bytes: usize,
    ) -> Vec<RecordBatch> {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path(), pool_bytes);
        let schema = batches[0].schema();
        let input =
            MemorySourceConfig::try_new_exec(&[batches], Arc::clone(&schema), None).unwrap();
        let n = partitioning.partition_count();
        let writer = ShuffleWriterExec::new(input, 7, partitioning);
        let status = writer
            .write_map_output(0, 1, Arc::clone(&ctx))
            .await
            .unwrap();
        assert_eq!(status.partition_lengths.len(), n);
        let unresolved = UnresolvedShuffleExec::new(
            7,
            schema,
            ShuffleReadMode::ReducePartitions(n),
            Partitioning::UnknownPartitioning(n),
        );
        let reader = unresolved.resolve(&[status]);
        let mut out = vec![];
        for p in 0..n {
            out.extend(
                reader
                    .execute(p, Arc::clone(&ctx))
                    .unwrap()
                    .try_collect::<Vec<_>>()
                    .await
                    .unwrap(),
            );
        }
        out
    }

    /// The first column of every batch, as sorted integers.
    fn sorted_values(batches: &[RecordBatch]) -> Vec<i64> {
        let mut values: Vec<i64> = batches
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .values()
                    .to_vec()
            })
            .collect();
        values.sort();
        values
    }

    #[tokio::test]
    async fn hash_shuffle_keeps_every_row() {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(Int64Array::from_iter_values(0..1000))],
        )
        .unwrap();
        let key: Arc<dyn PhysicalExpr> = Arc::new(Column::new("k", 0));
        let out = round_trip(vec![batch], ShuffleOutputPartitioning::Hash(vec![key], 3)).await;
        let values = sorted_values(&out);
        assert_eq!(values, (0..1000).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn blocks_spill_to_files_when_memory_runs_out() {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
        let batches: Vec<RecordBatch> = (0..20)
            .map(|i| {
                let values = Int64Array::from_iter_values(i * 1000..(i + 1) * 1000);
                RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(values)]).unwrap()
            })
            .collect();
        let key: Arc<dyn PhysicalExpr> = Arc::new(Column::new("k", 0));
        let out =
            round_trip_with_pool(batches, ShuffleOutputPartitioning::Hash(vec![key], 4), 1024)
                .await;
        let values = sorted_values(&out);
        assert_eq!(values, (0..20_000).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn rows_without_columns_keep_their_count() {
        let schema = Arc::new(Schema::empty());
        let options = RecordBatchOptions::new().with_row_count(Some(100));
        let batch = RecordBatch::try_new_with_options(schema, vec![], &options).unwrap();
        let out = round_trip(vec![batch], ShuffleOutputPartitioning::RoundRobin(2)).await;
        assert_eq!(out.iter().map(|b| b.num_rows()).sum::<usize>(), 100);
        assert!(out.iter().all(|b| b.num_columns() == 0));
    }

    /// An executor's env on host `host` whose blocks are served on `port`.
    fn executor_env(dir: &std::path::Path, id: &str, host: &str, port: u16) -> ShuffleEnv {
        ShuffleEnv {
            executor_id: id.into(),
            host: host.into(),
            block_transfer_port: port,
            own_block_port: port,
            rdd_blocks_from_service: false,
            memory_store: None,
            read_host_local_disk: true,
            client: Arc::new(
                crate::ShuffleClient::new("test".into(), std::time::Duration::from_secs(10))
                    .with_retries(2, std::time::Duration::from_millis(10)),
            ),
            block_manager: Arc::new(DiskBlockManager::create(dir, "test", id).unwrap()),
            compression: Some(CompressionType::LZ4_FRAME),
            checksums: true,
            fetch_limits: crate::FetchLimits::default(),
        }
    }

    /// Serves the blocks `resolver` finds on `listener` until the task is aborted.
    fn serve_blocks<R: flint_shuffle_service::BlockResolver>(
        listener: tokio::net::TcpListener,
        resolver: Arc<R>,
    ) -> tokio::task::JoinHandle<std::result::Result<(), tonic::transport::Error>> {
        let service = flint_shuffle_service::BlockServer::new(resolver);
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service.into_server())
                .serve_with_incoming(flint_rpc::incoming(
                    listener,
                    &flint_rpc::RpcSecurity::none(),
                )),
        )
    }

    /// A reducer on another host fetches its blocks from the map side's block transfer
    /// service (its local paths are useless there); when that service is gone the read is a
    /// typed fetch failure naming the map output.
    #[tokio::test]
    async fn blocks_on_another_host_are_fetched_over_flight() {
        let dir = tempfile::tempdir().unwrap();
        let (listener, port) = flint_rpc::bind_service("test", "127.0.0.1", 0, 0)
            .await
            .unwrap();
        let map_env = executor_env(dir.path(), "1", "127.0.0.1", port);
        // Kept alive as the executor keeps it: dropping it deletes the files.
        let map_blocks = Arc::clone(&map_env.block_manager);
        let server = serve_blocks(
            listener,
            Arc::new(flint_shuffle_service::ExecutorBlocks::new(
                "test".into(),
                "1".into(),
                map_blocks.blocks_dir().to_path_buf(),
            )),
        );
        let map_ctx = context_with(map_env, 64 << 20);
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
        let batches: Vec<RecordBatch> = (0..5)
            .map(|i| {
                let values = Int64Array::from_iter_values(i * 1000..(i + 1) * 1000);
                RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(values)]).unwrap()
            })
            .collect();
        let input =
            MemorySourceConfig::try_new_exec(&[batches], Arc::clone(&schema), None).unwrap();
        let key: Arc<dyn PhysicalExpr> = Arc::new(Column::new("k", 0));
        let writer =
            ShuffleWriterExec::new(input, 3, ShuffleOutputPartitioning::Hash(vec![key], 4));
        let status = writer.write_map_output(0, 9, map_ctx).await.unwrap();
        assert_eq!(
            (status.host.as_str(), status.port, status.map_id),
            ("127.0.0.1", port, 9)
        );

        let other = tempfile::tempdir().unwrap();
        let reduce_ctx = context_with(executor_env(other.path(), "2", "other-host", 0), 64 << 20);
        let resolved = UnresolvedShuffleExec::new(
            3,
            Arc::clone(&schema),
            ShuffleReadMode::ReducePartitions(4),
            Partitioning::UnknownPartitioning(4),
        )
        .resolve(&[status]);
        let partitions: Vec<Vec<crate::ShuffleBlock>> = resolved
            .partitions()
            .iter()
            .map(|blocks| {
                blocks
                    .iter()
                    .map(|b| crate::ShuffleBlock {
                        data_path: "/nonexistent/on/this/host.data".into(),
                        index_path: "/nonexistent/on/this/host.index".into(),
                        ..b.clone()
                    })
                    .collect()
            })
            .collect();
        let reader = crate::ShuffleReaderExec::new(3, Arc::clone(&schema), partitions);
        let mut out = vec![];
        for p in 0..4 {
            let stream = reader.execute(p, Arc::clone(&reduce_ctx)).unwrap();
            out.extend(stream.try_collect::<Vec<_>>().await.unwrap());
        }
        assert_eq!(sorted_values(&out), (0..5000).collect::<Vec<_>>());
        let metrics = reader.metrics().unwrap();
        assert!(
            metrics
                .sum_by_name("shuffle_bytes_read")
                .unwrap()
                .as_usize()
                > 0
        );
        assert_eq!(
            metrics
                .sum_by_name("shuffle_records_read")
                .unwrap()
                .as_usize(),
            5000
        );

        // A block corrupted on disk is refused by its server (checksum), so the reducer
        // gets a fetch failure naming the corruption instead of rows.
        let data_file = map_blocks.file_for(BlockId::ShuffleData {
            shuffle_id: 3,
            map_id: 9,
        });
        let mut bytes = std::fs::read(&data_file).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(&data_file, &bytes).unwrap();
        let mut corrupt = vec![];
        for p in 0..4 {
            let read = reader
                .execute(p, Arc::clone(&reduce_ctx))
                .unwrap()
                .try_collect::<Vec<_>>()
                .await;
            if let Err(error) = read {
                let failure = ShuffleError::find_fetch_failure(&error)
                    .unwrap_or_else(|| panic!("not a fetch failure: {error}"));
                corrupt.push(failure.message.clone());
            }
        }
        assert_eq!(corrupt.len(), 1, "{corrupt:?}");
        assert!(corrupt[0].contains("corrupt block"), "{corrupt:?}");
        bytes[middle] ^= 0xff;
        std::fs::write(&data_file, &bytes).unwrap();

        // Open connections outlive the server task; a new reducer finds nobody listening. A
        // refused connection is not retried: with a minute between retries, the read still
        // fails within the deadline.
        server.abort();
        let _ = server.await;
        drop(reduce_ctx);
        let env = ShuffleEnv {
            client: Arc::new(
                crate::ShuffleClient::new("test".into(), std::time::Duration::from_secs(10))
                    .with_retries(3, std::time::Duration::from_secs(60)),
            ),
            ..executor_env(other.path(), "3", "other-host", 0)
        };
        let read = reader
            .execute(0, context_with(env, 64 << 20))
            .unwrap()
            .try_collect::<Vec<_>>();
        let error = tokio::time::timeout(std::time::Duration::from_secs(30), read)
            .await
            .expect("a refused connection was retried")
            .unwrap_err();
        let failure = ShuffleError::find_fetch_failure(&error)
            .unwrap_or_else(|| panic!("not a fetch failure: {error}"));
        assert_eq!((failure.shuffle_id, failure.map_index), (3, 0));
        assert_eq!(failure.executor_id, "1");
        drop(map_blocks);
    }

    /// A block server that answers "unavailable" to its first `failures` requests, as one
    /// restarting would.
    #[derive(Debug)]
    struct Restarting {
        blocks: flint_shuffle_service::ExecutorBlocks,
        failures: std::sync::atomic::AtomicUsize,
    }

    impl flint_shuffle_service::BlockResolver for Restarting {
        fn blocks_dir(
            &self,
            app_id: &str,
            executor_id: &str,
        ) -> std::result::Result<PathBuf, tonic::Status> {
            let left = self.failures.load(std::sync::atomic::Ordering::SeqCst);
            if left > 0 {
                self.failures
                    .store(left - 1, std::sync::atomic::Ordering::SeqCst);
                return Err(tonic::Status::unavailable("the server is restarting"));
            }
            self.blocks.blocks_dir(app_id, executor_id)
        }
    }

    /// A fetch whose connection fails is retried (`spark.shuffle.io.maxRetries`, here 2):
    /// two failures in a row still give every row once; three are a fetch failure.
    #[tokio::test]
    async fn fetches_are_retried_after_connection_failures() {
        let dir = tempfile::tempdir().unwrap();
        let (listener, port) = flint_rpc::bind_service("test", "127.0.0.1", 0, 0)
            .await
            .unwrap();
        let map_env = executor_env(dir.path(), "1", "127.0.0.1", port);
        let map_blocks = Arc::clone(&map_env.block_manager);
        let resolver = Arc::new(Restarting {
            blocks: flint_shuffle_service::ExecutorBlocks::new(
                "test".into(),
                "1".into(),
                map_blocks.blocks_dir().to_path_buf(),
            ),
            failures: std::sync::atomic::AtomicUsize::new(0),
        });
        let server = serve_blocks(listener, Arc::clone(&resolver));
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
        let values = Int64Array::from_iter_values(0..3000);
        let batch = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(values)]).unwrap();
        let input =
            MemorySourceConfig::try_new_exec(&[vec![batch]], Arc::clone(&schema), None).unwrap();
        let writer = ShuffleWriterExec::new(input, 5, ShuffleOutputPartitioning::Single);
        let status = writer
            .write_map_output(0, 1, context_with(map_env, 64 << 20))
            .await
            .unwrap();
        let reader = UnresolvedShuffleExec::new(
            5,
            Arc::clone(&schema),
            ShuffleReadMode::MapOutputs(1),
            Partitioning::UnknownPartitioning(1),
        )
        .resolve(&[status]);
        let other = tempfile::tempdir().unwrap();
        let read = |failures: usize| {
            resolver
                .failures
                .store(failures, std::sync::atomic::Ordering::SeqCst);
            let ctx = context_with(executor_env(other.path(), "2", "other-host", 0), 64 << 20);
            reader.execute(0, ctx).unwrap().try_collect::<Vec<_>>()
        };
        let rows = read(2).await.unwrap();
        assert_eq!(sorted_values(&rows), (0..3000).collect::<Vec<_>>());
        let error = read(3).await.unwrap_err();
        let failure = ShuffleError::find_fetch_failure(&error)
            .unwrap_or_else(|| panic!("not a fetch failure: {error}"));
        assert!(
            failure.message.contains("restarting"),
            "{}",
            failure.message
        );
        server.abort();
        drop(map_blocks);
    }
}

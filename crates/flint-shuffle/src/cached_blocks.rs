//! How an executor's cached blocks held in memory meet its files and the network: a block
//! pushed out of memory is written as a map output's files ([`CachedBlockFiles`]), and a
//! block another executor asks for is encoded as the blocks on disk are
//! ([`MemoryBlockEncoder`]).

use std::sync::Arc;

use arrow_ipc::CompressionType;
use arrow_ipc::writer::IpcWriteOptions;
use datafusion::arrow::array::RecordBatch;
use datafusion::error::Result;
use flint_shuffle_service::MemoryBlocks;
use flint_storage::{BlockSpiller, DiskBlockManager, MemoryBlockKey, MemoryStore};

use crate::writer::{encode_batches, write_cached_block};

/// The IPC options of blocks: `spark.io.compression.codec`.
fn ipc_options(compression: Option<CompressionType>) -> Result<IpcWriteOptions> {
    Ok(IpcWriteOptions::default().try_with_compression(compression)?)
}

/// Writes cached blocks pushed out of memory into the block manager's directory, where the
/// executor's readers and its block server find them.
#[derive(Debug)]
pub struct CachedBlockFiles {
    block_manager: Arc<DiskBlockManager>,
    options: IpcWriteOptions,
    checksums: bool,
}

impl CachedBlockFiles {
    /// Files in `block_manager`'s directory, compressed with `compression`, with checksums
    /// when `checksums` (`spark.shuffle.checksum.enabled`).
    pub fn new(
        block_manager: Arc<DiskBlockManager>,
        compression: Option<CompressionType>,
        checksums: bool,
    ) -> Result<Self> {
        Ok(Self {
            block_manager,
            options: ipc_options(compression)?,
            checksums,
        })
    }
}

impl BlockSpiller for CachedBlockFiles {
    fn spill(&self, key: MemoryBlockKey, batches: &[RecordBatch]) -> std::io::Result<u64> {
        write_cached_block(
            &self.block_manager,
            key,
            batches,
            &self.options,
            self.checksums,
        )
        .map_err(std::io::Error::other)
    }
}

/// Encodes the blocks a memory store holds for the executor's block server.
#[derive(Debug)]
pub struct MemoryBlockEncoder {
    store: Arc<MemoryStore>,
    options: IpcWriteOptions,
}

impl MemoryBlockEncoder {
    /// Encodes `store`'s blocks, compressed with `compression`.
    pub fn new(store: Arc<MemoryStore>, compression: Option<CompressionType>) -> Result<Self> {
        Ok(Self {
            store,
            options: ipc_options(compression)?,
        })
    }
}

impl MemoryBlocks for MemoryBlockEncoder {
    fn encoded(&self, shuffle_id: u32, map_id: u64) -> Option<std::io::Result<Vec<u8>>> {
        let batches = self.store.get(MemoryBlockKey { shuffle_id, map_id })?;
        Some(encode_batches(&batches, &self.options).map_err(std::io::Error::other))
    }
}

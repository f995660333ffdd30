//! Flint's block manager (Spark's `storage` package): names of blocks ([`BlockId`]), where
//! an application's blocks live on local disk ([`DiskBlockManager`]), cached blocks kept in
//! an executor's memory ([`MemoryStore`]) and how a cache keeps its blocks ([`StorageLevel`]).
//!
//! **Invariant:** everything an application writes to local disk (shuffle data and index
//! files, spills) lives under the one directory its `DiskBlockManager` created, and that
//! directory is removed when the application stops or the manager is dropped.

mod block_id;
mod disk_block_manager;
mod memory_store;
pub mod shuffle_index;
mod storage_level;

pub use block_id::BlockId;
pub use disk_block_manager::{DiskBlockManager, StorageError, remove_shuffle_files};
pub use memory_store::{
    BlockSpiller, BlockStatus, BlockStatusListener, MemoryBlockKey, MemoryStore, StorageMemory,
};
pub use storage_level::StorageLevel;

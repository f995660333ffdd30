//! Flint's block manager (Spark's `storage` package): names of blocks ([`BlockId`]) and where
//! an application's blocks live on local disk ([`DiskBlockManager`]).
//!
//! **Invariant:** everything an application writes to local disk (shuffle data and index
//! files, spills) lives under the one directory its `DiskBlockManager` created, and that
//! directory is removed when the application stops or the manager is dropped.

mod block_id;
mod disk_block_manager;
pub mod shuffle_index;

pub use block_id::BlockId;
pub use disk_block_manager::{DiskBlockManager, StorageError};

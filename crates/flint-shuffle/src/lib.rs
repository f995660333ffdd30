//! Flint's shuffle (Spark's `shuffle` package): the plan nodes that cut a job into stages and
//! move rows between them through files on local disk.
//!
//! - [`ShuffleWriterExec`] is the root of a shuffle-map stage's plan: each map task writes one
//!   data file (every reduce partition's rows back to back, each an Arrow IPC stream,
//!   compressed) and one index file (Spark's layout: `num_reduces + 1` big-endian offsets).
//! - [`ShuffleReaderExec`] is a leaf of the next stage's plan: its partition `r` reads range
//!   `r` of every map output it was given.
//! - [`UnresolvedShuffleExec`] stands where a reader will go until the map outputs exist.
//! - [`ShuffleClient`] fetches blocks from other hosts over Arrow Flight, from the writing
//!   executor's block server or its worker's shuffle service (`flint-shuffle-service`).
//!   Reducers on the same host read the files.
//! - A cached DataFrame's map stage writes its blocks into the executor's memory store when
//!   its storage level says so; [`CachedBlockFiles`] writes the ones pushed out of memory as
//!   files, and [`MemoryBlockEncoder`] encodes them for other executors.
//! - [`ShuffleCodec`] encodes these nodes inside DataFusion's physical-plan protobuf, so
//!   tasks travel as bytes even in local mode; Python UDFs travel with their definition.
//!
//! **Invariant:** a failed read of a block is a typed [`ShuffleError::FetchFailed`], never a
//! string, so the scheduler can recompute the map output it names.

mod block_transfer;
mod cached_blocks;
mod codec;
mod error;
mod reader;
mod unresolved;
mod writer;

pub use block_transfer::ShuffleClient;
pub use cached_blocks::{CachedBlockFiles, MemoryBlockEncoder};
pub use codec::ShuffleCodec;
pub use error::{FetchFailure, ShuffleError};
pub use reader::{FetchLimits, ShuffleBlock, ShuffleReaderExec};
pub use unresolved::{ShuffleReadMode, UnresolvedShuffleExec};
pub use writer::{MapStatus, ShuffleEnv, ShuffleOutputPartitioning, ShuffleWriterExec};

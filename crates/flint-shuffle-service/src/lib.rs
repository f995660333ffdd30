//! Shuffle blocks served over the network (Spark's `network-shuffle`). A [`BlockServer`]
//! answers Arrow Flight `DoGet`s for shuffle blocks, sending each block's IPC messages as
//! they are stored. It runs in two places:
//!
//! - in every executor, for the executor's own blocks ([`ExecutorBlocks`], Spark's
//!   `NettyBlockTransferService`, on `spark.blockManager.port`);
//! - with `spark.shuffle.service.enabled`, in every worker, for the blocks of every executor
//!   that registered with it ([`ExternalShuffleService`], Spark's `ExternalShuffleService`
//!   on `spark.shuffle.service.port`), so map output outlives the executor that wrote it and
//!   is lost only with its worker.
//!
//! **Invariant:** a ticket is resolved only inside a directory the server was given, or one an
//! executor registered below its own application's directory; nothing of an application that
//! has ended is served. No DataFusion here: the worker links this crate.

mod block_server;
mod external;

pub use block_server::{BlockResolver, BlockServer, ExecutorBlocks, MemoryBlocks, block_ticket};
pub use external::{ExternalShuffleService, RegistrationError, register_executor, remove_shuffle};

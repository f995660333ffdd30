//! Flint's internal RPC (Spark's `RpcEnv`): gRPC services generated from the `.proto` files
//! in `proto/`, one file per conversation, and the bind and connect helpers every role uses.
//!
//! **Invariant:** wire types stop at each role's `rpc` boundary; roles convert them to their
//! own domain types.

mod auth;
mod net;
mod tls;
mod web;

pub use auth::{AuthError, RpcSecurity};
pub use net::{Incoming, RpcError, bind_service, connect, connect_lazy, incoming, is_unreachable};
pub use tls::{ClientConnection, MaybeTls, ServerConnection, TlsConfig, TlsError, TlsLayer};
pub use web::{WebUser, serve_web};

/// The standalone deploy protocol: worker ↔ master ↔ driver (Spark's `DeployMessages`).
pub mod deploy {
    tonic::include_proto!("flint.deploy");
}

/// The driver ↔ executor protocol (Spark's `CoarseGrainedClusterMessages`).
pub mod executor {
    tonic::include_proto!("flint.executor");
}

/// The shuffle block services' tickets and registrations, inside Arrow Flight (Spark's
/// `BlockTransferMessage`s).
pub mod shuffle {
    tonic::include_proto!("flint.shuffle");
}

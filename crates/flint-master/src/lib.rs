//! The standalone master (Spark's `deploy.master.Master`): it tracks workers (their cores,
//! memory and heartbeats), declares silent ones dead after `spark.worker.timeout`, and serves
//! the master web UI with Spark's `/json/` shape.
//!
//! **Invariant:** the master never sees a plan, stage or task, and does not depend on
//! DataFusion or Arrow (it places resources; drivers schedule work).
//!
//! Main types: [`Master`] (the state, owned by one task fed by events), [`WorkerInfo`],
//! [`MasterConfig`], and [`scheduling`] (Spark's executor placement, pure logic).

mod master;
mod rpc;
pub mod scheduling;
mod ui;

pub use master::{Master, MasterConfig, MasterError, WorkerInfo, WorkerState};

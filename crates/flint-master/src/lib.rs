//! The standalone master (Spark's `deploy.master.Master`): it tracks workers (their cores,
//! memory and heartbeats) and applications, places each application's executors on workers
//! (first come, first served), declares silent workers dead after `spark.worker.timeout` and
//! tells drivers of the executors lost with them, and serves the master web UI with Spark's
//! `/json/` shape. With `spark.deploy.recoveryMode=FILESYSTEM` it persists its workers,
//! applications and drivers, and a restarted master recovers them while running
//! applications keep running.
//!
//! **Invariant:** the master never sees a plan, stage or task, and does not depend on
//! DataFusion or Arrow (it places resources; drivers schedule work).
//!
//! Main types: [`Master`] (the state: events in, new state and commands out, handled by one
//! task; `rpc.rs` carries the commands out), [`WorkerInfo`],
//! [`ApplicationInfo`], [`MasterConfig`], and [`scheduling`] (Spark's executor placement, pure
//! logic).

mod application;
mod driver;
mod leader_election;
mod master;
mod recovery;
mod rpc;
pub mod scheduling;
mod ui;

pub use application::{
    ApplicationDescription, ApplicationInfo, ApplicationState, ExecutorDesc, ExecutorState,
};
pub use driver::{DriverDescription, DriverInfo, DriverState};
pub use master::{Master, MasterConfig, MasterError, WorkerInfo, WorkerState};
pub use recovery::{RecoveryError, RecoveryMode};

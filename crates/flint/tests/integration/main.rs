//! Integration tests of the engine: each test starts its own application (in local mode a
//! driver with an in-process executor, in `local-cluster` mode real master, worker and
//! executor processes; real shuffle files either way) and checks results against
//! single-process DataFusion on the same data.

mod cache;
mod cluster;
mod common;
mod failures;
mod memory;
mod scheduling;
mod spark_sql;
mod stages;
mod tpch;
mod ui;

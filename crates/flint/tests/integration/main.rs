//! Integration tests of the engine in local mode: each test starts its own application
//! (driver and in-process executor, real shuffle files) and checks results against
//! single-process DataFusion on the same data.

mod common;
mod failures;
mod memory;
mod stages;
mod tpch;

//! Tests of the `flint` binary as users run it: real processes, output checked line by line,
//! temp dirs removed, and every process waited for with a deadline.

mod applications;
mod architecture;
mod cluster;
mod dynamic_allocation;
mod failures;
mod harness;
mod pyspark;
mod recovery;
mod security;
mod submit;
mod web_ui;

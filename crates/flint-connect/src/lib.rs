//! Spark Connect in a Flint driver (Spark's `SparkConnectService` and `SparkConnectPlanner`):
//! a gRPC endpoint that unmodified PySpark clients (`pyspark-client`) reach with
//! `SparkSession.builder.remote("sc://HOST:PORT")`. Each client session is a Flint session of
//! the driver's one application (its own temporary views and SQL conf); its plans become
//! Flint DataFrames, so every PySpark action is a Flint job with stages, tasks, shuffle files,
//! the UI and the event log.
//!
//! **Invariant:** Connect messages stop here; expressions are planned by Flint's SQL front end
//! (one Spark function registry), never by a second table of function names.

mod catalog;
mod codec;
mod command;
mod config;
mod error;
mod execute;
mod expression;
mod launcher;
mod literal;
mod relation;
mod server;
mod service;
mod session;
mod subquery;
mod types;
mod udf;

pub use error::ConnectError;
pub use launcher::{LaunchError, PythonProgram, python_interpreter};
pub use server::{ConnectServer, ConnectServerError, DEFAULT_PORT};
pub use service::SPARK_VERSION;

/// The variant name of a Connect message's oneof value (`Project`, `WriteOperation`), read
/// from the start of its `Debug` text: formatting stops at the first parenthesis, so a
/// relation carrying megabytes of local data is not printed to learn its kind.
pub(crate) fn variant_name<T: std::fmt::Debug>(value: &T) -> String {
    struct Prefix(String);
    impl std::fmt::Write for Prefix {
        fn write_str(&mut self, text: &str) -> std::fmt::Result {
            for c in text.chars() {
                if !c.is_alphanumeric() {
                    return Err(std::fmt::Error);
                }
                self.0.push(c);
            }
            Ok(())
        }
    }
    let mut prefix = Prefix(String::new());
    let _ = std::fmt::write(&mut prefix, format_args!("{value:?}"));
    prefix.0
}

/// The server side of `spark.connect.SparkConnectService`, generated in the build over the
/// message types of `apache-spark-connect-proto`.
#[allow(missing_docs, clippy::all)]
pub mod generated {
    include!(concat!(
        env!("OUT_DIR"),
        "/spark.connect.SparkConnectService.rs"
    ));
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_oneof_variants_without_printing_them() {
        let relation =
            spark_connect::relation::RelType::LocalRelation(spark_connect::LocalRelation {
                data: Some(vec![0u8; 1 << 20].into()),
                schema: None,
            });
        assert_eq!(super::variant_name(&relation), "LocalRelation");
    }
}

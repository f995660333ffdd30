//! Flint's `SparkConf`: every `spark.*` key Flint reads is declared once in [`keys`], with
//! Spark's name, default and a one-line doc; sizes and master URLs parse as Spark parses them.
//!
//! Precedence is Spark's: values set in code (the session builder) win over `flint submit`
//! flags and `--conf`, which win over the declared defaults.

mod duration;
mod error;
pub mod keys;
mod master;
mod security;
mod size;
mod spark_conf;

pub use duration::parse_duration;
pub use error::ConfError;
pub use master::MasterUrl;
pub use security::{
    AUTH_SECRET_ENV, Acls, SslFiles, auth_secret, current_user, is_secret_key, ssl_files,
    withheld_secret_keys,
};
pub use size::{format_size, parse_size};
pub use spark_conf::{SUBMIT_CONF_ENV, SparkConf};

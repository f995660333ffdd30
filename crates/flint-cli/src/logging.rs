use flint_common::SparkLogFormat;
use tracing_subscriber::EnvFilter;

/// Installs Spark's log layout on stderr. `FLINT_LOG` (an `EnvFilter` directive such as
/// `debug` or `flint_driver=debug`) overrides the command's default level; HTTP, SQL-parser
/// and DataFusion internals stay at WARN, as Spark's log4j2 template turns down its libraries.
pub(crate) fn init(default_level: &str) {
    let directive = std::env::var("FLINT_LOG").unwrap_or_else(|_| default_level.to_string());
    let filter = EnvFilter::try_new(format!(
        "{directive},datafusion=warn,sqlparser=warn,h2=warn,tonic=warn,hyper=warn"
    ))
    .unwrap_or_else(|_| EnvFilter::new(default_level));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .event_format(SparkLogFormat)
        .try_init();
}

use std::fmt;

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Module path prefixes and the Spark component name their log lines carry.
const COMPONENTS: &[(&str, &str)] = &[
    ("flint::session", "SparkSession"),
    ("flint::local_cluster", "LocalSparkCluster"),
    ("flint::deploy_client", "ClientEndpoint"),
    ("flint::", "SparkContext"),
    ("flint_cli", "FlintSubmit"),
    ("flint_driver::dag_scheduler", "DAGScheduler"),
    ("flint_driver::task_scheduler", "TaskSchedulerImpl"),
    ("flint_driver::task_set_manager", "TaskSetManager"),
    ("flint_driver::map_output_tracker", "MapOutputTrackerMaster"),
    ("flint_driver::scheduler_backend", "LocalSchedulerBackend"),
    (
        "flint_driver::standalone_backend",
        "StandaloneSchedulerBackend",
    ),
    ("flint_driver::app_client", "StandaloneAppClient"),
    (
        "flint_driver::executor_allocation_manager",
        "ExecutorAllocationManager",
    ),
    ("flint_driver", "SparkContext"),
    ("flint_executor::backend", "CoarseGrainedExecutorBackend"),
    ("flint_executor", "Executor"),
    ("flint_shuffle_service", "ExternalShuffleService"),
    ("flint_shuffle", "ShuffleBlockFetcher"),
    ("flint_storage", "DiskBlockManager"),
    ("flint_datagen", "TpchDataGenerator"),
    ("flint_master::ui", "MasterWebUI"),
    ("flint_master", "Master"),
    ("flint_worker::ui", "WorkerWebUI"),
    ("flint_worker::executor_runner", "ExecutorRunner"),
    ("flint_worker", "Worker"),
    ("flint_rpc", "Utils"),
];

/// The Spark component name for a tracing target (module path), e.g. `DAGScheduler`.
pub fn component_name(target: &str) -> &str {
    COMPONENTS
        .iter()
        .find(|(prefix, _)| target.starts_with(prefix) || target == prefix.trim_end_matches("::"))
        .map(|(_, name)| *name)
        .unwrap_or_else(|| target.rsplit("::").next().unwrap_or(target))
}

/// Formats events in Spark's log4j layout: `yy/MM/dd HH:mm:ss LEVEL Component: message`.
#[derive(Debug, Default, Clone, Copy)]
pub struct SparkLogFormat;

impl<S, N> FormatEvent<S, N> for SparkLogFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let now = chrono::Local::now();
        let metadata = event.metadata();
        write!(
            writer,
            "{} {} {}: ",
            now.format("%y/%m/%d %H:%M:%S"),
            metadata.level(),
            component_name(metadata.target())
        )?;
        // Spark's text layout shows the message only; the ids also travel as fields for
        // structured consumers.
        let mut message = MessageVisitor(String::new());
        event.record(&mut message);
        let _ = ctx;
        writeln!(writer, "{}", message.0)
    }
}

struct MessageVisitor(String);

impl tracing::field::Visit for MessageVisitor {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.0.push_str(&format!("{value:?}"));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn maps_module_paths_to_spark_components() {
        assert_eq!(
            super::component_name("flint_driver::dag_scheduler"),
            "DAGScheduler"
        );
        assert_eq!(
            super::component_name("flint_executor::executor"),
            "Executor"
        );
        assert_eq!(super::component_name("some_crate::thing"), "thing");
    }
}

use std::sync::Arc;

use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::MetricsSet;

/// What one task did (Spark's `TaskMetrics`), gathered from its plan's DataFusion metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskMetrics {
    /// Wall time the task ran on the executor, in milliseconds.
    pub executor_run_time_ms: u64,
    /// Time spent decoding the task's plan, in milliseconds.
    pub executor_deserialize_time_ms: u64,
    /// Bytes read from files by the task's scans.
    pub input_bytes: u64,
    /// Rows produced by the task's scans.
    pub input_records: u64,
    /// Rows the task's plan produced (result rows or rows written to shuffle).
    pub output_records: u64,
    /// Bytes of the serialized result sent to the driver.
    pub result_size: u64,
    /// Shuffle bytes read, local and remote.
    pub shuffle_read_bytes: u64,
    /// The part of those bytes fetched from other hosts.
    pub shuffle_remote_bytes_read: u64,
    /// Shuffle rows read.
    pub shuffle_read_records: u64,
    /// Shuffle bytes written.
    pub shuffle_write_bytes: u64,
    /// Shuffle rows written.
    pub shuffle_write_records: u64,
    /// Bytes spilled to disk by sorts, joins and aggregations.
    pub disk_bytes_spilled: u64,
    /// Number of spill files written.
    pub spill_count: u64,
}

impl TaskMetrics {
    /// Sums one partition's metrics over every node of an executed plan; the plan instance
    /// may be shared with the stage's other tasks on this executor.
    pub(crate) fn collect_from_plan(&mut self, plan: &Arc<dyn ExecutionPlan>, partition: usize) {
        let mut stack = vec![Arc::clone(plan)];
        while let Some(node) = stack.pop() {
            let is_leaf = node.children().is_empty();
            if let Some(metrics) = partition_metrics(node.as_ref(), partition) {
                let sum = |name: &str| sum_by_name(&metrics, name);
                if is_leaf && node.name() != "ShuffleReaderExec" {
                    self.input_records += metrics.output_rows().unwrap_or(0) as u64;
                    self.input_bytes += sum("bytes_scanned");
                }
                self.shuffle_read_bytes += sum("shuffle_bytes_read");
                self.shuffle_read_records += sum("shuffle_records_read");
                self.shuffle_remote_bytes_read += sum("shuffle_remote_bytes_read");
                self.shuffle_write_bytes += sum("shuffle_bytes_written");
                self.shuffle_write_records += sum("shuffle_records_written");
                self.disk_bytes_spilled += metrics.spilled_bytes().unwrap_or(0) as u64;
                self.spill_count += metrics.spill_count().unwrap_or(0) as u64;
            }
            stack.extend(node.children().into_iter().cloned());
        }
    }
}

/// A node's metrics recorded by one partition (and those recorded for no partition in
/// particular, such as a shared build side's).
pub(crate) fn partition_metrics(node: &dyn ExecutionPlan, partition: usize) -> Option<MetricsSet> {
    let all = node.metrics()?;
    let mut set = MetricsSet::new();
    for metric in all
        .iter()
        .filter(|metric| metric.partition().is_none_or(|p| p == partition))
    {
        set.push(Arc::clone(metric));
    }
    Some(set)
}

fn sum_by_name(metrics: &MetricsSet, name: &str) -> u64 {
    metrics
        .sum_by_name(name)
        .map(|value| value.as_usize() as u64)
        .unwrap_or(0)
}

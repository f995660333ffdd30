use std::sync::Arc;

use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::{MetricValue, MetricsSet};

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
    /// Each plan node's own metrics, in the plan's pre-order ([`plan_preorder`]), for the
    /// driver's SQL tab (what Spark sends as SQL metric accumulator updates).
    pub operators: Vec<OperatorMetrics>,
}

/// How a SQL metric's values add up and print (Spark's `SQLMetric` types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SqlMetricType {
    /// A count, printed as a number (`"sum"`).
    Sum,
    /// Bytes, printed as total with min, median and max over tasks (`"size"`).
    Size,
    /// Nanoseconds, printed as a duration with min, median and max (`"nsTiming"`).
    NsTiming,
}

impl SqlMetricType {
    /// Spark's name for the type, as in `SQLPlanMetric.metricType`.
    pub fn as_str(self) -> &'static str {
        match self {
            SqlMetricType::Sum => "sum",
            SqlMetricType::Size => "size",
            SqlMetricType::NsTiming => "nsTiming",
        }
    }

    /// The type Spark's name stands for; `None` for names Flint does not produce.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "sum" => Some(SqlMetricType::Sum),
            "size" => Some(SqlMetricType::Size),
            "nsTiming" => Some(SqlMetricType::NsTiming),
            _ => None,
        }
    }
}

/// One metric of one plan node in one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorMetric {
    /// Display name, e.g. `number of output rows`.
    pub name: String,
    /// How values add up and print.
    pub metric_type: SqlMetricType,
    /// The task's value (rows, bytes or nanoseconds).
    pub value: u64,
}

/// The metrics one plan node recorded for one task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OperatorMetrics {
    /// The node's name (`ExecutionPlan::name`), so the driver can check it matches its plan.
    pub node_name: String,
    /// Its metrics, in DataFusion's display order.
    pub metrics: Vec<OperatorMetric>,
}

/// The nodes of a plan in pre-order (a node, then its children left to right): the order
/// driver and executors both use to name a stage plan's nodes by position.
pub fn plan_preorder(plan: &Arc<dyn ExecutionPlan>) -> Vec<Arc<dyn ExecutionPlan>> {
    let mut nodes = vec![];
    let mut stack = vec![Arc::clone(plan)];
    while let Some(node) = stack.pop() {
        stack.extend(node.children().into_iter().rev().cloned());
        nodes.push(node);
    }
    nodes
}

/// Shuffle nodes stand for an exchange: only their shuffle figures describe it (their row
/// counts would double the rows of the operators around them).
fn is_shuffle_node(name: &str) -> bool {
    matches!(name, "ShuffleWriterExec" | "ShuffleReaderExec")
}

/// A DataFusion metric as a SQL metric (name and type), or `None` for those the SQL tab does
/// not show (timestamps, ratios, current memory, custom values).
fn sql_metric(value: &MetricValue) -> Option<(String, SqlMetricType)> {
    let named = |name: &str| -> (String, SqlMetricType) {
        let metric_type = if name.contains("bytes") || name.contains("memory") {
            SqlMetricType::Size
        } else {
            SqlMetricType::Sum
        };
        (name.replace('_', " "), metric_type)
    };
    Some(match value {
        MetricValue::OutputRows(_) => ("number of output rows".into(), SqlMetricType::Sum),
        MetricValue::ElapsedCompute(_) => ("elapsed compute".into(), SqlMetricType::NsTiming),
        MetricValue::OutputBytes(_) => ("output size".into(), SqlMetricType::Size),
        MetricValue::OutputBatches(_) => ("number of output batches".into(), SqlMetricType::Sum),
        MetricValue::SpillCount(_) => ("spill count".into(), SqlMetricType::Sum),
        MetricValue::SpilledBytes(_) => ("spill size".into(), SqlMetricType::Size),
        MetricValue::SpilledRows(_) => ("spilled rows".into(), SqlMetricType::Sum),
        MetricValue::PeakMemoryUsage { name, .. } => (name.replace('_', " "), SqlMetricType::Size),
        MetricValue::Time { name, .. } => (name.replace('_', " "), SqlMetricType::NsTiming),
        MetricValue::Count { name, .. } | MetricValue::Gauge { name, .. } => named(name),
        MetricValue::CurrentMemoryUsage(_)
        | MetricValue::StartTimestamp(_)
        | MetricValue::EndTimestamp(_)
        | MetricValue::PruningMetrics { .. }
        | MetricValue::Ratio { .. }
        | MetricValue::Custom { .. } => return None,
    })
}

/// One node's SQL metrics from its metrics for one partition.
fn operator_metrics(node_name: String, metrics: Option<&MetricsSet>) -> OperatorMetrics {
    let mut operator = OperatorMetrics {
        node_name,
        metrics: vec![],
    };
    let Some(set) = metrics else {
        return operator;
    };
    let shuffle_node = is_shuffle_node(&operator.node_name);
    for metric in set.aggregate_by_name().sorted_for_display().iter() {
        let value = metric.value();
        let row_figure = matches!(
            value,
            MetricValue::OutputRows(_)
                | MetricValue::OutputBatches(_)
                | MetricValue::OutputBytes(_)
        );
        if shuffle_node && row_figure {
            continue;
        }
        if let Some((name, metric_type)) = sql_metric(value) {
            operator.metrics.push(OperatorMetric {
                name,
                metric_type,
                value: value.as_usize() as u64,
            });
        }
    }
    operator
}

impl TaskMetrics {
    /// Sums one partition's metrics over every node of an executed plan, and keeps each
    /// node's own in [`plan_preorder`]; the plan instance may be shared with the stage's other
    /// tasks on this executor.
    pub(crate) fn collect_from_plan(&mut self, plan: &Arc<dyn ExecutionPlan>, partition: usize) {
        self.operators.clear();
        for node in plan_preorder(plan) {
            let metrics = partition_metrics(node.as_ref(), partition);
            if let Some(metrics) = &metrics {
                let sum = |name: &str| sum_by_name(metrics, name);
                if node.children().is_empty() && node.name() != "ShuffleReaderExec" {
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
            self.operators
                .push(operator_metrics(node.name().to_string(), metrics.as_ref()));
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

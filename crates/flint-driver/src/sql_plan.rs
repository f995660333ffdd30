//! A query's physical plan as the SQL tab shows it (Spark's `SparkPlanInfo` and
//! `SparkPlanGraph`), and the link from each stage's plan nodes back to it, so the metrics
//! each task records per operator land on the right node of the query's graph.
//!
//! Nodes are numbered in pre-order from the root (0), the order Spark numbers its plan graph
//! in; a stage plan's nodes are named by their pre-order position ([`plan_preorder`]), which
//! survives encoding, decoding and shuffle resolution.

use std::collections::HashSet;
use std::sync::Arc;

use crate::stage_planner::{is_exchange, node_address};
use datafusion::physical_plan::{ExecutionPlan, displayable};
use flint_executor::{OperatorMetrics, SqlMetricType, plan_preorder};

/// One node of a query's plan with its children (Spark's `SparkPlanInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlPlanInfo {
    /// The operator's name, e.g. `Aggregate` or `Exchange`.
    pub node_name: String,
    /// Its one-line description with arguments.
    pub simple_string: String,
    /// Its inputs, in order.
    pub children: Vec<SqlPlanInfo>,
}

/// A node of a query's plan graph (Spark's `SparkPlanGraphNode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlPlanNode {
    /// Pre-order number, root 0.
    pub id: u32,
    /// The operator's name.
    pub name: String,
    /// Its one-line description.
    pub desc: String,
}

/// An edge of a query's plan graph, from an input to the operator reading it (Spark's
/// `SparkPlanGraphEdge`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlPlanEdge {
    /// The child node.
    pub from_id: u32,
    /// The parent node.
    pub to_id: u32,
}

/// The SQL tab's name for a DataFusion operator: a repartition is Spark's `Exchange` (Flint
/// runs it as a shuffle); other names lose DataFusion's `Exec` suffix.
fn display_name(node: &dyn ExecutionPlan) -> String {
    match node.name() {
        "RepartitionExec" => "Exchange".to_string(),
        name => name.strip_suffix("Exec").unwrap_or(name).to_string(),
    }
}

impl SqlPlanInfo {
    /// The plan info of a physical plan, before it is cut into stages. An exchange the plan
    /// reads a second time is a `ReusedExchange` leaf, as in Spark: it runs once.
    pub fn from_plan(plan: &Arc<dyn ExecutionPlan>) -> SqlPlanInfo {
        Self::from_plan_once(plan, &mut HashSet::new())
    }

    fn from_plan_once(
        plan: &Arc<dyn ExecutionPlan>,
        exchanges: &mut HashSet<usize>,
    ) -> SqlPlanInfo {
        let simple_string = displayable(plan.as_ref())
            .one_line()
            .to_string()
            .trim()
            .to_string();
        if is_exchange(plan) && !exchanges.insert(node_address(plan)) {
            return SqlPlanInfo {
                node_name: "ReusedExchange".to_string(),
                simple_string: format!("ReusedExchange, output of {simple_string}"),
                children: vec![],
            };
        }
        SqlPlanInfo {
            node_name: display_name(plan.as_ref()),
            simple_string,
            children: plan
                .children()
                .into_iter()
                .map(|child| Self::from_plan_once(child, exchanges))
                .collect(),
        }
    }

    /// The nodes in pre-order (ids 0, 1, ...) and the edges from each child to its parent.
    pub fn graph(&self) -> (Vec<SqlPlanNode>, Vec<SqlPlanEdge>) {
        let mut nodes = vec![];
        let mut edges = vec![];
        let mut stack: Vec<(&SqlPlanInfo, Option<u32>)> = vec![(self, None)];
        while let Some((info, parent)) = stack.pop() {
            let id = nodes.len() as u32;
            nodes.push(SqlPlanNode {
                id,
                name: info.node_name.clone(),
                desc: info.simple_string.clone(),
            });
            if let Some(parent) = parent {
                edges.push(SqlPlanEdge {
                    from_id: id,
                    to_id: parent,
                });
            }
            stack.extend(info.children.iter().rev().map(|child| (child, Some(id))));
        }
        (nodes, edges)
    }

    /// The plan as Spark's formatted `EXPLAIN` prints it: the tree with node ids, then each
    /// node's details.
    pub fn description(&self) -> String {
        let (nodes, _) = self.graph();
        let mut out = String::from("== Physical Plan ==\n");
        let mut next_id = 0u32;
        self.write_tree(&mut out, "", "", &mut next_id);
        for node in &nodes {
            out.push_str(&format!("\n({}) {}\n{}\n", node.id, node.name, node.desc));
        }
        out
    }

    fn write_tree(&self, out: &mut String, first: &str, rest: &str, next_id: &mut u32) {
        out.push_str(&format!("{first}{} ({})\n", self.node_name, *next_id));
        *next_id += 1;
        for (i, child) in self.children.iter().enumerate() {
            let last = i + 1 == self.children.len();
            let bar = if last { "   " } else { ":  " };
            child.write_tree(out, &format!("{rest}+- "), &format!("{rest}{bar}"), next_id);
        }
    }
}

/// A node of a stage plan, as the query graph knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StageNode {
    sql_node_id: u32,
    /// The stage plan node's `ExecutionPlan::name` when the stage was planned.
    planned_name: String,
}

/// For each node of a stage's plan in pre-order, the query-graph node it computes (shuffle
/// writers and readers stand for their exchange). Shared by every task set of the stage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageNodeIds(Arc<[Option<StageNode>]>);

/// One task's value of one SQL metric of one query-graph node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlMetricUpdate {
    /// The query-graph node.
    pub node_id: u32,
    /// The metric's display name.
    pub name: String,
    /// How its values add up and print.
    pub metric_type: SqlMetricType,
    /// The task's value.
    pub value: u64,
}

impl StageNodeIds {
    /// Names each node of `stage_plan` with `node_id_of` (which knows the nodes the stage
    /// planner built).
    pub(crate) fn of(
        stage_plan: &Arc<dyn ExecutionPlan>,
        node_id_of: impl Fn(&Arc<dyn ExecutionPlan>) -> Option<u32>,
    ) -> StageNodeIds {
        StageNodeIds(
            plan_preorder(stage_plan)
                .iter()
                .map(|node| {
                    node_id_of(node).map(|sql_node_id| StageNode {
                        sql_node_id,
                        planned_name: node.name().to_string(),
                    })
                })
                .collect(),
        )
    }

    /// The query-graph metric updates in one task's per-operator metrics. A task whose plan
    /// does not have the planned shape (which would be a Flint bug) contributes nothing.
    pub fn updates(&self, operators: &[OperatorMetrics]) -> Vec<SqlMetricUpdate> {
        if operators.len() != self.0.len() {
            tracing::debug!(
                "Task reported metrics for {} plan nodes, the stage has {}; ignoring them",
                operators.len(),
                self.0.len()
            );
            return vec![];
        }
        let mut updates = vec![];
        for (operator, node) in operators.iter().zip(self.0.iter()) {
            let Some(node) = node else { continue };
            // Shuffle placeholders become readers once map outputs are known.
            let same_node = operator.node_name == node.planned_name
                || (node.planned_name == "UnresolvedShuffleExec"
                    && operator.node_name == "ShuffleReaderExec");
            if !same_node {
                tracing::debug!(
                    "Task ran {} where {} was planned; ignoring its metrics",
                    operator.node_name,
                    node.planned_name
                );
                return vec![];
            }
            updates.extend(operator.metrics.iter().map(|metric| SqlMetricUpdate {
                node_id: node.sql_node_id,
                name: metric.name.clone(),
                metric_type: metric.metric_type,
                value: metric.value,
            }));
        }
        updates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, children: Vec<SqlPlanInfo>) -> SqlPlanInfo {
        SqlPlanInfo {
            node_name: name.into(),
            simple_string: format!("{name}Exec: x"),
            children,
        }
    }

    #[test]
    fn graph_numbers_nodes_in_pre_order_with_edges_to_parents() {
        let plan = node(
            "HashJoin",
            vec![
                node("Exchange", vec![node("DataSource", vec![])]),
                node("DataSource", vec![]),
            ],
        );
        let (nodes, edges) = plan.graph();
        let names: Vec<_> = nodes.iter().map(|n| (n.id, n.name.as_str())).collect();
        assert_eq!(
            names,
            [
                (0, "HashJoin"),
                (1, "Exchange"),
                (2, "DataSource"),
                (3, "DataSource")
            ]
        );
        let edges: Vec<_> = edges.iter().map(|e| (e.from_id, e.to_id)).collect();
        assert_eq!(edges, [(1, 0), (2, 1), (3, 0)]);
        assert_eq!(
            plan.description(),
            "== Physical Plan ==\nHashJoin (0)\n+- Exchange (1)\n:  +- DataSource (2)\n+- DataSource (3)\n\n\
             (0) HashJoin\nHashJoinExec: x\n\n(1) Exchange\nExchangeExec: x\n\n\
             (2) DataSource\nDataSourceExec: x\n\n(3) DataSource\nDataSourceExec: x\n"
        );
    }

    #[test]
    fn updates_follow_positions_and_refuse_a_different_shape() {
        let ids = StageNodeIds(
            vec![
                Some(StageNode {
                    sql_node_id: 4,
                    planned_name: "AggregateExec".into(),
                }),
                None,
                Some(StageNode {
                    sql_node_id: 7,
                    planned_name: "UnresolvedShuffleExec".into(),
                }),
            ]
            .into(),
        );
        let metric = |name: &str, value| flint_executor::OperatorMetric {
            name: name.into(),
            metric_type: SqlMetricType::Sum,
            value,
        };
        let ran = |names: [&str; 3]| -> Vec<OperatorMetrics> {
            names
                .iter()
                .map(|n| OperatorMetrics {
                    node_name: n.to_string(),
                    metrics: vec![metric("number of output rows", 3)],
                })
                .collect()
        };
        let updates = ids.updates(&ran([
            "AggregateExec",
            "CoalesceBatchesExec",
            "ShuffleReaderExec",
        ]));
        let got: Vec<_> = updates.iter().map(|u| (u.node_id, u.value)).collect();
        assert_eq!(got, [(4, 3), (7, 3)]);
        assert!(
            ids.updates(&ran([
                "SortExec",
                "CoalesceBatchesExec",
                "ShuffleReaderExec"
            ]))
            .is_empty()
        );
        assert!(
            ids.updates(&ran(["AggregateExec", "X", "Y"])[..2])
                .is_empty()
        );
    }
}

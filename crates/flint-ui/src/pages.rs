//! The application UI's HTML pages (Spark's `JobsTab`, `StagesTab`, `StorageTab`,
//! `ExecutorsTab`, `EnvironmentTab`, `SQLTab`, and Spark Connect's `SparkConnectServerTab` once a client has
//! connected), rendered from one [`AppState`] snapshot. The same pages serve a live
//! driver (at `/`) and the history server (under `/history/<app-id>`): `base` is that prefix.

use std::collections::{BTreeSet, HashMap};

use flint_common::{escape_html, kill_form};

use crate::api::{quantile, rest_date};
use crate::format::{bytes_text, duration_text};
use crate::status_store::{AppState, JobStatus, SqlExecutionData, StageData, TaskData};

/// The tabs, in Spark's order: (path under the base, title).
const TABS: [(&str, &str); 7] = [
    ("jobs", "Jobs"),
    ("stages", "Stages"),
    ("storage", "Storage"),
    ("executors", "Executors"),
    ("environment", "Environment"),
    ("SQL", "SQL / DataFrame"),
    ("connect", "Connect"),
];

/// The tabs `state` has: Connect only once a Spark Connect client has connected.
fn tabs(state: &AppState) -> impl Iterator<Item = &'static (&'static str, &'static str)> {
    let connect = !state.connect_sessions.is_empty();
    TABS.iter()
        .filter(move |(path, _)| *path != "connect" || connect)
}

/// The page at `path` (`jobs/`, `stages/stage/`, ...) with its query `params`, or `None` for a
/// page that does not exist; a missing or bad id is a page saying so.
pub fn render(
    state: &AppState,
    base: &str,
    path: &str,
    params: &HashMap<String, String>,
) -> Option<String> {
    let path = path.trim_matches('/');
    let (tab, body) = match path {
        "jobs" => ("jobs", jobs(state, base)),
        "jobs/job" => ("jobs", job(state, base, params)),
        "stages" => ("stages", stages(state, base)),
        "stages/stage" => ("stages", stage(state, params)),
        "storage" => ("storage", storage(state, base)),
        "storage/rdd" => ("storage", storage_rdd(state, params)),
        "executors" => ("executors", executors(state)),
        "environment" => ("environment", environment(state)),
        "SQL" => ("SQL", sql_executions(state, base)),
        "SQL/execution" => ("SQL", sql_execution(state, base, params)),
        "connect" => ("connect", connect(state, base)),
        _ => return None,
    };
    Some(layout(state, base, tab, &body))
}

fn layout(state: &AppState, base: &str, active: &str, body: &str) -> String {
    let tabs: String = tabs(state)
        .map(|(path, title)| {
            let class = if *path == active {
                " class=\"active\""
            } else {
                ""
            };
            format!("<a{class} href=\"{base}/{path}/\">{title}</a>")
        })
        .collect();
    let title = TABS
        .iter()
        .find(|(path, _)| *path == active)
        .map(|(_, title)| *title)
        .unwrap_or("");
    let status = if state.app.end_time.is_some() {
        "completed"
    } else {
        "running"
    };
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{name} - {title}</title>\
         <style>body{{font-family:sans-serif;margin:0}}nav{{background:#2b3e50;padding:6px 12px}}\
         nav a{{color:#ddd;margin-right:18px;text-decoration:none}}nav a.active{{color:#fff;font-weight:bold}}\
         nav span{{color:#f4a460;font-weight:bold;margin-right:24px}}main{{margin:1em}}\
         table{{border-collapse:collapse;margin-bottom:1em}}\
         td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:13px}}\
         .progress{{position:relative;width:160px;height:18px;background:#eee}}\
         .bar{{position:absolute;height:100%;background:#8fc98f}}\
         .progress span{{position:relative;padding-left:4px;font-size:12px}}\
         .error{{color:#a00;font-size:12px;max-width:40em;white-space:pre-wrap}}\
         td.metric{{white-space:pre-line}}pre.plan{{font-size:12px;background:#f7f7f7;padding:8px}}\
         .skipped{{color:#888}}</style></head><body>\
         <nav><span>Flint</span>{tabs}</nav><main><h2>{title}</h2>\
         <p class=\"app\">Application: {name} ({id}, {status}) · user {user}</p>{body}</main></body></html>",
        name = escape_html(&state.app.name),
        id = escape_html(&state.app.id),
        user = escape_html(&state.app.user),
    )
}

/// A progress bar as Spark draws it: succeeded of total, with running ones noted.
fn progress(done: usize, running: usize, total: usize) -> String {
    let percent = if total == 0 {
        0.0
    } else {
        100.0 * done as f64 / total as f64
    };
    let running_note = if running > 0 {
        format!(" ({running} running)")
    } else {
        String::new()
    };
    format!(
        "<div class=\"progress\"><div class=\"bar\" style=\"width:{percent:.1}%\"></div>\
         <span>{done}/{total}{running_note}</span></div>"
    )
}

fn table(headers: &[&str], rows: &str) -> String {
    let head: String = headers.iter().map(|h| format!("<th>{h}</th>")).collect();
    format!("<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
}

/// Spark's event timeline on the Jobs tab, as SVG: executors added (green) and removed
/// (red, with the reason) on one lane, and each job as a bar from its submission to its end
/// (or `now`) on rows below, so overlapping jobs and the executors they ran on read at a
/// glance. Each mark says what it is when hovered; a job's bar links to its page.
fn event_timeline(state: &AppState, base: &str, now: u64) -> String {
    const WIDTH: u64 = 1000;
    const LEFT: u64 = 90;
    const ROW: u64 = 18;
    const MAX_JOB_ROWS: usize = 12;
    let mut times: Vec<u64> = state
        .executors
        .values()
        .flat_map(|e| [Some(e.add_time), e.remove_time])
        .flatten()
        .collect();
    for job in state.jobs.values() {
        times.push(job.submission_time);
        times.push(job.completion_time.unwrap_or(now));
    }
    let (Some(&start), Some(&end)) = (times.iter().min(), times.iter().max()) else {
        return String::new();
    };
    let span = end.saturating_sub(start).max(1);
    let x = |t: u64| LEFT + (t.saturating_sub(start)) * (WIDTH - LEFT - 10) / span;
    let mut marks = String::new();
    // Executors: one tick per addition or removal.
    for executor in state.executors.values() {
        let mut events = vec![(executor.add_time, "added", "#2e9e44", None)];
        if let Some(removed) = executor.remove_time {
            events.push((
                removed,
                "removed",
                "#d43f3a",
                executor.remove_reason.as_deref(),
            ));
        }
        for (time, what, color, reason) in events {
            let why = reason
                .map(|r| format!(": {}", escape_html(r)))
                .unwrap_or_default();
            marks.push_str(&format!(
                "<g class=\"executor-{what}\"><title>Executor {} {what} at {}{why}</title>\
                 <rect x=\"{}\" y=\"8\" width=\"4\" height=\"24\" fill=\"{color}\"/></g>",
                escape_html(&executor.id),
                rest_date(time),
                x(time).saturating_sub(2),
            ));
        }
    }
    // Jobs: bars on the first row where they do not overlap an earlier one.
    let mut row_ends: Vec<u64> = vec![];
    for job in state.jobs.values() {
        let job_end = job.completion_time.unwrap_or(now);
        let row = match row_ends.iter().position(|e| *e < job.submission_time) {
            Some(row) => row,
            None if row_ends.len() < MAX_JOB_ROWS => {
                row_ends.push(0);
                row_ends.len() - 1
            }
            None => MAX_JOB_ROWS - 1,
        };
        row_ends[row] = row_ends[row].max(job_end);
        let color = match job.status {
            JobStatus::Succeeded => "#3a87c8",
            JobStatus::Failed => "#d43f3a",
            JobStatus::Running => "#5cb85c",
        };
        let left = x(job.submission_time);
        marks.push_str(&format!(
            "<a href=\"{base}/jobs/job/?id={id}\"><g class=\"job\"><title>Job {id} ({}) {}, {}</title>\
             <rect x=\"{left}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"2\" fill=\"{color}\"/></g></a>",
            escape_html(&job.description),
            job.status.as_str(),
            duration_text(job_end.saturating_sub(job.submission_time)),
            48 + row as u64 * ROW,
            x(job_end).saturating_sub(left).max(2),
            ROW - 4,
            id = job.job_id,
        ));
    }
    let height = 56 + row_ends.len().max(1) as u64 * ROW;
    format!(
        "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\">\
         <text x=\"4\" y=\"24\" font-size=\"12\">Executors</text>\
         <text x=\"4\" y=\"60\" font-size=\"12\">Jobs</text>\
         <line x1=\"{LEFT}\" y1=\"40\" x2=\"{}\" y2=\"40\" stroke=\"#ccc\"/>{marks}\
         <text x=\"{LEFT}\" y=\"{}\" font-size=\"11\" fill=\"#555\">{}</text>\
         <text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"#555\" text-anchor=\"end\">+{}</text></svg>",
        WIDTH - 10,
        height - 2,
        rest_date(start),
        WIDTH - 10,
        height - 2,
        duration_text(span),
    )
}

/// The Jobs tab: Spark's event timeline, then every job with its status, description,
/// submission time, duration and progress of its stages and tasks; failed jobs with their
/// reason.
fn jobs(state: &AppState, base: &str) -> String {
    let now = flint_common::now_millis();
    let mut rows = String::new();
    for job in state.jobs.values().rev() {
        let counts = &job.counts;
        let skipped = counts.skipped_stages;
        let total_stages = job.stage_ids.len() - skipped;
        let tasks = job.num_tasks - counts.skipped_tasks;
        let status = match (job.status, &job.failure_reason) {
            (JobStatus::Failed, Some(reason)) => {
                format!("FAILED<div class=\"error\">{}</div>", escape_html(reason))
            }
            (status, _) => status.as_str().to_string(),
        };
        let end = job.completion_time.unwrap_or(now);
        let kill = if state.kill_links && job.status == JobStatus::Running {
            kill_form(
                &format!("{base}/jobs/job/kill/?id={}", job.job_id),
                &format!("Are you sure you want to kill job {} ?", job.job_id),
            )
        } else {
            String::new()
        };
        rows.push_str(&format!(
            "<tr><td>{id}</td><td><a href=\"{base}/jobs/job/?id={id}\">{}</a>{kill}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}{}</td><td>{}</td></tr>",
            escape_html(&job.description),
            rest_date(job.submission_time),
            duration_text(end.saturating_sub(job.submission_time)),
            status,
            progress(counts.completed_stages.len(), 0, total_stages),
            if skipped > 0 {
                format!(" ({skipped} skipped)")
            } else {
                String::new()
            },
            progress(counts.completed_indices.len(), counts.active_tasks, tasks),
            id = job.job_id,
        ));
    }
    let table = table(
        &[
            "Job Id",
            "Description",
            "Submitted",
            "Duration",
            "Status",
            "Stages: Succeeded/Total",
            "Tasks (for all stages): Succeeded/Total",
        ],
        &rows,
    );
    format!(
        "<h4>Event Timeline</h4>{}{table}",
        event_timeline(state, base, now)
    )
}

/// One job: its stages as a DAG (SVG, skipped stages grey) and as a table.
fn job(state: &AppState, base: &str, params: &HashMap<String, String>) -> String {
    let Some(job) = params
        .get("id")
        .and_then(|id| id.parse::<u32>().ok())
        .and_then(|id| state.jobs.get(&id))
    else {
        return "<p class=\"error\">No such job.</p>".into();
    };
    let stages: Vec<&StageData> = job
        .stage_ids
        .iter()
        .filter_map(|id| latest_attempt(state, *id))
        .collect();
    let query = state
        .sql_executions
        .values()
        .find(|e| e.job_ids.contains(&job.job_id))
        .map(|e| {
            format!(
                "<p>Associated SQL Query: <a href=\"{base}/SQL/execution/?id={id}\">{id}</a></p>",
                id = e.execution_id
            )
        })
        .unwrap_or_default();
    format!(
        "<h3>Job {} ({})</h3><p>{}</p>{query}<h4>DAG Visualization</h4>{}{}",
        job.job_id,
        job.status.as_str(),
        escape_html(&job.description),
        dag_svg(&stages),
        stage_table(&stages, base, fair_pools(state).is_some(), state.kill_links)
    )
}

/// Links to the jobs of a query.
fn job_links(execution: &SqlExecutionData, base: &str) -> String {
    job_id_links(&execution.job_ids, base)
}

fn job_id_links(job_ids: &BTreeSet<u32>, base: &str) -> String {
    job_ids
        .iter()
        .map(|id| format!("<a href=\"{base}/jobs/job/?id={id}\">{id}</a>"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Spark Connect's tab: the client sessions (user, start, last activity, operations) and
/// the operations (statement, the jobs it ran, state, duration), newest first.
fn connect(state: &AppState, base: &str) -> String {
    let now = flint_common::now_millis();
    let mut sessions = String::new();
    let mut by_start: Vec<_> = state.connect_sessions.values().collect();
    by_start.sort_by_key(|s| std::cmp::Reverse(s.start_time));
    for session in &by_start {
        sessions.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape_html(&session.user_id),
            escape_html(&session.session_id),
            rest_date(session.start_time),
            session.finish_time.map(rest_date).unwrap_or_default(),
            rest_date(session.last_activity),
            duration_text(session.finish_time.unwrap_or(now).saturating_sub(session.start_time)),
            session.operations,
        ));
    }
    let mut operations = String::new();
    for operation in state.connect_operations.iter().rev() {
        let error = operation
            .error
            .as_deref()
            .map(|e| format!("<div class=\"error\">{}</div>", escape_html(e)))
            .unwrap_or_default();
        operations.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}{error}</td></tr>",
            escape_html(&operation.user_id),
            job_id_links(&operation.job_ids, base),
            escape_html(&operation.session_id),
            rest_date(operation.start_time),
            operation.finish_time.map(rest_date).unwrap_or_default(),
            duration_text(
                operation
                    .finish_time
                    .unwrap_or(now)
                    .saturating_sub(operation.start_time)
            ),
            escape_html(&operation.statement),
            operation.state,
        ));
    }
    format!(
        "<h4>Session Statistics ({})</h4>{}<h4>Request Statistics ({})</h4>{}",
        by_start.len(),
        table(
            &[
                "User",
                "Session ID",
                "Start Time",
                "Finish Time",
                "Last Activity",
                "Duration",
                "Total Execute"
            ],
            &sessions
        ),
        state.connect_operations.len(),
        table(
            &[
                "User",
                "Job IDs",
                "Session ID",
                "Start Time",
                "Finish Time",
                "Duration",
                "Statement",
                "State"
            ],
            &operations
        ),
    )
}

/// The SQL tab: every query with its status, description, submission time, duration and jobs.
fn sql_executions(state: &AppState, base: &str) -> String {
    if state.sql_executions.is_empty() {
        return "<p>No queries have run yet.</p>".into();
    }
    let mut rows = String::new();
    for execution in state.sql_executions.values().rev() {
        rows.push_str(&format!(
            "<tr><td>{id}</td><td><a href=\"{base}/SQL/execution/?id={id}\">{}</a></td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>",
            escape_html(&execution.description),
            rest_date(execution.submission_time),
            duration_text(execution.duration()),
            execution.status(&state.jobs).as_str(),
            job_links(execution, base),
            id = execution.execution_id,
        ));
    }
    table(
        &[
            "ID",
            "Description",
            "Submitted",
            "Duration",
            "Status",
            "Job IDs",
        ],
        &rows,
    )
}

/// One query: its plan as a graph with each operator's metrics, the metrics in full, and the
/// formatted plan.
fn sql_execution(state: &AppState, base: &str, params: &HashMap<String, String>) -> String {
    let Some(execution) = params
        .get("id")
        .and_then(|id| id.parse::<u64>().ok())
        .and_then(|id| state.sql_executions.get(&id))
    else {
        return "<p class=\"error\">No such query.</p>".into();
    };
    let error = execution
        .error_message
        .as_deref()
        .map(|e| format!("<p class=\"error\">{}</p>", escape_html(e)))
        .unwrap_or_default();
    let mut rows = String::new();
    for node in &execution.nodes {
        for metric in execution.metrics.get(&node.id).into_iter().flatten() {
            rows.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"metric\">{}</td></tr>",
                node.id,
                escape_html(&node.name),
                escape_html(&metric.name),
                escape_html(&metric.display()),
            ));
        }
    }
    format!(
        "<h3>Details for Query {id}</h3><p>{}</p><ul><li>Submitted Time: {}</li><li>Duration: {}</li>\
         <li>Status: {}</li><li>Jobs: {}</li></ul>{error}<h4>Plan</h4>{}<h4>Operator metrics</h4>{}\
         <h4>Details</h4><pre class=\"plan\">{}</pre>",
        escape_html(&execution.description),
        rest_date(execution.submission_time),
        duration_text(execution.duration()),
        execution.status(&state.jobs).as_str(),
        job_links(execution, base),
        plan_svg(execution),
        table(&["Node", "Operator", "Metric", "Value"], &rows),
        escape_html(&execution.physical_plan_description),
        id = execution.execution_id,
    )
}

/// A query's plan as a tree drawn top-down in the direction rows flow, as Spark's SQL tab
/// draws it: scans at the top, the operator producing the result at the bottom, each box
/// with the operator's name and its metrics' totals (the full figures in the box's tooltip).
pub fn plan_svg(execution: &SqlExecutionData) -> String {
    let count = execution.nodes.len();
    let mut children: Vec<Vec<usize>> = vec![vec![]; count];
    for edge in &execution.edges {
        if let Some(list) = children.get_mut(edge.to_id as usize)
            && (edge.from_id as usize) < count
        {
            list.push(edge.from_id as usize);
        }
    }
    // Pre-order numbering puts a parent before its children: one pass gives depths.
    let mut depth = vec![0usize; count];
    for parent in 0..count {
        for &child in &children[parent] {
            depth[child] = depth[parent] + 1;
        }
    }
    // Leaves take the next column left to right; a parent sits above the middle of its inputs.
    let mut column = vec![0f64; count];
    let mut next_leaf = 0f64;
    fn place(node: usize, children: &[Vec<usize>], column: &mut [f64], next_leaf: &mut f64) {
        if children[node].is_empty() {
            column[node] = *next_leaf;
            *next_leaf += 1.0;
            return;
        }
        for &child in &children[node] {
            place(child, children, column, next_leaf);
        }
        let sum: f64 = children[node].iter().map(|c| column[*c]).sum();
        column[node] = sum / children[node].len() as f64;
    }
    if count > 0 {
        place(0, &children, &mut column, &mut next_leaf);
    }
    let lines: Vec<Vec<String>> = (0..count)
        .map(|id| {
            execution
                .metrics
                .get(&(id as u32))
                .into_iter()
                .flatten()
                .map(|m| format!("{}: {}", m.name, m.value_text(m.total())))
                .collect()
        })
        .collect();
    let max_depth = depth.iter().copied().max().unwrap_or(0);
    let (w, line_h, gap_x, gap_y) = (260usize, 14usize, 30usize, 36usize);
    let box_h = |id: usize| 24 + line_h * lines[id].len();
    // Rows top to bottom are depths from deepest to the root; each row as tall as its tallest box.
    let mut row_h = vec![0usize; max_depth + 1];
    for (id, d) in depth.iter().enumerate() {
        let row = max_depth - d;
        row_h[row] = row_h[row].max(box_h(id));
    }
    let mut row_y = vec![10usize; max_depth + 1];
    for row in 1..=max_depth {
        row_y[row] = row_y[row - 1] + row_h[row - 1] + gap_y;
    }
    let x_of = |id: usize| 10 + (column[id] * (w + gap_x) as f64) as usize;
    let y_of = |id: usize| row_y[max_depth - depth[id]];
    let width = 20 + (next_leaf.max(1.0) as usize) * (w + gap_x);
    let height = row_y[max_depth] + row_h[max_depth] + 20;
    let mut svg = format!(
        "<svg class=\"plan\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\">\
         <defs><marker id=\"arrow\" markerWidth=\"8\" markerHeight=\"8\" refX=\"8\" refY=\"4\" orient=\"auto\">\
         <path d=\"M0,0 L8,4 L0,8 z\" fill=\"#555\"/></marker></defs>"
    );
    for edge in &execution.edges {
        let (from, to) = (edge.from_id as usize, edge.to_id as usize);
        if from >= count || to >= count {
            continue;
        }
        svg.push_str(&format!(
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#555\" marker-end=\"url(#arrow)\"/>",
            x_of(from) + w / 2,
            y_of(from) + box_h(from),
            x_of(to) + w / 2,
            y_of(to)
        ));
    }
    for node in &execution.nodes {
        let id = node.id as usize;
        let (x, y) = (x_of(id), y_of(id));
        let tooltip: String = std::iter::once(node.desc.clone())
            .chain(
                execution
                    .metrics
                    .get(&node.id)
                    .into_iter()
                    .flatten()
                    .map(|m| format!("{}: {}", m.name, m.display())),
            )
            .collect::<Vec<_>>()
            .join("\n");
        svg.push_str(&format!(
            "<g class=\"node\"><title>{}</title><rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{}\" rx=\"4\" \
             fill=\"#c5dbf0\" stroke=\"#345\"/><text x=\"{}\" y=\"{}\" font-size=\"13\" font-weight=\"bold\">{} ({})</text>",
            escape_html(&tooltip),
            box_h(id),
            x + 8,
            y + 17,
            escape_html(&node.name),
            node.id,
        ));
        for (i, line) in lines[id].iter().enumerate() {
            svg.push_str(&format!(
                "<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"#333\">{}</text>",
                x + 8,
                y + 32 + i * line_h,
                escape_html(line)
            ));
        }
        svg.push_str("</g>");
    }
    svg.push_str("</svg>");
    svg
}

fn latest_attempt(state: &AppState, stage_id: u32) -> Option<&StageData> {
    state
        .stages
        .range((stage_id, 0)..=(stage_id, u32::MAX))
        .next_back()
        .map(|(_, s)| s)
}

/// The job's stages as boxes in columns by depth, parents to the left, with an arrow from
/// each parent to its child; skipped stages are grey and dashed, as in Spark's DAG view.
pub fn dag_svg(stages: &[&StageData]) -> String {
    let ids: Vec<u32> = stages.iter().map(|s| s.info.stage_id).collect();
    let mut depth: HashMap<u32, usize> = HashMap::new();
    // Parents have lower ids than their children; one pass in id order settles depths.
    let mut ordered = stages.to_vec();
    ordered.sort_by_key(|s| s.info.stage_id);
    for stage in &ordered {
        let d = stage
            .info
            .parent_ids
            .iter()
            .filter_map(|p| depth.get(p))
            .max()
            .map_or(0, |d| d + 1);
        depth.insert(stage.info.stage_id, d);
    }
    let (w, h, gap_x, gap_y) = (190, 56, 60, 24);
    let mut row_of_depth: HashMap<usize, usize> = HashMap::new();
    let mut position: HashMap<u32, (usize, usize)> = HashMap::new();
    for stage in &ordered {
        let d = depth[&stage.info.stage_id];
        let row = row_of_depth.entry(d).or_insert(0);
        position.insert(
            stage.info.stage_id,
            (10 + d * (w + gap_x), 10 + *row * (h + gap_y)),
        );
        *row += 1;
    }
    let width = 20 + (depth.values().max().copied().unwrap_or(0) + 1) * (w + gap_x);
    let height = 20 + row_of_depth.values().max().copied().unwrap_or(1) * (h + gap_y);
    let mut svg = format!(
        "<svg class=\"dag\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\">\
         <defs><marker id=\"arrow\" markerWidth=\"8\" markerHeight=\"8\" refX=\"8\" refY=\"4\" orient=\"auto\">\
         <path d=\"M0,0 L8,4 L0,8 z\" fill=\"#555\"/></marker></defs>"
    );
    for stage in &ordered {
        let (x, y) = position[&stage.info.stage_id];
        for parent in stage.info.parent_ids.iter().filter(|p| ids.contains(p)) {
            let (px, py) = position[parent];
            svg.push_str(&format!(
                "<line x1=\"{}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"#555\" marker-end=\"url(#arrow)\"/>",
                px + w,
                py + h / 2,
                y + h / 2
            ));
        }
    }
    for stage in &ordered {
        let (x, y) = position[&stage.info.stage_id];
        let skipped = stage.status == crate::StageStatus::Skipped;
        let (fill, dash) = if skipped {
            ("#eee", " stroke-dasharray=\"4\"")
        } else {
            ("#c5dbf0", "")
        };
        let (active, complete, _) = stage.task_counts();
        svg.push_str(&format!(
            "<g class=\"stage {status}\"><rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" rx=\"4\" \
             fill=\"{fill}\" stroke=\"#345\"{dash}/><text x=\"{tx}\" y=\"{}\" font-size=\"13\">Stage {}</text>\
             <text x=\"{tx}\" y=\"{}\" font-size=\"11\" fill=\"#333\">{} · {}/{} tasks{}</text></g>",
            y + 22,
            stage.info.stage_id,
            y + 42,
            stage.status.as_str().to_lowercase(),
            complete,
            stage.info.num_tasks,
            if active > 0 { format!(" ({active} running)") } else { String::new() },
            tx = x + 8,
            status = stage.status.as_str().to_lowercase(),
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// The application's pools when it schedules FAIR (`spark.scheduler.mode` in its
/// properties), with their settings from its allocation file where that can be read.
fn fair_pools(state: &AppState) -> Option<flint_driver::pool::Pools> {
    let property = |key: &str| {
        state
            .environment
            .spark_properties
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let mode = property("spark.scheduler.mode")?;
    if !mode.eq_ignore_ascii_case("FAIR") {
        return None;
    }
    let file = property("spark.scheduler.allocation.file");
    flint_driver::pool::Pools::new(mode, file)
        .or_else(|_| flint_driver::pool::Pools::new(mode, None))
        .ok()
}

/// Spark's "Fair Scheduler Pools" table: each pool declared or used, its settings, its
/// active stages and running tasks.
fn pools_table(state: &AppState, pools: &flint_driver::pool::Pools) -> String {
    let mut names: Vec<&str> = pools.declared.iter().map(|p| p.name.as_str()).collect();
    for stage in state.stages.values() {
        if !names.contains(&stage.pool.as_str()) {
            names.push(&stage.pool);
        }
    }
    let mut rows = String::new();
    for name in names {
        let config = pools.config(name);
        let active: Vec<&StageData> = state
            .stages
            .values()
            .filter(|s| s.pool == name && s.status == crate::StageStatus::Active)
            .collect();
        let running: usize = active.iter().map(|s| s.task_counts().0).sum();
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{running}</td><td>{}</td></tr>",
            escape_html(name),
            config.min_share,
            config.weight,
            active.len(),
            config.mode.name(),
        ));
    }
    table(
        &[
            "Pool Name",
            "Minimum Share",
            "Pool Weight",
            "Active Stages",
            "Running Tasks",
            "SchedulingMode",
        ],
        &rows,
    )
}

/// Stage attempts as Spark's stage table; with `kill_links`, active ones get a "(kill)" link.
fn stage_table(stages: &[&StageData], base: &str, show_pool: bool, kill_links: bool) -> String {
    let mut rows = String::new();
    for stage in stages {
        let pool = if show_pool {
            format!("<td>{}</td>", escape_html(&stage.pool))
        } else {
            String::new()
        };
        let (active, complete, _) = stage.task_counts();
        let m = stage.metrics();
        let duration = match (stage.info.submission_time, stage.info.completion_time) {
            (Some(start), Some(end)) => duration_text(end.saturating_sub(start)),
            (Some(start), None) => duration_text(flint_common::now_millis().saturating_sub(start)),
            _ => String::new(),
        };
        let failure = stage
            .info
            .failure_reason
            .as_ref()
            .map(|r| format!("<div class=\"error\">{}</div>", escape_html(r)))
            .unwrap_or_default();
        let kill = if kill_links && stage.status == crate::StageStatus::Active {
            kill_form(
                &format!("{base}/stages/stage/kill/?id={}", stage.info.stage_id),
                &format!(
                    "Are you sure you want to kill stage {} ?",
                    stage.info.stage_id
                ),
            )
        } else {
            String::new()
        };
        rows.push_str(&format!(
            "<tr class=\"{status_class}\"><td>{id}</td><td>{attempt}</td>{pool}\
             <td><a href=\"{base}/stages/stage/?id={id}&amp;attempt={attempt}\">{name}</a>{kill}</td>\
             <td>{submitted}</td><td>{duration}</td><td>{status}{failure}</td><td>{tasks}</td>\
             <td>{input}</td><td>{read}</td><td>{write}</td></tr>",
            status_class = stage.status.as_str().to_lowercase(),
            id = stage.info.stage_id,
            attempt = stage.info.attempt,
            name = escape_html(&stage.info.name),
            submitted = stage
                .info
                .submission_time
                .map(rest_date)
                .unwrap_or_default(),
            status = stage.status.as_str(),
            tasks = progress(complete, active, stage.info.num_tasks),
            input = bytes_text(m.input_bytes),
            read = bytes_text(m.shuffle_read_bytes),
            write = bytes_text(m.shuffle_write_bytes),
        ));
    }
    let mut headers = vec!["Stage Id", "Attempt"];
    if show_pool {
        headers.push("Pool Name");
    }
    headers.extend([
        "Description",
        "Submitted",
        "Duration",
        "Status",
        "Tasks: Succeeded/Total",
        "Input",
        "Shuffle Read",
        "Shuffle Write",
    ]);
    table(&headers, &rows)
}

/// The Stages tab: in FAIR mode Spark's pools table, then every stage attempt, newest first.
fn stages(state: &AppState, base: &str) -> String {
    let all: Vec<&StageData> = state.stages.values().rev().collect();
    match fair_pools(state) {
        Some(pools) => format!(
            "<h4>Fair Scheduler Pools ({})</h4>{}<h4>Stages</h4>{}",
            pools.declared.len(),
            pools_table(state, &pools),
            stage_table(&all, base, true, state.kill_links)
        ),
        None => stage_table(&all, base, false, state.kill_links),
    }
}

/// A summary-table row: its name, the figure of one task, and how to print it.
type SummaryRow = (&'static str, fn(&TaskData) -> u64, fn(u64) -> String);

/// One stage attempt: summary quantiles of its successful tasks and every task.
fn stage(state: &AppState, params: &HashMap<String, String>) -> String {
    let id = params.get("id").and_then(|id| id.parse::<u32>().ok());
    let attempt = params
        .get("attempt")
        .map(|a| a.parse::<u32>().ok())
        .unwrap_or(Some(0));
    let Some(stage) = id.zip(attempt).and_then(|key| state.stages.get(&key)) else {
        return "<p class=\"error\">No such stage attempt.</p>".into();
    };
    let succeeded: Vec<&TaskData> = stage
        .tasks
        .values()
        .filter(|t| t.status == crate::TaskStatus::Success)
        .collect();
    let metric_rows: [SummaryRow; 5] = [
        ("Duration", |t| t.duration(), duration_text),
        ("Input Size", |t| t.metrics.input_bytes, bytes_text),
        (
            "Shuffle Read Size",
            |t| t.metrics.shuffle_read_bytes,
            bytes_text,
        ),
        (
            "Shuffle Write Size",
            |t| t.metrics.shuffle_write_bytes,
            bytes_text,
        ),
        ("Spill (Disk)", |t| t.metrics.disk_bytes_spilled, bytes_text),
    ];
    let mut summary = String::new();
    for (name, figure, format) in metric_rows {
        let mut values: Vec<u64> = succeeded.iter().map(|t| figure(t)).collect();
        values.sort_unstable();
        let cells: String = [0.0, 0.25, 0.5, 0.75, 1.0]
            .iter()
            .map(|q| format!("<td>{}</td>", format(quantile(&values, *q))))
            .collect();
        summary.push_str(&format!("<tr><td>{name}</td>{cells}</tr>"));
    }
    let mut tasks = String::new();
    for task in stage.tasks.values() {
        let m = &task.metrics;
        tasks.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"error\">{}</td></tr>",
            task.info.index,
            task.info.task_id,
            task.info.attempt,
            if task.info.speculative { " (speculative)" } else { "" },
            task.info.locality.as_str(),
            escape_html(&task.info.executor_id),
            escape_html(&task.info.host),
            task.status.as_str(),
            rest_date(task.info.launch_time),
            duration_text(task.duration()),
            bytes_text(m.input_bytes),
            bytes_text(m.shuffle_read_bytes),
            bytes_text(m.shuffle_write_bytes),
            bytes_text(m.disk_bytes_spilled),
            escape_html(task.error.as_deref().unwrap_or("")),
        ));
    }
    format!(
        "<h3>Details for Stage {} (Attempt {})</h3><p>{} · {} · {} tasks</p>\
         <h4>Summary Metrics for {} Completed Tasks</h4>{}<h4>Tasks ({})</h4>{}",
        stage.info.stage_id,
        stage.info.attempt,
        escape_html(&stage.info.name),
        stage.status.as_str(),
        stage.info.num_tasks,
        succeeded.len(),
        table(
            &[
                "Metric",
                "Min",
                "25th percentile",
                "Median",
                "75th percentile",
                "Max"
            ],
            &summary
        ),
        stage.tasks.len(),
        table(
            &[
                "Index",
                "Task ID",
                "Attempt",
                "Locality Level",
                "Executor ID",
                "Host",
                "Status",
                "Launch Time",
                "Duration",
                "Input Size",
                "Shuffle Read",
                "Shuffle Write",
                "Spill (Disk)",
                "Errors",
            ],
            &tasks
        ),
    )
}

/// The Executors tab: every executor, removed ones too, with its tasks and logs.
fn executors(state: &AppState) -> String {
    let mut rows = String::new();
    for e in state.executors_in_order() {
        let logs: String = e
            .info
            .log_urls
            .iter()
            .map(|(kind, url)| format!("<a href=\"{}\">{kind}</a> ", escape_html(url)))
            .collect();
        let memory = format!(
            "{} / {}",
            bytes_text(e.memory_used),
            bytes_text(e.info.max_memory)
        );
        let status = match &e.remove_reason {
            None => "Active".to_string(),
            Some(reason) => format!("Dead<div class=\"error\">{}</div>", escape_html(reason)),
        };
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{status}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{logs}</td></tr>",
            escape_html(&e.id),
            escape_html(&e.info.host_port),
            memory,
            e.info.total_cores,
            e.active_tasks,
            e.failed_tasks,
            e.completed_tasks,
            duration_text(e.total_duration),
            bytes_text(e.input_bytes),
            bytes_text(e.shuffle_read),
            bytes_text(e.shuffle_write),
        ));
    }
    table(
        &[
            "Executor ID",
            "Address",
            "Status",
            "Memory Used",
            "Cores",
            "Active Tasks",
            "Failed Tasks",
            "Complete Tasks",
            "Task Time",
            "Input",
            "Shuffle Read",
            "Shuffle Write",
            "Logs",
        ],
        &rows,
    )
}

/// The Environment tab: the effective configuration, secrets redacted, and runtime facts.
/// Spark's Storage tab: every cached DataFrame, how much of it is stored and where.
fn storage(state: &AppState, base: &str) -> String {
    let rows: String = state
        .rdds
        .values()
        .map(|rdd| {
            let cached = rdd.blocks.len();
            let total = rdd.info.num_partitions.max(1);
            format!(
                "<tr><td>{id}</td><td><a href=\"{base}/storage/rdd/?id={id}\">{name}</a></td>\
                 <td>{level}</td><td>{cached}</td><td>{fraction:.0}%</td><td>{memory}</td><td>{disk}</td></tr>",
                id = rdd.info.id,
                name = escape_html(&rdd.info.name),
                level = escape_html(&rdd.info.storage_level.description()),
                fraction = 100.0 * cached as f64 / total as f64,
                memory = bytes_text(rdd.memory_used()),
                disk = bytes_text(rdd.disk_used()),
            )
        })
        .collect();
    if rows.is_empty() {
        return "<h3>RDDs</h3><p>Nothing is cached.</p>".into();
    }
    format!(
        "<h3>RDDs ({})</h3>{}",
        state.rdds.len(),
        table(
            &[
                "ID",
                "RDD Name",
                "Storage Level",
                "Cached Partitions",
                "Fraction Cached",
                "Size in Memory",
                "Size on Disk",
            ],
            &rows
        )
    )
}

/// Spark's RDD page: one cached DataFrame's blocks, by executor and by partition.
fn storage_rdd(state: &AppState, params: &HashMap<String, String>) -> String {
    let Some(rdd) = params
        .get("id")
        .and_then(|id| id.parse::<u32>().ok())
        .and_then(|id| state.rdds.get(&id))
    else {
        return "<p>No such cached RDD (it was unpersisted, or the id is wrong).</p>".into();
    };
    let mut by_executor: std::collections::BTreeMap<&str, (u64, u64)> = Default::default();
    for block in rdd.blocks.values() {
        let entry = by_executor.entry(block.host_port.as_str()).or_default();
        entry.0 += block.memory_size;
        entry.1 += block.disk_size;
    }
    let distribution: String = by_executor
        .iter()
        .map(|(address, (memory, disk))| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape_html(address),
                bytes_text(*memory),
                bytes_text(*disk)
            )
        })
        .collect();
    let partitions: String = rdd
        .blocks
        .values()
        .map(|block| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape_html(&block.block_id),
                escape_html(&rdd.info.storage_level.description()),
                bytes_text(block.memory_size),
                bytes_text(block.disk_size),
                escape_html(&block.executor_id)
            )
        })
        .collect();
    format!(
        "<h3>RDD Storage Info for {name}</h3><ul><li>Storage Level: {level}</li>\
         <li>Cached Partitions: {cached}</li><li>Total Partitions: {total}</li>\
         <li>Memory Size: {memory}</li><li>Disk Size: {disk}</li></ul>\
         <h4>Data Distribution on {executors} Executors</h4>{distribution}\
         <h4>{cached} Partitions</h4>{partitions}",
        name = escape_html(&rdd.info.name),
        level = escape_html(&rdd.info.storage_level.description()),
        cached = rdd.blocks.len(),
        total = rdd.info.num_partitions,
        memory = bytes_text(rdd.memory_used()),
        disk = bytes_text(rdd.disk_used()),
        executors = by_executor.len(),
        distribution = table(
            &["Host", "On Heap Memory Usage", "Disk Usage"],
            &distribution
        ),
        partitions = table(
            &[
                "Block Name",
                "Storage Level",
                "Size in Memory",
                "Size on Disk",
                "Executors"
            ],
            &partitions
        ),
    )
}

fn environment(state: &AppState) -> String {
    let rows = |pairs: &[(String, String)]| -> String {
        pairs
            .iter()
            .map(|(k, v)| {
                format!(
                    "<tr><td>{}</td><td>{}</td></tr>",
                    escape_html(k),
                    escape_html(v)
                )
            })
            .collect()
    };
    format!(
        "<h3>Spark Properties</h3>{}<h3>System Properties</h3>{}",
        table(
            &["Name", "Value"],
            &rows(&state.environment.spark_properties)
        ),
        table(
            &["Name", "Value"],
            &rows(&state.environment.system_properties)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query of two operators whose one stage ran two tasks, as the store hears it.
    /// Stage 0, attempt 0, of a `collect` with two tasks.
    fn collect_stage() -> flint_driver::StageInfo {
        flint_driver::StageInfo {
            stage_id: 0,
            attempt: 0,
            name: "collect".into(),
            num_tasks: 2,
            parent_ids: vec![],
            submission_time: None,
            completion_time: None,
            failure_reason: None,
            rdd_infos: vec![],
        }
    }

    fn state_with_a_query() -> AppState {
        use flint_driver::{
            SparkListener, SparkListenerEvent, SqlMetricUpdate, SqlPlanInfo, TaskEndReason,
            TaskInfo,
        };
        use flint_executor::SqlMetricType;
        let store = crate::AppStatusStore::new();
        let plan = SqlPlanInfo {
            node_name: "Aggregate".into(),
            simple_string: "AggregateExec: mode=Single".into(),
            children: vec![SqlPlanInfo {
                node_name: "DataSource".into(),
                simple_string: "DataSourceExec: file_groups={2 groups}".into(),
                children: vec![],
            }],
        };
        store.on_event(&SparkListenerEvent::SqlExecutionStart {
            execution_id: 0,
            description: "collect at SELECT <b>".into(),
            details: String::new(),
            physical_plan_description: plan.description(),
            plan,
            time: 1_000,
        });
        let stage = collect_stage();
        store.on_event(&SparkListenerEvent::JobStart {
            job_id: 0,
            time: 1_001,
            stage_infos: vec![stage],
            description: "collect".into(),
            sql_execution_id: Some(0),
            job_tags: vec![],
            pool: "default".into(),
        });
        for (task_id, rows, nanos) in [(0, 600, 2_000_000), (1, 400, 5_000_000)] {
            store.on_event(&SparkListenerEvent::TaskEnd {
                stage_id: 0,
                stage_attempt: 0,
                task_info: TaskInfo {
                    task_id,
                    index: task_id as u32,
                    attempt: 0,
                    launch_time: 1_002,
                    finish_time: 1_010,
                    executor_id: "driver".into(),
                    host: "localhost".into(),
                    speculative: false,
                    locality: flint_driver::TaskLocality::ProcessLocal,
                },
                reason: TaskEndReason::Success,
                metrics: Default::default(),
                sql_metrics: vec![
                    SqlMetricUpdate {
                        node_id: 1,
                        name: "number of output rows".into(),
                        metric_type: SqlMetricType::Sum,
                        value: rows,
                    },
                    SqlMetricUpdate {
                        node_id: 1,
                        name: "elapsed compute".into(),
                        metric_type: SqlMetricType::NsTiming,
                        value: nanos,
                    },
                ],
            });
        }
        store.on_event(&SparkListenerEvent::SqlExecutionEnd {
            execution_id: 0,
            time: 1_020,
            error_message: None,
        });
        store.snapshot().as_ref().clone()
    }

    #[test]
    fn the_sql_tab_shows_each_query_with_its_operators_metrics() {
        let state = state_with_a_query();
        let execution = &state.sql_executions[&0];
        assert_eq!(execution.status(&state.jobs).as_str(), "COMPLETED");
        assert_eq!(execution.job_ids.iter().copied().collect::<Vec<_>>(), [0]);
        let metrics = &execution.metrics[&1];
        assert_eq!(metrics[0].display(), "1,000");
        assert_eq!(
            metrics[1].display(),
            "total (min, med, max (stageId: taskId))\n7 ms (2 ms, 5 ms, 5 ms (stage 0.0: task 1))"
        );
        let params = HashMap::new();
        let list = render(&state, "", "SQL/", &params).unwrap();
        assert!(list.contains("href=\"/SQL/execution/?id=0\""), "{list}");
        assert!(list.contains("collect at SELECT &lt;b&gt;"), "{list}");
        let params = HashMap::from([("id".to_string(), "0".to_string())]);
        let page = render(&state, "", "SQL/execution/", &params).unwrap();
        assert!(
            page.contains("Aggregate (0)") && page.contains("DataSource (1)"),
            "{page}"
        );
        assert!(page.contains("number of output rows: 1,000"), "{page}");
        assert!(page.contains("href=\"/jobs/job/?id=0\""), "{page}");
        let missing = HashMap::from([("id".to_string(), "9".to_string())]);
        let page = render(&state, "", "SQL/execution/", &missing).unwrap();
        assert!(page.contains("No such query"));
    }

    #[test]
    fn the_stages_tab_shows_fair_pools_with_their_settings() {
        use flint_driver::{SparkListener, SparkListenerEvent};
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("fairscheduler.xml");
        std::fs::write(
            &file,
            "<allocations><pool name=\"heavy\"><weight>3</weight><minShare>2</minShare>\
             <schedulingMode>FAIR</schedulingMode></pool></allocations>",
        )
        .unwrap();
        let store = crate::AppStatusStore::new();
        store.on_event(&SparkListenerEvent::EnvironmentUpdate {
            spark_properties: vec![
                ("spark.scheduler.mode".into(), "FAIR".into()),
                (
                    "spark.scheduler.allocation.file".into(),
                    file.display().to_string(),
                ),
            ],
            system_properties: vec![],
        });
        let stage = collect_stage();
        store.on_event(&SparkListenerEvent::JobStart {
            job_id: 0,
            time: 1,
            stage_infos: vec![stage.clone()],
            description: "collect".into(),
            sql_execution_id: None,
            job_tags: vec![],
            pool: "heavy".into(),
        });
        store.on_event(&SparkListenerEvent::StageSubmitted { stage_info: stage });
        let state = store.snapshot();
        let page = render(&state, "", "stages/", &HashMap::new()).unwrap();
        assert!(page.contains("Fair Scheduler Pools (2)"), "{page}");
        assert!(
            page.contains(
                "<tr><td>heavy</td><td>2</td><td>3</td><td>1</td><td>0</td><td>FAIR</td></tr>"
            ),
            "{page}"
        );
        assert!(page.contains("<th>Pool Name</th>"), "{page}");
        assert!(
            page.contains("<td>0</td><td>0</td><td>heavy</td>"),
            "{page}"
        );
    }

    #[test]
    fn the_jobs_tab_draws_executors_and_overlapping_jobs_on_a_timeline() {
        use flint_driver::{ExecutorInfo, JobResult, SparkListener, SparkListenerEvent};
        let store = crate::AppStatusStore::new();
        for id in ["driver", "1"] {
            store.on_event(&SparkListenerEvent::ExecutorAdded {
                executor_id: id.into(),
                time: 1_000,
                info: ExecutorInfo {
                    host: "h".into(),
                    host_port: "h:1".into(),
                    total_cores: 2,
                    max_memory: 1 << 30,
                    log_urls: Default::default(),
                },
            });
        }
        store.on_event(&SparkListenerEvent::ExecutorRemoved {
            executor_id: "1".into(),
            time: 1_500,
            reason: "worker lost".into(),
        });
        for (job_id, time) in [(0, 1_100), (1, 1_200)] {
            store.on_event(&SparkListenerEvent::JobStart {
                job_id,
                time,
                stage_infos: vec![collect_stage()],
                description: format!("collect {job_id}"),
                sql_execution_id: None,
                job_tags: vec![],
                pool: "default".into(),
            });
        }
        store.on_event(&SparkListenerEvent::JobEnd {
            job_id: 0,
            time: 1_300,
            result: JobResult::Succeeded,
        });
        let state = store.snapshot();
        let timeline = event_timeline(&state, "", 2_000);
        assert_eq!(timeline.matches("class=\"executor-added\"").count(), 2);
        assert!(timeline.contains("Executor 1 removed at"), "{timeline}");
        assert!(timeline.contains("worker lost"), "{timeline}");
        // Job 1 started before job 0 ended: a second row.
        assert!(
            timeline.contains("Job 0 (collect 0) SUCCEEDED, 200 ms"),
            "{timeline}"
        );
        assert!(timeline.contains("Job 1 (collect 1) RUNNING"), "{timeline}");
        assert!(
            timeline.contains("y=\"48\"") && timeline.contains("y=\"66\""),
            "{timeline}"
        );
        let page = render(&state, "", "jobs/", &HashMap::new()).unwrap();
        assert!(page.contains("Event Timeline"));
        assert!(!page.contains("/kill/"), "a history page has no kill links");
        // A live UI with spark.ui.killEnabled: only the running job gets one.
        store.show_kill_links();
        let page = render(&store.snapshot(), "", "jobs/", &HashMap::new()).unwrap();
        assert!(page.contains("action=\"/jobs/job/kill/?id=1\""), "{page}");
        assert!(!page.contains("/jobs/job/kill/?id=0"), "{page}");
    }

    #[test]
    fn unknown_pages_are_none_and_bad_ids_say_so() {
        let state = AppState::default();
        let params = HashMap::new();
        assert!(render(&state, "", "nope/", &params).is_none());
        let page = render(&state, "", "/stages/stage/", &params).unwrap();
        assert!(page.contains("No such stage attempt"));
        let page = render(&state, "/history/x", "jobs/", &params).unwrap();
        assert!(page.contains("href=\"/history/x/stages/\""));
    }
}

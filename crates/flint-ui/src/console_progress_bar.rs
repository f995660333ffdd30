use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flint_driver::{SparkListener, SparkListenerEvent, TaskEndReason};

/// Stages shown only after running this long, as Spark's `ConsoleProgressBar` does.
const FIRST_DELAY: Duration = Duration::from_millis(500);
/// Redraw interval.
const UPDATE_PERIOD: Duration = Duration::from_millis(200);

#[derive(Debug, Clone)]
pub(crate) struct StageProgress {
    num_tasks: usize,
    active: usize,
    completed: usize,
    submitted: Instant,
}

#[derive(Debug, Default)]
struct State {
    stages: BTreeMap<(u32, u32), StageProgress>,
    last_line: String,
}

/// Draws `[Stage 3:=====>        (12 + 2) / 200]` on stderr while stages run (Spark's
/// `ConsoleProgressBar`); only used when stderr is a terminal.
#[derive(Debug, Clone)]
pub struct ConsoleProgressBar {
    state: Arc<Mutex<State>>,
}

impl ConsoleProgressBar {
    /// Starts the redraw thread; the bar stops drawing when the returned value and the listener bus drop it.
    pub fn start() -> Self {
        let state: Arc<Mutex<State>> = Arc::default();
        let weak = Arc::downgrade(&state);
        let _ = std::thread::Builder::new()
            .name("console-progress-bar".into())
            .spawn(move || {
                while let Some(state) = weak.upgrade() {
                    refresh(&state);
                    drop(state);
                    std::thread::sleep(UPDATE_PERIOD);
                }
            });
        Self { state }
    }
}

/// Renders one line for the given stages within `width` columns, exactly as Spark lays it out.
pub(crate) fn render(stages: &[(u32, &StageProgress)], width: usize) -> String {
    let per_stage = width / stages.len().max(1);
    stages
        .iter()
        .map(|(stage_id, s)| {
            let header = format!("[Stage {stage_id}:");
            let tailer = format!("({} + {}) / {}]", s.completed, s.active, s.num_tasks);
            let w = per_stage.saturating_sub(header.len() + tailer.len());
            let bar: String = if w > 0 {
                let percent = w * s.completed / s.num_tasks.max(1);
                (0..w)
                    .map(|i| {
                        if i < percent {
                            '='
                        } else if i == percent {
                            '>'
                        } else {
                            ' '
                        }
                    })
                    .collect()
            } else {
                String::new()
            };
            format!("{header}{bar}{tailer}")
        })
        .collect()
}

fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|w| *w > 0)
        .unwrap_or(80)
}

fn refresh(state: &Mutex<State>) {
    let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    let shown: Vec<(u32, &StageProgress)> = state
        .stages
        .iter()
        .filter(|(_, s)| now.duration_since(s.submitted) >= FIRST_DELAY)
        .take(3)
        .map(|((id, _), s)| (*id, s))
        .collect();
    let line = if shown.is_empty() {
        String::new()
    } else {
        render(&shown, terminal_width())
    };
    if line != state.last_line {
        let mut stderr = std::io::stderr().lock();
        if line.is_empty() {
            let _ = write!(stderr, "\r{}\r", " ".repeat(state.last_line.len()));
        } else {
            let _ = write!(stderr, "\r{line}");
        }
        let _ = stderr.flush();
        state.last_line = line;
    }
}

impl SparkListener for ConsoleProgressBar {
    fn on_event(&self, event: &SparkListenerEvent) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            SparkListenerEvent::StageSubmitted { stage_info } => {
                state.stages.insert(
                    (stage_info.stage_id, stage_info.attempt),
                    StageProgress {
                        num_tasks: stage_info.num_tasks,
                        active: 0,
                        completed: 0,
                        submitted: Instant::now(),
                    },
                );
            }
            SparkListenerEvent::StageCompleted { stage_info } => {
                state
                    .stages
                    .remove(&(stage_info.stage_id, stage_info.attempt));
            }
            SparkListenerEvent::TaskStart {
                stage_id,
                stage_attempt,
                ..
            } => {
                if let Some(stage) = state.stages.get_mut(&(*stage_id, *stage_attempt)) {
                    stage.active += 1;
                }
            }
            SparkListenerEvent::TaskEnd {
                stage_id,
                stage_attempt,
                reason,
                ..
            } => {
                if let Some(stage) = state.stages.get_mut(&(*stage_id, *stage_attempt)) {
                    stage.active = stage.active.saturating_sub(1);
                    if *reason == TaskEndReason::Success {
                        stage.completed += 1;
                    }
                }
            }
            SparkListenerEvent::JobEnd { .. } | SparkListenerEvent::ApplicationEnd { .. } => {
                drop(state);
                refresh(&self.state);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_spark() {
        let stage = StageProgress {
            num_tasks: 200,
            active: 2,
            completed: 12,
            submitted: Instant::now(),
        };
        let line = render(&[(3, &stage)], 40);
        assert_eq!(line, format!("[Stage 3:>{}(12 + 2) / 200]", " ".repeat(15)));
        assert_eq!(line.len(), 40);
        let done = StageProgress {
            num_tasks: 2,
            active: 0,
            completed: 1,
            submitted: Instant::now(),
        };
        assert_eq!(render(&[(0, &done)], 30), "[Stage 0:====>    (1 + 0) / 2]");
    }
}

//! Executor placement (Spark's `Master.scheduleExecutorsOnWorkers` and
//! `allocateWorkerResourceToExecutors`): how many cores of which workers an application gets,
//! and, when it gets none, what is short.

use flint_conf::format_size;

/// What one alive worker has free.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreeResources {
    /// The worker's id.
    pub worker_id: String,
    /// Cores not given to executors.
    pub cores_free: u32,
    /// Memory not given to executors, MiB.
    pub memory_free_mib: u64,
}

/// What an application still wants (from `spark.cores.max`, `spark.executor.cores`,
/// `spark.executor.memory`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecutorRequest {
    /// Cores the application may still be given (`spark.cores.max` minus cores granted).
    pub cores_left: u32,
    /// `spark.executor.cores` when set; unset means one executor per worker with all the
    /// cores it can get there, as in Spark.
    pub cores_per_executor: Option<u32>,
    /// `spark.executor.memory` in MiB.
    pub memory_per_executor_mib: u64,
    /// New executors the application may still get (Spark's `executorLimit` minus the
    /// executors it has; `u32::MAX` without a limit). Dynamic allocation sets the limit.
    pub executors_left: u32,
}

/// One executor to launch: on which worker, with how many cores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutorPlacement {
    /// The worker that launches it.
    pub worker_id: String,
    /// Its task slots.
    pub cores: u32,
}

/// Places executors for one application on `workers` (all alive).
///
/// Workers that cannot fit one executor are skipped; the rest are taken in order of free
/// cores, most first. Cores go out one executor's worth at a time (`spark.executor.cores`,
/// or 1 when unset, SPARK-8881). With `spread_out` (`spark.deploy.spreadOut`, default true)
/// each pass gives each worker one unit, so executors spread over as many workers as
/// possible; without it each worker is filled before the next.
pub fn place_executors(
    request: &ExecutorRequest,
    workers: &[FreeResources],
    spread_out: bool,
) -> Vec<ExecutorPlacement> {
    let unit = request.cores_per_executor.unwrap_or(1).max(1);
    let one_executor_per_worker = request.cores_per_executor.is_none();
    let memory = request.memory_per_executor_mib;
    let mut usable: Vec<&FreeResources> = workers
        .iter()
        .filter(|w| w.memory_free_mib >= memory && w.cores_free >= unit)
        .collect();
    usable.sort_by_key(|w| std::cmp::Reverse(w.cores_free));
    let mut assigned_cores = vec![0u32; usable.len()];
    let mut assigned_executors = vec![0u64; usable.len()];
    let mut cores_to_assign = request
        .cores_left
        .min(usable.iter().map(|w| w.cores_free).sum());

    let can_launch = |pos: usize, cores_to_assign: u32, cores: &[u32], executors: &[u64]| {
        let keep_scheduling = cores_to_assign >= unit;
        let enough_cores = usable[pos].cores_free - cores[pos] >= unit;
        let launching_new_executor = !one_executor_per_worker || executors[pos] == 0;
        if launching_new_executor {
            let enough_memory = usable[pos].memory_free_mib - executors[pos] * memory >= memory;
            let under_limit = executors.iter().sum::<u64>() < u64::from(request.executors_left);
            keep_scheduling && enough_cores && enough_memory && under_limit
        } else {
            keep_scheduling && enough_cores
        }
    };

    let mut free: Vec<usize> = (0..usable.len())
        .filter(|&pos| can_launch(pos, cores_to_assign, &assigned_cores, &assigned_executors))
        .collect();
    while !free.is_empty() {
        for &pos in &free {
            while can_launch(pos, cores_to_assign, &assigned_cores, &assigned_executors) {
                cores_to_assign -= unit;
                assigned_cores[pos] += unit;
                if one_executor_per_worker {
                    assigned_executors[pos] = 1;
                } else {
                    assigned_executors[pos] += 1;
                }
                if spread_out {
                    break;
                }
            }
        }
        free.retain(|&pos| can_launch(pos, cores_to_assign, &assigned_cores, &assigned_executors));
    }

    let mut placements = vec![];
    for (pos, worker) in usable.iter().enumerate() {
        let cores = assigned_cores[pos];
        if cores == 0 {
            continue;
        }
        let (count, each) = match request.cores_per_executor {
            Some(per_executor) => (cores / per_executor, per_executor),
            None => (1, cores),
        };
        for _ in 0..count {
            placements.push(ExecutorPlacement {
                worker_id: worker.worker_id.clone(),
                cores: each,
            });
        }
    }
    placements
}

/// Says which resource keeps an application from getting an executor, for the line the
/// driver prints beside Spark's "Initial job has not accepted any resources".
pub fn explain_shortage(request: &ExecutorRequest, workers: &[FreeResources]) -> String {
    let unit = request.cores_per_executor.unwrap_or(1).max(1);
    let memory = request.memory_per_executor_mib;
    let needs = format!(
        "needs {unit} core{} and {} per executor",
        if unit == 1 { "" } else { "s" },
        format_size(memory << 20)
    );
    if workers.is_empty() {
        return format!("{needs}; 0 workers alive");
    }
    if request.cores_left < unit {
        return format!(
            "{needs}; the application may use only {} more core{} (spark.cores.max)",
            request.cores_left,
            if request.cores_left == 1 { "" } else { "s" }
        );
    }
    let alive = workers.len();
    let most_memory = workers.iter().map(|w| w.memory_free_mib).max().unwrap_or(0);
    let most_cores = workers.iter().map(|w| w.cores_free).max().unwrap_or(0);
    let fitting_memory = workers
        .iter()
        .filter(|w| w.memory_free_mib >= memory)
        .count();
    let fitting_cores = workers.iter().filter(|w| w.cores_free >= unit).count();
    let workers_text = format!("{alive} worker{} alive", if alive == 1 { "" } else { "s" });
    if fitting_memory == 0 {
        format!(
            "{needs}; {workers_text}, the largest free worker has {}",
            format_size(most_memory << 20)
        )
    } else if fitting_cores == 0 {
        format!("{needs}; {workers_text}, the most free cores on one worker is {most_cores}")
    } else {
        format!(
            "{needs}; {workers_text}, but none has both free (other applications hold them; standalone is FIFO)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workers(spec: &[(u32, u64)]) -> Vec<FreeResources> {
        spec.iter()
            .enumerate()
            .map(|(i, &(cores, memory))| FreeResources {
                worker_id: format!("w{i}"),
                cores_free: cores,
                memory_free_mib: memory,
            })
            .collect()
    }

    fn check(
        cores_left: u32,
        cores_per_executor: Option<u32>,
        memory: u64,
        spec: &[(u32, u64)],
        spread_out: bool,
        expected: &[(&str, u32)],
    ) {
        let request = ExecutorRequest {
            cores_left,
            cores_per_executor,
            memory_per_executor_mib: memory,
            executors_left: u32::MAX,
        };
        let placed = place_executors(&request, &workers(spec), spread_out);
        let got: Vec<(&str, u32)> = placed
            .iter()
            .map(|p| (p.worker_id.as_str(), p.cores))
            .collect();
        assert_eq!(
            got, expected,
            "request {request:?} on {spec:?}, spread_out {spread_out}"
        );
    }

    #[test]
    fn spark_example_whole_executors_not_single_cores() {
        // Spark's comment: 4 workers x 16 cores, spark.cores.max=48, spark.executor.cores=16
        // gives 3 executors of 16 cores, not 12 cores on each worker.
        let four = [(16, 64 << 10); 4];
        check(
            48,
            Some(16),
            1024,
            &four,
            true,
            &[("w0", 16), ("w1", 16), ("w2", 16)],
        );
    }

    #[test]
    fn spread_out_versus_consolidate() {
        let three = [(4, 8192), (4, 8192), (4, 8192)];
        // Without spark.executor.cores: one executor per worker holding what it gets.
        check(
            6,
            None,
            1024,
            &three,
            true,
            &[("w0", 2), ("w1", 2), ("w2", 2)],
        );
        check(6, None, 1024, &three, false, &[("w0", 4), ("w1", 2)]);
        // With spark.executor.cores=1: several executors per worker.
        check(
            3,
            Some(1),
            1024,
            &three,
            false,
            &[("w0", 1), ("w0", 1), ("w0", 1)],
        );
        check(
            3,
            Some(1),
            1024,
            &three,
            true,
            &[("w0", 1), ("w1", 1), ("w2", 1)],
        );
    }

    #[test]
    fn memory_limits_executors_per_worker() {
        // 3 GiB free fits two 1.5 GiB executors even though 8 cores are free.
        check(
            8,
            Some(1),
            1536,
            &[(8, 3072)],
            true,
            &[("w0", 1), ("w0", 1)],
        );
        // One executor per worker grows in cores without needing more memory.
        check(8, None, 1536, &[(8, 3072)], true, &[("w0", 8)]);
    }

    /// Dynamic allocation's executor limit caps new executors, not cores: one executor per
    /// worker still takes every core it can get there.
    #[test]
    fn the_executor_limit_caps_new_executors() {
        let three = [(4, 8192), (4, 8192), (4, 8192)];
        let placed = |executors_left, cores_per_executor| {
            let request = ExecutorRequest {
                cores_left: u32::MAX,
                cores_per_executor,
                memory_per_executor_mib: 1024,
                executors_left,
            };
            place_executors(&request, &workers(&three), true)
                .into_iter()
                .map(|p| (p.worker_id, p.cores))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            placed(2, Some(1)),
            [("w0".to_string(), 1), ("w1".to_string(), 1)]
        );
        assert_eq!(
            placed(2, None),
            [("w0".to_string(), 4), ("w1".to_string(), 4)]
        );
        assert!(placed(0, Some(1)).is_empty());
    }

    #[test]
    fn workers_that_cannot_fit_one_executor_are_skipped() {
        check(4, None, 2048, &[(4, 1024), (2, 4096)], true, &[("w1", 2)]);
        check(4, Some(4), 512, &[(2, 4096), (3, 4096)], true, &[]);
        check(0, None, 512, &[(2, 4096)], true, &[]);
        // Most free cores first.
        check(1, None, 512, &[(1, 4096), (3, 4096)], true, &[("w1", 1)]);
    }

    #[test]
    fn shortage_names_the_missing_resource() {
        let request = ExecutorRequest {
            cores_left: u32::MAX,
            cores_per_executor: None,
            memory_per_executor_mib: 500,
            executors_left: u32::MAX,
        };
        assert_eq!(
            explain_shortage(&request, &[]),
            "needs 1 core and 500.0 MiB per executor; 0 workers alive"
        );
        assert_eq!(
            explain_shortage(&request, &workers(&[(2, 256)])),
            "needs 1 core and 500.0 MiB per executor; 1 worker alive, the largest free worker has 256.0 MiB"
        );
        let four_cores = ExecutorRequest {
            cores_per_executor: Some(4),
            ..request
        };
        assert_eq!(
            explain_shortage(&four_cores, &workers(&[(2, 4096), (1, 4096)])),
            "needs 4 cores and 500.0 MiB per executor; 2 workers alive, the most free cores on one worker is 2"
        );
        assert!(
            explain_shortage(&request, &workers(&[(0, 4096), (2, 100)]))
                .contains("none has both free")
        );
    }
}

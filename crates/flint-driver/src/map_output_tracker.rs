use std::collections::HashMap;
use std::sync::Mutex;

use flint_shuffle::MapStatus;

/// Where every map output of every shuffle lives (Spark's `MapOutputTrackerMaster`), and the
/// executor-failure epoch that keeps outputs of lost executors from coming back.
///
/// Every time an executor's outputs are removed (it was lost, or a fetch from it failed) the
/// epoch moves on and the executor is marked as failed at the epoch before. A map task
/// launched at or before that epoch on that executor may have finished before the loss was
/// noticed and reported after it: its output is ignored (Spark's `failedEpoch` check in
/// `DAGScheduler.handleTaskCompletion`). Tasks launched later on the same executor (one that
/// only failed a fetch and is still alive) count again.
#[derive(Debug, Default)]
pub struct MapOutputTracker {
    state: Mutex<TrackerState>,
}

#[derive(Debug, Default)]
struct TrackerState {
    shuffles: HashMap<u32, Vec<Option<MapStatus>>>,
    epoch: u64,
    /// The epoch at which each executor's outputs were last removed.
    failed_epoch: HashMap<String, u64>,
}

impl MapOutputTracker {
    /// Registers a shuffle with `num_maps` map outputs, keeping outputs already known; known
    /// outputs of a different number of maps belong to another split of the data and are
    /// dropped, never read as this one's.
    pub fn register_shuffle(&self, shuffle_id: u32, num_maps: usize) {
        let mut state = self.lock();
        let outputs = state
            .shuffles
            .entry(shuffle_id)
            .or_insert_with(|| vec![None; num_maps]);
        if outputs.len() != num_maps {
            tracing::warn!(
                "Shuffle {shuffle_id} had {} map outputs and now has {num_maps}; its outputs are computed again",
                outputs.len()
            );
            *outputs = vec![None; num_maps];
        }
    }

    /// The current executor-failure epoch; a task records it when it launches.
    pub fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// Records one map task's output, launched at `task_epoch`; returns false (and records
    /// nothing) when its executor was lost at or after that epoch, so its files are gone, or
    /// when the shuffle has no such map partition.
    pub fn register_map_output(&self, shuffle_id: u32, status: MapStatus, task_epoch: u64) -> bool {
        let mut state = self.lock();
        if state
            .failed_epoch
            .get(&status.executor_id)
            .is_some_and(|failed| task_epoch <= *failed)
        {
            return false;
        }
        let index = status.map_index as usize;
        match state
            .shuffles
            .get_mut(&shuffle_id)
            .and_then(|outputs| outputs.get_mut(index))
        {
            Some(slot) => {
                *slot = Some(status);
                true
            }
            None => false,
        }
    }

    /// Forgets one map output (its block could not be fetched).
    pub fn unregister_map_output(&self, shuffle_id: u32, map_index: u32) {
        if let Some(slot) = self
            .lock()
            .shuffles
            .get_mut(&shuffle_id)
            .and_then(|o| o.get_mut(map_index as usize))
        {
            *slot = None;
        }
    }

    /// Forgets the cached block stored as map output `map_id` of `shuffle_id` (its executor
    /// dropped it from memory); returns its map index, or `None` when no output has that id.
    pub fn unregister_map_id(&self, shuffle_id: u32, map_id: u64) -> Option<u32> {
        let mut state = self.lock();
        let slot = state
            .shuffles
            .get_mut(&shuffle_id)?
            .iter_mut()
            .find(|slot| slot.as_ref().is_some_and(|s| s.map_id == map_id))?;
        slot.take().map(|status| status.map_index)
    }

    /// Whether map output `map_index` of `shuffle_id` is a cached block kept in its
    /// executor's memory; `None` when it is not registered.
    pub fn in_memory(&self, shuffle_id: u32, map_index: u32) -> Option<bool> {
        self.lock()
            .shuffles
            .get(&shuffle_id)?
            .get(map_index as usize)?
            .as_ref()
            .map(|status| status.in_memory)
    }

    /// The map index of output `map_id` of `shuffle_id`, if it is registered.
    pub fn map_index_of(&self, shuffle_id: u32, map_id: u64) -> Option<u32> {
        self.lock()
            .shuffles
            .get(&shuffle_id)?
            .iter()
            .flatten()
            .find(|status| status.map_id == map_id)
            .map(|status| status.map_index)
    }

    /// Forgets the outputs of a gone executor that its worker's shuffle service at
    /// `service_port` does not serve: cached blocks in its memory, and on its disk unless
    /// the service serves those too; returns how many.
    pub fn remove_outputs_not_at_service(&self, executor_id: &str, service_port: u16) -> usize {
        let mut state = self.lock();
        let mut removed = 0;
        for outputs in state.shuffles.values_mut() {
            for slot in outputs.iter_mut() {
                if slot.as_ref().is_some_and(|s| {
                    s.executor_id == executor_id && (s.in_memory || s.port != service_port)
                }) {
                    *slot = None;
                    removed += 1;
                }
            }
        }
        removed
    }

    /// Forgets every map output an executor wrote (it is gone, or a fetch from it failed, and
    /// nobody serves its files), marks the executor failed at the current epoch and moves the
    /// epoch on (Spark's `removeExecutorAndUnregisterOutputs`); returns how many were removed.
    /// `seen_at` is the epoch the failure was seen at (a failed fetch's task epoch; `None`:
    /// now): a failure already handled at that epoch or later is not handled again, so a late
    /// fetch failure does not throw away outputs rewritten since on an executor that lives.
    pub fn remove_outputs_on_executor(&self, executor_id: &str, seen_at: Option<u64>) -> usize {
        let mut state = self.lock();
        let epoch = state.epoch;
        let seen_at = seen_at.unwrap_or(epoch);
        if state
            .failed_epoch
            .get(executor_id)
            .is_some_and(|failed| *failed >= seen_at)
        {
            return 0;
        }
        let mut removed = 0;
        for outputs in state.shuffles.values_mut() {
            for slot in outputs.iter_mut() {
                if slot.as_ref().is_some_and(|s| s.executor_id == executor_id) {
                    *slot = None;
                    removed += 1;
                }
            }
        }
        state.failed_epoch.insert(executor_id.to_string(), epoch);
        state.epoch += 1;
        drop(state);
        tracing::info!(
            executor_id,
            "Shuffle files lost for executor: {executor_id} (epoch {epoch}); removed {removed} map outputs"
        );
        removed
    }

    /// Forgets every map output served from `host:port`, a worker's shuffle service that
    /// was lost with its worker, whichever executors wrote them; marks those executors failed
    /// at the current epoch and moves the epoch on; returns how many were removed.
    pub fn remove_outputs_at(&self, host: &str, port: u16) -> usize {
        let mut state = self.lock();
        let epoch = state.epoch;
        let mut removed = 0;
        let mut writers = std::collections::BTreeSet::new();
        for outputs in state.shuffles.values_mut() {
            for slot in outputs.iter_mut() {
                if let Some(status) = slot.as_ref()
                    && status.host == host
                    && status.port == port
                {
                    writers.insert(status.executor_id.clone());
                    *slot = None;
                    removed += 1;
                }
            }
        }
        for executor_id in writers {
            state.failed_epoch.insert(executor_id, epoch);
        }
        state.epoch += 1;
        drop(state);
        tracing::info!(
            "Shuffle files lost for the shuffle service at {host}:{port} (epoch {epoch}); removed {removed} map outputs"
        );
        removed
    }

    /// Executors that wrote a registered map output.
    pub fn executors_with_outputs(&self) -> std::collections::HashSet<String> {
        self.lock()
            .shuffles
            .values()
            .flatten()
            .flatten()
            .map(|status| status.executor_id.clone())
            .collect()
    }

    /// Forgets a shuffle (an unpersisted cache) and every output of it.
    pub fn unregister_shuffle(&self, shuffle_id: u32) {
        self.lock().shuffles.remove(&shuffle_id);
    }

    /// Map indexes whose output is missing.
    pub fn missing_partitions(&self, shuffle_id: u32) -> Vec<u32> {
        match self.lock().shuffles.get(&shuffle_id) {
            Some(outputs) => outputs
                .iter()
                .enumerate()
                .filter(|(_, s)| s.is_none())
                .map(|(i, _)| i as u32)
                .collect(),
            None => vec![],
        }
    }

    /// True when every map output of the shuffle is known.
    pub fn is_available(&self, shuffle_id: u32) -> bool {
        self.lock()
            .shuffles
            .get(&shuffle_id)
            .is_some_and(|outputs| outputs.iter().all(Option::is_some))
    }

    /// Every map output of an available shuffle.
    pub fn statuses(&self, shuffle_id: u32) -> Option<Vec<MapStatus>> {
        self.lock()
            .shuffles
            .get(&shuffle_id)?
            .iter()
            .cloned()
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TrackerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A map output of `map_index` written by `executor_id`, for tests.
#[cfg(test)]
pub(crate) fn test_status(map_index: u32, executor_id: &str) -> MapStatus {
    MapStatus {
        map_index,
        map_id: u64::from(map_index),
        executor_id: executor_id.into(),
        host: "127.0.0.1".into(),
        port: 0,
        data_path: String::new(),
        index_path: String::new(),
        partition_lengths: vec![0],
        records_written: 0,
        in_memory: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use test_status as status;

    /// An output that finished on an executor before its loss was noticed, but is reported
    /// after it, is not registered; one launched after the loss on a live executor is.
    #[test]
    fn outputs_of_lost_executors_do_not_come_back() {
        let tracker = MapOutputTracker::default();
        tracker.register_shuffle(0, 3);
        let launched = tracker.epoch();
        assert!(tracker.register_map_output(0, status(0, "0"), launched));
        assert!(tracker.register_map_output(0, status(1, "1"), launched));
        assert_eq!(tracker.remove_outputs_on_executor("0", None), 1);
        assert_eq!(tracker.missing_partitions(0), [0, 2]);
        // Launched before the loss, reported after it.
        assert!(!tracker.register_map_output(0, status(2, "0"), launched));
        assert_eq!(tracker.missing_partitions(0), [0, 2]);
        // Other executors are not affected.
        assert!(tracker.register_map_output(0, status(2, "1"), launched));
        // A fetch failure on an executor that lives on: later tasks on it count again.
        let relaunched = tracker.epoch();
        assert!(relaunched > launched);
        assert!(tracker.register_map_output(0, status(0, "0"), relaunched));
        assert!(tracker.is_available(0));
        // A late fetch failure from a task launched before the loss changes nothing.
        assert_eq!(tracker.remove_outputs_on_executor("0", Some(launched)), 0);
        assert!(tracker.is_available(0));
        assert_eq!(tracker.remove_outputs_on_executor("1", None), 2);
        assert_eq!(tracker.missing_partitions(0), [1, 2]);
        assert!(tracker.statuses(0).is_none());
    }

    /// An executor gone while its worker's shuffle service lives loses what it served
    /// itself (cached blocks in its memory or on its disk), not what the service serves; a
    /// dropped cached block is forgotten by its attempt id.
    #[test]
    fn a_gone_executor_loses_only_what_the_service_does_not_serve() {
        let tracker = MapOutputTracker::default();
        tracker.register_shuffle(0, 4);
        let launched = tracker.epoch();
        let at = |map_index: u32, port: u16, in_memory: bool| MapStatus {
            port,
            in_memory,
            ..status(map_index, "3")
        };
        for output in [
            at(0, 7337, false),
            at(1, 40000, true),
            at(2, 40000, false),
            at(3, 7337, false),
        ] {
            assert!(tracker.register_map_output(0, output, launched));
        }
        assert_eq!(tracker.in_memory(0, 1), Some(true));
        assert_eq!(tracker.in_memory(0, 0), Some(false));
        assert_eq!(tracker.remove_outputs_not_at_service("3", 7337), 2);
        assert_eq!(tracker.in_memory(0, 1), None);
        assert_eq!(tracker.missing_partitions(0), [1, 2]);
        assert_eq!(tracker.map_index_of(0, 3), Some(3));
        assert_eq!(tracker.unregister_map_id(0, 3), Some(3));
        assert_eq!(tracker.unregister_map_id(0, 3), None);
        assert_eq!(tracker.missing_partitions(0), [1, 2, 3]);
    }

    /// A lost worker takes every output its shuffle service held, from executors that left
    /// before as well; outputs served elsewhere on the same host stay.
    #[test]
    fn a_lost_shuffle_service_takes_all_it_served() {
        let tracker = MapOutputTracker::default();
        tracker.register_shuffle(0, 3);
        let launched = tracker.epoch();
        let at = |map_index: u32, executor: &str, port: u16| MapStatus {
            port,
            ..status(map_index, executor)
        };
        assert!(tracker.register_map_output(0, at(0, "0", 7337), launched));
        assert!(tracker.register_map_output(0, at(1, "1", 7337), launched));
        assert!(tracker.register_map_output(0, at(2, "2", 7338), launched));
        assert_eq!(tracker.remove_outputs_at("127.0.0.1", 7337), 2);
        assert_eq!(tracker.missing_partitions(0), [0, 1]);
        // Outputs those executors reported late do not come back.
        assert!(!tracker.register_map_output(0, at(0, "1", 7337), launched));
    }
}

use std::collections::HashMap;
use std::sync::Mutex;

use flint_shuffle::MapStatus;

/// Where every map output of every shuffle lives (Spark's `MapOutputTrackerMaster`).
#[derive(Debug, Default)]
pub struct MapOutputTracker {
    shuffles: Mutex<HashMap<u32, Vec<Option<MapStatus>>>>,
}

impl MapOutputTracker {
    /// Registers a shuffle with `num_maps` map outputs, keeping outputs already known.
    pub fn register_shuffle(&self, shuffle_id: u32, num_maps: usize) {
        self.lock()
            .entry(shuffle_id)
            .or_insert_with(|| vec![None; num_maps]);
    }

    /// Records one map task's output.
    pub fn register_map_output(&self, shuffle_id: u32, status: MapStatus) {
        if let Some(outputs) = self.lock().get_mut(&shuffle_id) {
            let index = status.map_index as usize;
            if index < outputs.len() {
                outputs[index] = Some(status);
            }
        }
    }

    /// Forgets one map output (its block could not be fetched).
    pub fn unregister_map_output(&self, shuffle_id: u32, map_index: u32) {
        if let Some(slot) = self
            .lock()
            .get_mut(&shuffle_id)
            .and_then(|o| o.get_mut(map_index as usize))
        {
            *slot = None;
        }
    }

    /// Forgets every map output an executor wrote (it is gone and nobody serves its files);
    /// returns how many were removed.
    pub fn remove_outputs_on_executor(&self, executor_id: &str) -> usize {
        let mut removed = 0;
        for outputs in self.lock().values_mut() {
            for slot in outputs.iter_mut() {
                if slot.as_ref().is_some_and(|s| s.executor_id == executor_id) {
                    *slot = None;
                    removed += 1;
                }
            }
        }
        if removed > 0 {
            tracing::info!(
                executor_id,
                "Removed {removed} map outputs of lost executor {executor_id}"
            );
        }
        removed
    }

    /// Map indexes whose output is missing.
    pub fn missing_partitions(&self, shuffle_id: u32) -> Vec<u32> {
        match self.lock().get(&shuffle_id) {
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
            .get(&shuffle_id)
            .is_some_and(|outputs| outputs.iter().all(Option::is_some))
    }

    /// Every map output of an available shuffle.
    pub fn statuses(&self, shuffle_id: u32) -> Option<Vec<MapStatus>> {
        self.lock().get(&shuffle_id)?.iter().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Vec<Option<MapStatus>>>> {
        self.shuffles.lock().unwrap_or_else(|p| p.into_inner())
    }
}

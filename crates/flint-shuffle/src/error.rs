use datafusion::error::DataFusionError;
use thiserror::Error;

/// Which shuffle block could not be read, with Spark's `FetchFailed` fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchFailure {
    /// The shuffle whose output is missing.
    pub shuffle_id: u32,
    /// The map task (partition of the map stage) whose output is missing.
    pub map_index: u32,
    /// The reduce partition that was being read.
    pub reduce_id: u32,
    /// The executor that wrote the block.
    pub executor_id: String,
    /// The attempt id naming the map output's files (Spark's `mapId`).
    pub map_id: u64,
    /// The host and port the block was asked from (Spark's `BlockManagerId`).
    pub host: String,
    /// See `host`; 0 when it was read from disk.
    pub port: u16,
    /// What went wrong, for logs and the job's failure message.
    pub message: String,
}

/// Failures of shuffle writing and reading.
#[derive(Debug, Error)]
pub enum ShuffleError {
    /// A block of a map output could not be read: the scheduler recomputes that map output.
    #[error(
        "fetch failed for shuffle {} map {} reduce {} from executor {}: {}",
        .0.shuffle_id, .0.map_index, .0.reduce_id, .0.executor_id, .0.message
    )]
    FetchFailed(FetchFailure),
    /// Writing a map output to local disk failed (full disk, removed directory).
    #[error("cannot write shuffle file {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    /// The task context lacks the executor's shuffle environment: a Flint bug.
    #[error(
        "internal error: shuffle node executed outside a Flint executor (no ShuffleEnv); this is a Flint bug"
    )]
    MissingEnv,
}

impl From<ShuffleError> for DataFusionError {
    fn from(error: ShuffleError) -> Self {
        DataFusionError::External(Box::new(error))
    }
}

impl ShuffleError {
    /// Finds a fetch failure anywhere in a DataFusion error's chain of causes.
    pub fn find_fetch_failure(error: &DataFusionError) -> Option<&FetchFailure> {
        let mut current: &(dyn std::error::Error + 'static) = error;
        loop {
            if let Some(ShuffleError::FetchFailed(failure)) = current.downcast_ref::<ShuffleError>()
            {
                return Some(failure);
            }
            if let Some(DataFusionError::External(inner)) =
                current.downcast_ref::<DataFusionError>()
            {
                current = inner.as_ref();
                continue;
            }
            match current.source() {
                Some(source) => current = source,
                None => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_failure_is_found_through_wrappers() {
        let failure = FetchFailure {
            shuffle_id: 1,
            map_index: 2,
            reduce_id: 3,
            executor_id: "driver".into(),
            map_id: 7,
            host: "localhost".into(),
            port: 0,
            message: "gone".into(),
        };
        let error =
            DataFusionError::from(ShuffleError::FetchFailed(failure.clone())).context("reading");
        assert_eq!(ShuffleError::find_fetch_failure(&error), Some(&failure));
        assert_eq!(
            ShuffleError::find_fetch_failure(&DataFusionError::Execution("x".into())),
            None
        );
    }
}

use std::fmt;

/// Identifies a block as Spark names it (`shuffle_0_3_0.data`): the name is also its file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockId {
    /// All reduce partitions of one map task's output, back to back (Spark's `ShuffleDataBlockId`).
    ShuffleData { shuffle_id: u32, map_id: u64 },
    /// The offsets of each reduce partition in the matching data block (Spark's `ShuffleIndexBlockId`).
    ShuffleIndex { shuffle_id: u32, map_id: u64 },
}

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The trailing 0 is Spark's reduce id placeholder for whole-map-output files.
        match self {
            BlockId::ShuffleData { shuffle_id, map_id } => {
                write!(f, "shuffle_{shuffle_id}_{map_id}_0.data")
            }
            BlockId::ShuffleIndex { shuffle_id, map_id } => {
                write!(f, "shuffle_{shuffle_id}_{map_id}_0.index")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::BlockId;

    #[test]
    fn names_blocks_like_spark() {
        assert_eq!(
            BlockId::ShuffleData {
                shuffle_id: 2,
                map_id: 7
            }
            .to_string(),
            "shuffle_2_7_0.data"
        );
        assert_eq!(
            BlockId::ShuffleIndex {
                shuffle_id: 2,
                map_id: 7
            }
            .to_string(),
            "shuffle_2_7_0.index"
        );
    }
}

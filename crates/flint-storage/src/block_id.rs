use std::fmt;

/// Identifies a block as Spark names it (`shuffle_0_3_0.data`): the name is also its file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockId {
    /// All reduce partitions of one map task's output, back to back (Spark's `ShuffleDataBlockId`).
    ShuffleData { shuffle_id: u32, map_id: u64 },
    /// The offsets of each reduce partition in the matching data block (Spark's `ShuffleIndexBlockId`).
    ShuffleIndex { shuffle_id: u32, map_id: u64 },
    /// One reduce partition's rows inside a map output: what reducers fetch (Spark's `ShuffleBlockId`).
    Shuffle {
        shuffle_id: u32,
        map_id: u64,
        reduce_id: u32,
    },
}

impl BlockId {
    /// Parses a block name received from a peer: `shuffle_<shuffle>_<map>_<reduce>`,
    /// optionally with `.data` or `.index`; anything else is `None`.
    pub fn parse(name: &str) -> Option<BlockId> {
        let (stem, suffix) = match name.rsplit_once('.') {
            Some((stem, suffix)) => (stem, Some(suffix)),
            None => (name, None),
        };
        let mut parts = stem.strip_prefix("shuffle_")?.split('_');
        let shuffle_id = parse_number(parts.next()?)?;
        let map_id = parse_number(parts.next()?)?;
        let reduce_id = parse_number(parts.next()?)?;
        if parts.next().is_some() {
            return None;
        }
        match suffix {
            None => Some(BlockId::Shuffle {
                shuffle_id,
                map_id,
                reduce_id,
            }),
            Some("data") if reduce_id == 0 => Some(BlockId::ShuffleData { shuffle_id, map_id }),
            Some("index") if reduce_id == 0 => Some(BlockId::ShuffleIndex { shuffle_id, map_id }),
            Some(_) => None,
        }
    }
}

/// A decimal number with digits only (no sign, no spaces), as in Spark's block names.
fn parse_number<T: std::str::FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
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
            BlockId::Shuffle {
                shuffle_id,
                map_id,
                reduce_id,
            } => write!(f, "shuffle_{shuffle_id}_{map_id}_{reduce_id}"),
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

    #[test]
    fn parses_names_it_writes_and_rejects_others() {
        let block = BlockId::Shuffle {
            shuffle_id: 3,
            map_id: 12,
            reduce_id: 5,
        };
        assert_eq!(BlockId::parse(&block.to_string()), Some(block));
        let data = BlockId::ShuffleData {
            shuffle_id: 3,
            map_id: 12,
        };
        assert_eq!(BlockId::parse(&data.to_string()), Some(data));
        for bad in [
            "",
            "shuffle_",
            "shuffle_1_2",
            "shuffle_1_2_3_4",
            "shuffle_-1_2_3",
            "shuffle_1_2_+3",
            "shuffle_1_2_3.exe",
            "shuffle_1_2_3.data",
            "rdd_1_2",
            "shuffle_1_2_99999999999",
            "../../etc/passwd",
        ] {
            assert_eq!(BlockId::parse(bad), None, "{bad:?}");
        }
    }

    proptest::proptest! {
        /// Any name a peer sends parses or is refused, never panics; what parses prints back
        /// as the same name.
        #[test]
        fn any_name_parses_or_is_refused(name in "(shuffle_)?[0-9_+-]{0,30}(\\.(data|index|exe))?|\\PC{0,40}") {
            if let Some(block) = BlockId::parse(&name) {
                proptest::prop_assert_eq!(block.to_string(), name);
            }
        }
    }
}

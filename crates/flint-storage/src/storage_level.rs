//! How a cached DataFrame's blocks are kept (Spark's `StorageLevel`).

/// How a cached DataFrame is kept (Spark's `StorageLevel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StorageLevel {
    /// Blocks may go to the executor's disk.
    pub use_disk: bool,
    /// Blocks are kept in the executor's storage memory.
    pub use_memory: bool,
    /// Copies of each block (Flint keeps one; `_2` levels are accepted and kept once).
    pub replication: u32,
}

impl StorageLevel {
    /// `MEMORY_AND_DISK`, what `cache()` uses for DataFrames.
    pub const MEMORY_AND_DISK: StorageLevel = StorageLevel {
        use_disk: true,
        use_memory: true,
        replication: 1,
    };
    /// `MEMORY_ONLY`.
    pub const MEMORY_ONLY: StorageLevel = StorageLevel {
        use_disk: false,
        use_memory: true,
        replication: 1,
    };
    /// `DISK_ONLY`.
    pub const DISK_ONLY: StorageLevel = StorageLevel {
        use_disk: true,
        use_memory: false,
        replication: 1,
    };
    /// `NONE`: not cached.
    pub const NONE: StorageLevel = StorageLevel {
        use_disk: false,
        use_memory: false,
        replication: 1,
    };

    /// Parses Spark's level names (`MEMORY_AND_DISK`, `DISK_ONLY_2`, ...), case-insensitively.
    pub fn parse(name: &str) -> Option<StorageLevel> {
        let upper = name.trim().to_ascii_uppercase();
        let (base, replication) = match upper.strip_suffix("_2") {
            Some(base) => (base, 2),
            None => (upper.as_str(), 1),
        };
        let level = match base {
            "NONE" if replication == 1 => StorageLevel::NONE,
            "MEMORY_ONLY" | "MEMORY_ONLY_SER" => StorageLevel::MEMORY_ONLY,
            "MEMORY_AND_DISK" | "MEMORY_AND_DISK_SER" | "MEMORY_AND_DISK_DESER" => {
                StorageLevel::MEMORY_AND_DISK
            }
            "DISK_ONLY" => StorageLevel::DISK_ONLY,
            _ => return None,
        };
        Some(StorageLevel {
            replication,
            ..level
        })
    }

    /// Spark's name of the level (`MEMORY_AND_DISK`).
    pub fn name(&self) -> String {
        let base = match (self.use_memory, self.use_disk) {
            (true, true) => "MEMORY_AND_DISK",
            (true, false) => "MEMORY_ONLY",
            (false, true) => "DISK_ONLY",
            (false, false) => return "NONE".into(),
        };
        if self.replication > 1 {
            format!("{base}_{}", self.replication)
        } else {
            base.into()
        }
    }

    /// Spark's description, as the Storage tab shows it (`Disk Memory Deserialized 1x
    /// Replicated`).
    pub fn description(&self) -> String {
        let mut parts = vec![];
        if self.use_disk {
            parts.push("Disk");
        }
        if self.use_memory {
            parts.push("Memory");
            parts.push("Deserialized");
        }
        if parts.is_empty() {
            return "Serialized 1x Replicated".into();
        }
        format!("{} {}x Replicated", parts.join(" "), self.replication)
    }
}

#[cfg(test)]
mod tests {
    use super::StorageLevel;

    #[test]
    fn storage_levels_read_and_print_as_in_spark() {
        for name in [
            "MEMORY_AND_DISK",
            "MEMORY_ONLY",
            "DISK_ONLY",
            "DISK_ONLY_2",
            "NONE",
        ] {
            assert_eq!(StorageLevel::parse(name).unwrap().name(), name);
        }
        assert_eq!(
            StorageLevel::parse("memory_and_disk_deser"),
            Some(StorageLevel::MEMORY_AND_DISK)
        );
        assert_eq!(StorageLevel::parse("OFF_HEAP"), None);
        assert_eq!(
            StorageLevel::MEMORY_AND_DISK.description(),
            "Disk Memory Deserialized 1x Replicated"
        );
        assert_eq!(StorageLevel::DISK_ONLY.description(), "Disk 1x Replicated");
    }
}

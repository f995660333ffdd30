//! The executor's memory store (Spark's `MemoryStore`): blocks of cached DataFrames kept as
//! Arrow record batches, within the storage memory the executor's memory pool lends
//! ([`StorageMemory`]). A block that needs room pushes out the least recently used blocks of
//! *other* caches; execution that needs memory pushes out blocks beyond the storage share it
//! may not take (`spark.memory.storageFraction`). A pushed-out block whose level allows disk
//! is written to the block manager's files, where readers find it next; one kept in memory
//! only is dropped. Either way the change is reported ([`BlockStatus`]), so the driver knows
//! where each block is and computes a dropped one again.
//!
//! **Invariant:** the bytes reserved from the pool are exactly the sizes of the blocks held
//! plus the bytes of blocks still being unrolled.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use arrow::array::RecordBatch;

/// Where a memory store borrows its bytes: the storage side of the executor's memory pool.
pub trait StorageMemory: Send + Sync + fmt::Debug {
    /// Reserves `bytes` more; false when the pool has no room for them.
    fn try_acquire(&self, bytes: usize) -> bool;
    /// Gives back `bytes` reserved earlier.
    fn release(&self, bytes: usize);
}

/// Writes a block pushed out of memory to the block manager's files, in the shuffle file
/// layout (data and index), and returns the bytes on disk.
pub trait BlockSpiller: Send + Sync + fmt::Debug {
    /// Writes `batches` as block `key`.
    fn spill(&self, key: MemoryBlockKey, batches: &[RecordBatch]) -> std::io::Result<u64>;
}

/// A cached block: one map output of a cache's stage (`rdd_<shuffle_id>_<partition>`), named
/// by the attempt that wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemoryBlockKey {
    /// The cache's id (its stage's shuffle id).
    pub shuffle_id: u32,
    /// The attempt id naming the block's files.
    pub map_id: u64,
}

/// Where a block is after a change the driver did not ask for (Spark's `BlockStatus`): moved
/// to disk (`disk_size` > 0 or an empty block on disk) or dropped (`dropped`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockStatus {
    /// The block.
    pub key: MemoryBlockKey,
    /// Bytes it holds in memory now.
    pub memory_size: u64,
    /// Bytes it holds on disk now.
    pub disk_size: u64,
    /// It is nowhere any more: its partition must be computed again.
    pub dropped: bool,
}

/// Told of every [`BlockStatus`] change.
pub type BlockStatusListener = Box<dyn Fn(BlockStatus) + Send + Sync>;

struct Entry {
    /// Spark's name of the block, `rdd_<cache>_<partition>`, for logs.
    name: String,
    batches: Vec<RecordBatch>,
    size: usize,
    use_disk: bool,
    last_use: u64,
}

#[derive(Default)]
struct Blocks {
    entries: HashMap<MemoryBlockKey, Entry>,
    /// Bytes of the blocks held.
    stored: usize,
    clock: u64,
}

/// Cached blocks in an executor's memory; see the module documentation.
pub struct MemoryStore {
    blocks: Mutex<Blocks>,
    memory: Arc<dyn StorageMemory>,
    spiller: Arc<dyn BlockSpiller>,
    /// Bytes of stored blocks execution may not push out (`spark.memory.storageFraction` of
    /// the pool).
    protected: usize,
    /// The most storage memory there can be (the whole pool, when execution uses none).
    max_memory: usize,
    listener: OnceLock<BlockStatusListener>,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("stored", &self.lock().stored)
            .field("protected", &self.protected)
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// A store borrowing from `memory` up to `max_memory` bytes, of which execution may not
    /// reclaim `protected`, writing pushed-out blocks through `spiller`.
    pub fn new(
        memory: Arc<dyn StorageMemory>,
        spiller: Arc<dyn BlockSpiller>,
        max_memory: usize,
        protected: usize,
    ) -> Self {
        Self {
            blocks: Mutex::default(),
            memory,
            spiller,
            protected,
            max_memory,
            listener: OnceLock::new(),
        }
    }

    /// Sets who is told of blocks moved or dropped (once; later calls are ignored).
    pub fn set_listener(&self, listener: BlockStatusListener) {
        let _ = self.listener.set(listener);
    }

    fn lock(&self) -> MutexGuard<'_, Blocks> {
        self.blocks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The most bytes blocks can take (Spark's `maxMemory` of the block manager).
    pub fn max_memory(&self) -> u64 {
        self.max_memory as u64
    }

    /// Bytes of the blocks held now (Spark's storage `memoryUsed`).
    pub fn memory_used(&self) -> u64 {
        self.lock().stored as u64
    }

    /// Reserves `bytes` for a block of cache `shuffle_id` being unrolled, pushing out the
    /// least recently used blocks of other caches while the pool has no room (Spark's
    /// `reserveUnrollMemoryForThisTask`); false when even that is not enough. What was
    /// reserved is given to [`MemoryStore::insert`] or back with [`MemoryStore::release`].
    pub fn reserve(&self, shuffle_id: u32, bytes: usize) -> bool {
        if bytes == 0 {
            return true;
        }
        let mut blocks = self.lock();
        loop {
            if self.memory.try_acquire(bytes) {
                return true;
            }
            let victim = blocks
                .entries
                .iter()
                .filter(|(key, _)| key.shuffle_id != shuffle_id)
                .min_by_key(|(_, entry)| entry.last_use)
                .map(|(key, _)| *key);
            let Some(victim) = victim else {
                return false;
            };
            self.push_out(&mut blocks, victim);
        }
    }

    /// Gives back bytes reserved for a block that will not be stored.
    pub fn release(&self, bytes: usize) {
        if bytes > 0 {
            self.memory.release(bytes);
        }
    }

    /// Stores partition `partition`'s block, whose `size` bytes were reserved with
    /// [`MemoryStore::reserve`]; `use_disk` says whether it goes to disk, rather than away,
    /// when pushed out.
    pub fn insert(
        &self,
        (key, partition): (MemoryBlockKey, u32),
        batches: Vec<RecordBatch>,
        size: usize,
        use_disk: bool,
    ) {
        let mut blocks = self.lock();
        blocks.clock += 1;
        let name = format!("rdd_{}_{partition}", key.shuffle_id);
        tracing::info!(
            "Block {name} stored as values in memory (estimated size {}, free {})",
            flint_conf::format_size(size as u64),
            flint_conf::format_size(self.max_memory.saturating_sub(blocks.stored + size) as u64)
        );
        let entry = Entry {
            name,
            batches,
            size,
            use_disk,
            last_use: blocks.clock,
        };
        blocks.stored += size;
        if let Some(old) = blocks.entries.insert(key, entry) {
            blocks.stored -= old.size;
            self.memory.release(old.size);
        }
    }

    /// The batches of a block held in memory, marking it used.
    pub fn get(&self, key: MemoryBlockKey) -> Option<Vec<RecordBatch>> {
        let mut blocks = self.lock();
        blocks.clock += 1;
        let clock = blocks.clock;
        let entry = blocks.entries.get_mut(&key)?;
        entry.last_use = clock;
        Some(entry.batches.clone())
    }

    /// Pushes out blocks, least recently used first, until `bytes` are free for execution or
    /// only the protected share is left (Spark's `evictBlocksToFreeSpace` for execution);
    /// returns the bytes freed.
    pub fn free_for_execution(&self, bytes: usize) -> usize {
        let mut blocks = self.lock();
        let mut freed = 0;
        while freed < bytes && blocks.stored > self.protected {
            let Some(victim) = blocks
                .entries
                .iter()
                .min_by_key(|(_, entry)| entry.last_use)
                .map(|(key, _)| *key)
            else {
                break;
            };
            freed += self.push_out(&mut blocks, victim);
        }
        freed
    }

    /// Forgets every block of a cache (unpersisted); returns how many there were.
    pub fn remove_shuffle(&self, shuffle_id: u32) -> usize {
        let mut blocks = self.lock();
        let keys: Vec<MemoryBlockKey> = blocks
            .entries
            .keys()
            .filter(|key| key.shuffle_id == shuffle_id)
            .copied()
            .collect();
        for key in &keys {
            if let Some(entry) = blocks.entries.remove(key) {
                blocks.stored -= entry.size;
                self.memory.release(entry.size);
            }
        }
        keys.len()
    }

    /// Forgets every block (the executor stops).
    pub fn clear(&self) {
        let mut blocks = self.lock();
        let stored = std::mem::take(&mut blocks.stored);
        blocks.entries.clear();
        self.memory.release(stored);
    }

    /// Moves a block out of memory: to disk when its level allows, else away; reports where
    /// it went and returns the bytes freed. The files are written under the lock, so no
    /// reader finds the block in neither place.
    fn push_out(&self, blocks: &mut Blocks, key: MemoryBlockKey) -> usize {
        let Some(entry) = blocks.entries.remove(&key) else {
            return 0;
        };
        let name = &entry.name;
        let on_disk = if entry.use_disk {
            match self.spiller.spill(key, &entry.batches) {
                Ok(disk_size) => {
                    tracing::info!("Writing block {name} to disk");
                    Some(disk_size)
                }
                Err(error) => {
                    tracing::warn!("Failed to write block {name} to disk, dropping it: {error}");
                    None
                }
            }
        } else {
            None
        };
        blocks.stored -= entry.size;
        self.memory.release(entry.size);
        tracing::info!(
            "Dropping block {name} from memory ({} freed)",
            flint_conf::format_size(entry.size as u64)
        );
        if let Some(listener) = self.listener.get() {
            listener(BlockStatus {
                key,
                memory_size: 0,
                disk_size: on_disk.unwrap_or(0),
                dropped: on_disk.is_none(),
            });
        }
        entry.size
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Debug)]
    struct Budget {
        limit: usize,
        used: AtomicUsize,
    }

    impl StorageMemory for Budget {
        fn try_acquire(&self, bytes: usize) -> bool {
            self.used
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                    (used + bytes <= self.limit).then_some(used + bytes)
                })
                .is_ok()
        }
        fn release(&self, bytes: usize) {
            self.used.fetch_sub(bytes, Ordering::SeqCst);
        }
    }

    #[derive(Debug, Default)]
    struct Disk(Mutex<Vec<MemoryBlockKey>>);

    impl BlockSpiller for Disk {
        fn spill(&self, key: MemoryBlockKey, batches: &[RecordBatch]) -> std::io::Result<u64> {
            self.0.lock().unwrap().push(key);
            Ok(batches.iter().map(|b| b.num_rows() as u64).sum())
        }
    }

    fn batch(rows: i64) -> RecordBatch {
        RecordBatch::try_from_iter([("x", Arc::new(Int64Array::from_iter_values(0..rows)) as _)])
            .unwrap()
    }

    fn key(shuffle_id: u32, map_id: u64) -> MemoryBlockKey {
        MemoryBlockKey { shuffle_id, map_id }
    }

    fn store(limit: usize, protected: usize) -> (Arc<Budget>, Arc<Disk>, MemoryStore) {
        let budget = Arc::new(Budget {
            limit,
            used: AtomicUsize::new(0),
        });
        let disk = Arc::new(Disk::default());
        let store = MemoryStore::new(budget.clone(), disk.clone(), limit, protected);
        (budget, disk, store)
    }

    fn put(store: &MemoryStore, key: MemoryBlockKey, size: usize, use_disk: bool) -> bool {
        if !store.reserve(key.shuffle_id, size) {
            return false;
        }
        store.insert((key, 0), vec![batch(3)], size, use_disk);
        true
    }

    #[test]
    fn a_block_pushes_out_the_least_recently_used_block_of_another_cache() {
        let (budget, disk, store) = store(100, 0);
        let statuses = Arc::new(Mutex::new(vec![]));
        let seen = Arc::clone(&statuses);
        store.set_listener(Box::new(move |status| seen.lock().unwrap().push(status)));
        assert!(put(&store, key(1, 0), 40, true));
        assert!(put(&store, key(2, 0), 40, false));
        // Block 1/0 was used last: 2/0 goes first, dropped (memory only).
        assert!(store.get(key(1, 0)).is_some());
        assert!(put(&store, key(3, 0), 40, true));
        assert!(store.get(key(2, 0)).is_none());
        assert_eq!(store.memory_used(), 80);
        assert_eq!(budget.used.load(Ordering::SeqCst), 80);
        // A block of the same cache never pushes out its own cache's blocks.
        assert!(put(&store, key(3, 1), 40, true));
        assert!(store.get(key(1, 0)).is_none());
        assert!(!put(&store, key(3, 2), 40, true));
        assert_eq!(disk.0.lock().unwrap().as_slice(), &[key(1, 0)]);
        let statuses = statuses.lock().unwrap();
        assert!(statuses[0].dropped && statuses[0].key == key(2, 0));
        assert!(!statuses[1].dropped && statuses[1].disk_size == 3);
        assert_eq!(budget.used.load(Ordering::SeqCst), 80);
    }

    #[test]
    fn execution_takes_back_memory_down_to_the_protected_share() {
        let (budget, _disk, store) = store(100, 30);
        for map in 0..3 {
            assert!(put(&store, key(1, map), 30, true));
        }
        assert_eq!(store.free_for_execution(100), 60);
        assert_eq!(store.memory_used(), 30);
        assert!(store.get(key(1, 2)).is_some(), "the newest block stays");
        assert_eq!(store.remove_shuffle(1), 1);
        assert_eq!(budget.used.load(Ordering::SeqCst), 0);
    }
}

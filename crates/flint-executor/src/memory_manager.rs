//! One memory pool for execution and storage (Spark's `UnifiedMemoryManager`): DataFusion's
//! operators and the memory store's cached blocks borrow from the same
//! `spark.memory.fraction` of the executor's memory. Storage takes what execution leaves; when
//! execution needs memory it cannot get, it pushes cached blocks out (to disk, or away) until
//! only `spark.memory.storageFraction` of the pool is left to them, and tries again.

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use datafusion::error::Result;
use datafusion::execution::memory_pool::{
    FairSpillPool, MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation, TrackConsumersPool,
};
use flint_storage::{BlockSpiller, MemoryStore, StorageMemory};

/// The executor's memory pool: DataFusion's fair spilling pool, with cached blocks pushed out
/// for execution.
#[derive(Debug)]
pub(crate) struct UnifiedMemoryPool {
    inner: TrackConsumersPool<FairSpillPool>,
    /// The consumer the memory store reserves as; it never pushes out blocks itself.
    storage_consumer: OnceLock<usize>,
    store: OnceLock<Weak<MemoryStore>>,
}

impl fmt::Display for UnifiedMemoryPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unified({})", self.inner)
    }
}

impl MemoryPool for UnifiedMemoryPool {
    fn name(&self) -> &str {
        "unified"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.inner.register(consumer);
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.inner.unregister(consumer);
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.inner.grow(reservation, additional);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.inner.shrink(reservation, shrink);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        let Err(error) = self.inner.try_grow(reservation, additional) else {
            return Ok(());
        };
        if self.storage_consumer.get() == Some(&reservation.consumer().id()) {
            return Err(error);
        }
        let Some(store) = self.store.get().and_then(Weak::upgrade) else {
            return Err(error);
        };
        // One block at a time, so no more is pushed out than execution needs.
        let mut error = error;
        while store.free_for_execution(1) > 0 {
            match self.inner.try_grow(reservation, additional) {
                Ok(()) => return Ok(()),
                Err(again) => error = again,
            }
        }
        Err(error)
    }

    fn reserved(&self) -> usize {
        self.inner.reserved()
    }

    fn memory_limit(&self) -> MemoryLimit {
        self.inner.memory_limit()
    }
}

/// The memory store's side of the pool: one reservation that grows and shrinks with the
/// blocks held.
#[derive(Debug)]
struct PoolStorageMemory {
    reservation: Mutex<MemoryReservation>,
}

impl StorageMemory for PoolStorageMemory {
    fn try_acquire(&self, bytes: usize) -> bool {
        self.reservation
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .try_grow(bytes)
            .is_ok()
    }

    fn release(&self, bytes: usize) {
        let reservation = self.reservation.lock().unwrap_or_else(|p| p.into_inner());
        // Never more than is held: DataFusion's reservation panics below zero.
        let held = reservation.size();
        if bytes > held {
            tracing::warn!("Releasing {bytes} bytes of storage memory with {held} held");
        }
        reservation.shrink(bytes.min(held));
    }
}

/// Makes an executor's pool of `pool_bytes` and the memory store that borrows from it,
/// keeping `storage_fraction` of the pool for cached blocks against execution and writing
/// blocks pushed out through `spiller`.
pub(crate) fn unified_memory(
    pool_bytes: usize,
    storage_fraction: f64,
    spiller: Arc<dyn BlockSpiller>,
) -> (Arc<UnifiedMemoryPool>, Arc<MemoryStore>) {
    let pool = Arc::new(UnifiedMemoryPool {
        inner: TrackConsumersPool::new(
            FairSpillPool::new(pool_bytes),
            NonZeroUsize::new(3).unwrap_or(NonZeroUsize::MIN),
        ),
        storage_consumer: OnceLock::new(),
        store: OnceLock::new(),
    });
    let consumer = MemoryConsumer::new("BlockManager storage");
    let _ = pool.storage_consumer.set(consumer.id());
    let reservation = consumer.register(&(Arc::clone(&pool) as Arc<dyn MemoryPool>));
    let protected = (pool_bytes as f64 * storage_fraction) as usize;
    let store = Arc::new(MemoryStore::new(
        Arc::new(PoolStorageMemory {
            reservation: Mutex::new(reservation),
        }),
        spiller,
        pool_bytes,
        protected,
    ));
    let _ = pool.store.set(Arc::downgrade(&store));
    (pool, store)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, RecordBatch};
    use flint_storage::MemoryBlockKey;

    #[derive(Debug)]
    struct NoDisk;

    impl BlockSpiller for NoDisk {
        fn spill(&self, _: MemoryBlockKey, _: &[RecordBatch]) -> std::io::Result<u64> {
            Err(std::io::Error::other("no disk here"))
        }
    }

    #[test]
    fn execution_pushes_cached_blocks_out_down_to_the_storage_fraction() {
        let (pool, store) = unified_memory(1000, 0.3, Arc::new(NoDisk));
        let batch =
            RecordBatch::try_from_iter([("x", Arc::new(Int64Array::from_iter_values(0..4)) as _)])
                .unwrap();
        for map_id in 0..4 {
            assert!(store.reserve(1, 200));
            store.insert(
                (
                    MemoryBlockKey {
                        shuffle_id: 1,
                        map_id,
                    },
                    map_id as u32,
                ),
                vec![batch.clone()],
                200,
                false,
            );
        }
        assert!(
            !store.reserve(1, 300),
            "a cache does not push out its own blocks"
        );
        assert_eq!(pool.reserved(), 800);
        let pool_dyn: Arc<dyn MemoryPool> = pool.clone();
        let join = MemoryConsumer::new("HashJoin build").register(&pool_dyn);
        // 800 of 1000 are cached; execution gets 500 by pushing out 2 blocks (300 of the
        // 1000 stay protected, so at most 3 could go).
        join.try_grow(500).unwrap();
        assert_eq!(store.memory_used(), 400);
        assert!(join.try_grow(400).is_err(), "the protected share stays");
        assert_eq!(store.memory_used(), 200);
    }
}

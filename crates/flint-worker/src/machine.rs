//! What this machine can offer: its cores and its physical memory.

/// The number of CPUs this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Physical memory in MiB, from `/proc/meminfo` (`None` where it cannot be read).
pub fn total_memory_mib() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_mem_total_mib(&text)
}

fn parse_mem_total_mib(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

/// The worker's default memory: all of it minus 1 GiB left for the OS (at least 512 MiB),
/// as Spark's worker computes it.
pub fn default_worker_memory_mib(total_mib: u64) -> u64 {
    total_mib.saturating_sub(1024).max(512)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mem_total() {
        let text = "MemTotal:       24576000 kB\nMemFree:  100 kB\n";
        assert_eq!(parse_mem_total_mib(text), Some(24000));
        assert_eq!(parse_mem_total_mib("nothing"), None);
        assert_eq!(default_worker_memory_mib(24000), 22976);
        assert_eq!(default_worker_memory_mib(1000), 512);
    }
}

use crate::ConfError;

/// Where an application runs, parsed from `--master` / `spark.master` (Spark's `SparkMasterRegex`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterUrl {
    /// `local`, `local[N]`, `local[*]`, `local[N,F]`: driver and one executor in one process,
    /// with `threads` task slots and `max_failures` attempts per task.
    Local {
        threads: usize,
        max_failures: Option<usize>,
    },
    /// `local-cluster[W,C,M]`: a real master and W workers with C cores and M MiB each.
    LocalCluster {
        workers: usize,
        cores_per_worker: usize,
        memory_mib_per_worker: u64,
    },
    /// `spark://HOST:PORT[,HOST:PORT]` or `flint://...`: a standalone master.
    Standalone { masters: Vec<(String, u16)> },
}

impl MasterUrl {
    /// Parses a master URL; `available_cores` resolves `local[*]`.
    pub fn parse(url: &str, available_cores: usize) -> Result<Self, ConfError> {
        let invalid = || ConfError::InvalidMaster(url.to_string());
        let url = url.trim();
        if url == "local" {
            return Ok(MasterUrl::Local {
                threads: 1,
                max_failures: None,
            });
        }
        if let Some(inner) = url.strip_prefix("local[").and_then(|s| s.strip_suffix(']')) {
            let mut parts = inner.split(',').map(str::trim);
            let threads = match parts.next() {
                Some("*") => available_cores.max(1),
                Some(n) => n
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(invalid)?,
                None => return Err(invalid()),
            };
            let max_failures = match parts.next() {
                Some(f) => Some(
                    f.parse::<usize>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(invalid)?,
                ),
                None => None,
            };
            if parts.next().is_some() {
                return Err(invalid());
            }
            return Ok(MasterUrl::Local {
                threads,
                max_failures,
            });
        }
        if let Some(inner) = url
            .strip_prefix("local-cluster[")
            .and_then(|s| s.strip_suffix(']'))
        {
            let numbers: Vec<u64> = inner
                .split(',')
                .map(|p| p.trim().parse::<u64>().ok().filter(|n| *n > 0))
                .collect::<Option<_>>()
                .ok_or_else(invalid)?;
            let [workers, cores, memory] = numbers[..] else {
                return Err(invalid());
            };
            return Ok(MasterUrl::LocalCluster {
                workers: workers as usize,
                cores_per_worker: cores as usize,
                memory_mib_per_worker: memory,
            });
        }
        let rest = url
            .strip_prefix("spark://")
            .or_else(|| url.strip_prefix("flint://"))
            .ok_or_else(invalid)?;
        let masters = rest
            .split(',')
            .map(|hostport| {
                let (host, port) = hostport.rsplit_once(':')?;
                let port = port.parse::<u16>().ok().filter(|p| *p > 0)?;
                (!host.is_empty()).then(|| (host.to_string(), port))
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(invalid)?;
        Ok(MasterUrl::Standalone { masters })
    }

    /// True for `local`, `local[N]` and `local[*]`.
    pub fn is_local(&self) -> bool {
        matches!(self, MasterUrl::Local { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str, expected: Option<MasterUrl>) {
        assert_eq!(MasterUrl::parse(url, 8).ok(), expected, "{url}");
    }

    #[test]
    fn parses_master_urls_like_spark() {
        check(
            "local",
            Some(MasterUrl::Local {
                threads: 1,
                max_failures: None,
            }),
        );
        check(
            "local[2]",
            Some(MasterUrl::Local {
                threads: 2,
                max_failures: None,
            }),
        );
        check(
            "local[*]",
            Some(MasterUrl::Local {
                threads: 8,
                max_failures: None,
            }),
        );
        check(
            "local[2,3]",
            Some(MasterUrl::Local {
                threads: 2,
                max_failures: Some(3),
            }),
        );
        check(
            "local-cluster[2,1,1024]",
            Some(MasterUrl::LocalCluster {
                workers: 2,
                cores_per_worker: 1,
                memory_mib_per_worker: 1024,
            }),
        );
        check(
            "spark://127.0.0.1:7077",
            Some(MasterUrl::Standalone {
                masters: vec![("127.0.0.1".into(), 7077)],
            }),
        );
        check(
            "flint://h:7077",
            Some(MasterUrl::Standalone {
                masters: vec![("h".into(), 7077)],
            }),
        );
        check("local[0]", None);
        check("local[x]", None);
        check("local-cluster[2,1]", None);
        check("spark://host", None);
        check("yarn", None);
        check("spark://:7077", None);
    }
}

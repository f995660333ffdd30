//! Scheduling inside an application: jobs of several sessions at once, shared by FAIR pools.

use std::collections::HashMap;

use flint::SparkListenerEvent;

use crate::common::{EventLog, rows, session};

/// Two jobs running at once in FAIR pools of weights 1 and 3 (from Spark's allocation file)
/// share the four task slots about 1:3, as Spark's `FairSchedulingAlgorithm` shares them, and
/// each job's events name its pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fair_pools_share_task_slots_by_weight() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fairscheduler.xml");
    std::fs::write(
        &file,
        r#"<?xml version="1.0"?>
        <allocations>
          <pool name="light"><schedulingMode>FIFO</schedulingMode><weight>1</weight></pool>
          <pool name="heavy"><schedulingMode>FIFO</schedulingMode><weight>3</weight></pool>
        </allocations>"#,
    )
    .unwrap();
    let file = file.display().to_string();
    let spark = session(
        4,
        dir.path(),
        &[
            ("spark.scheduler.mode", "FAIR"),
            ("spark.scheduler.allocation.file", &file),
        ],
    )
    .await;
    let light = spark.new_session().unwrap();
    light.set_conf("spark.scheduler.pool", "light").unwrap();
    let heavy = spark.new_session().unwrap();
    heavy.set_conf("spark.scheduler.pool", "heavy").unwrap();
    let log = EventLog::attach(&spark);
    let query = "SELECT sum(hash(id)) FROM range(0, 4800000, 1, 96)";
    let (a, b) = tokio::join!(
        async { light.sql(query).await.unwrap().collect().await.unwrap() },
        async { heavy.sql(query).await.unwrap().collect().await.unwrap() },
    );
    assert_eq!(rows(&a), rows(&b));

    let events = log.snapshot(&spark);
    let mut pool_of_stage = HashMap::new();
    let mut pools_of_jobs = vec![];
    for event in &events {
        if let SparkListenerEvent::JobStart {
            stage_infos, pool, ..
        } = event
        {
            pools_of_jobs.push(pool.clone());
            for info in stage_infos {
                pool_of_stage.insert(info.stage_id, pool.clone());
            }
        }
    }
    pools_of_jobs.sort();
    assert_eq!(pools_of_jobs, ["heavy", "light"]);
    // Tasks each pool runs, sampled at every launch while both pools still launch tasks.
    let launches: Vec<(usize, &str)> = events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e {
            SparkListenerEvent::TaskStart { stage_id, .. } => {
                Some((i, pool_of_stage[stage_id].as_str()))
            }
            _ => None,
        })
        .collect();
    let last_launch = |pool: &str| launches.iter().rev().find(|(_, p)| *p == pool).unwrap().0;
    let first_launch = |pool: &str| launches.iter().find(|(_, p)| *p == pool).unwrap().0;
    let window = first_launch("light").max(first_launch("heavy"))
        ..last_launch("light").min(last_launch("heavy"));
    let mut running: HashMap<&str, i64> = HashMap::new();
    let (mut samples, mut light_sum, mut heavy_sum) = (0, 0, 0);
    for (i, event) in events.iter().enumerate() {
        match event {
            SparkListenerEvent::TaskStart { stage_id, .. } => {
                *running.entry(pool_of_stage[stage_id].as_str()).or_default() += 1;
                if window.contains(&i) {
                    samples += 1;
                    light_sum += running.get("light").copied().unwrap_or(0);
                    heavy_sum += running.get("heavy").copied().unwrap_or(0);
                }
            }
            SparkListenerEvent::TaskEnd { stage_id, .. } => {
                *running.entry(pool_of_stage[stage_id].as_str()).or_default() -= 1;
            }
            _ => {}
        }
    }
    assert!(
        samples >= 20,
        "the jobs hardly overlapped: {samples} samples"
    );
    let (light_avg, heavy_avg) = (
        light_sum as f64 / samples as f64,
        heavy_sum as f64 / samples as f64,
    );
    println!(
        "running tasks on average: light {light_avg:.2}, heavy {heavy_avg:.2} ({samples} samples)"
    );
    assert!(
        light_avg >= 0.5 && heavy_avg >= 2.0 * light_avg,
        "running tasks on average: light {light_avg:.2}, heavy {heavy_avg:.2} ({samples} samples)"
    );
    spark.stop();
}

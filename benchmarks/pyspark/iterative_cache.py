"""Iterative benchmark (not CI): ten rounds of label propagation, each a join and an
aggregation over the previous round's labels, with and without `cache()`.

Usage: flint submit --master 'local[2]' iterative_cache.py MODE DIR [VERTICES] [EDGES]
MODE is `cache` (each round's labels are cached and the previous round's unpersisted) or
`nocache` (each round's plan holds every earlier round, as a lineage that keeps growing).
The edges are written once to DIR as parquet. Prints one line per round: its time and the
number of distinct labels left, which both modes must agree on.
"""

import sys
import time

from pyspark.sql import SparkSession, functions as F

mode, path = sys.argv[1], sys.argv[2]
vertices = int(sys.argv[3]) if len(sys.argv) > 3 else 200_000
edges_count = int(sys.argv[4]) if len(sys.argv) > 4 else 1_000_000
spark = SparkSession.builder.getOrCreate()

# A deterministic graph: recomputing a round's lineage must give the same edges.
spark.range(edges_count).select(
    F.pmod(F.hash("id"), F.lit(vertices)).alias("src"),
    F.pmod(F.hash(F.col("id") + 1), F.lit(vertices)).alias("dst"),
).write.mode("overwrite").parquet(path)
edges = spark.read.parquet(path)

labels = spark.range(vertices).select(F.col("id").alias("v"), F.col("id").alias("label"))
total = 0.0
print("| round | %s ms | labels |" % mode)
print("|---:|---:|---:|")
for round_number in range(1, 11):
    start = time.perf_counter()
    messages = edges.join(labels, edges.src == labels.v).select(
        F.col("dst").alias("v"), F.col("label")
    )
    updated = labels.union(messages).groupBy("v").agg(F.min("label").alias("label"))
    if mode == "cache":
        updated = updated.cache()
    left = updated.select(F.countDistinct("label")).collect()[0][0]
    if mode == "cache" and round_number > 1:
        labels.unpersist()
    labels = updated
    elapsed = (time.perf_counter() - start) * 1000
    total += elapsed
    print("| %d | %.0f | %d |" % (round_number, elapsed, left), flush=True)
print("| all | %.0f | |" % total)
spark.stop()

"""Label propagation over a small graph for ROUNDS rounds, each round's labels cached and
the previous round's unpersisted: prints the labels left after each round. The test checks
the answers and that every round runs the same number of stages, however long the lineage
the client sends."""

import sys

from pyspark.sql import SparkSession, functions as F

rounds = int(sys.argv[1])
cache = sys.argv[2] == "cache"
spark = SparkSession.builder.getOrCreate()
edges = spark.range(3000).select(
    F.pmod(F.hash("id"), F.lit(500)).alias("src"),
    F.pmod(F.hash(F.col("id") + 1), F.lit(500)).alias("dst"),
)
labels = spark.range(500).select(F.col("id").alias("v"), F.col("id").alias("label"))
for round_number in range(rounds):
    messages = edges.join(labels, edges.src == labels.v).select(
        F.col("dst").alias("v"), F.col("label")
    )
    updated = labels.union(messages).groupBy("v").agg(F.min("label").alias("label"))
    if cache:
        updated = updated.cache()
    print("LEFT", updated.select(F.countDistinct("label")).collect()[0][0], flush=True)
    if cache and round_number > 0:
        labels.unpersist()
    labels = updated
spark.stop()

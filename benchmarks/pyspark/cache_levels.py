"""Cache-level benchmark (not CI): the same five aggregations over TPC-H `lineitem`, read
from its parquet files, or from a cache kept in the executors' memory (MEMORY_AND_DISK with
room), or kept on their disks (DISK_ONLY).

Usage: flint submit --master 'local[2]' --driver-memory 6g cache_levels.py LINEITEM_PATH [ROUNDS]
Prints one table row per level: the time to fill the cache (the first action) and the
median time of the five queries over ROUNDS rounds (default 3). Every level must give the
same answers; the script fails if they differ.
"""

import statistics
import sys
import time

from pyspark import StorageLevel
from pyspark.sql import SparkSession, functions as F

path = sys.argv[1]
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
spark = SparkSession.builder.getOrCreate()

QUERIES = [
    lambda df: df.groupBy("l_returnflag", "l_linestatus").agg(
        F.sum("l_quantity"), F.avg("l_extendedprice"), F.count("*")
    ),
    lambda df: df.where(F.col("l_discount") > 0.05).agg(F.sum(F.col("l_extendedprice") * F.col("l_discount"))),
    lambda df: df.groupBy("l_shipmode").agg(F.max("l_shipdate"), F.min("l_commitdate")),
    lambda df: df.select(F.countDistinct("l_suppkey")),
    lambda df: df.where(F.col("l_quantity") < 10).groupBy("l_linenumber").count(),
]


def answers(df):
    return [sorted(map(tuple, query(df).collect())) for query in QUERIES]


print("| level | fill ms | query ms (median of %d) |" % rounds)
print("|---|---:|---:|")
expected = None
for level in ["none", "MEMORY_AND_DISK", "DISK_ONLY"]:
    df = spark.read.parquet(path).select(
        "l_returnflag", "l_linestatus", "l_quantity", "l_extendedprice", "l_discount",
        "l_shipmode", "l_shipdate", "l_commitdate", "l_suppkey", "l_linenumber",
    )
    fill = 0.0
    if level != "none":
        df = df.persist(getattr(StorageLevel, level))
        start = time.perf_counter()
        df.count()
        fill = (time.perf_counter() - start) * 1000
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        got = answers(df)
        times.append((time.perf_counter() - start) * 1000)
    if expected is None:
        expected = got
    elif got != expected:
        sys.exit("level %s gave different answers" % level)
    print("| %s | %.0f | %.0f |" % (level, fill, statistics.median(times)))
    if level != "none":
        df.unpersist()
spark.stop()

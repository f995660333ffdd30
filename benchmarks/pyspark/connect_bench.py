"""Spark Connect benchmark (not CI): the warm round trip of small actions and the 22 TPC-H
queries through spark.sql, against whatever server SPARK_REMOTE names (Flint's
`flint connect-server`, or another Spark Connect server for comparison).

Usage: SPARK_REMOTE=sc://127.0.0.1:15002 python connect_bench.py TPCH_DIR QUERY_DIR [LABEL]
Prints one table: round trips (median of 200 after 20 warm-ups) and each query's best of 3.
"""

import os
import statistics
import sys
import time

from pyspark.sql import SparkSession

data, queries = sys.argv[1], sys.argv[2]
label = sys.argv[3] if len(sys.argv) > 3 else os.environ.get("SPARK_REMOTE", "server")
spark = SparkSession.builder.getOrCreate()


def median_ms(action, runs=200, warm=20):
    for _ in range(warm):
        action()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


rows = [
    ("range(10).count()", median_ms(lambda: spark.range(10).count())),
    ("sql('select 1').collect()", median_ms(lambda: spark.sql("select 1").collect())),
]
for table in ["customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier"]:
    spark.read.parquet(os.path.join(data, table + ".parquet")).createOrReplaceTempView(table)
total = 0.0
for n in range(1, 23):
    with open(os.path.join(queries, "q%d.sql" % n)) as f:
        text = f.read()
    best = None
    for _ in range(3):
        start = time.perf_counter()
        spark.sql(text).collect()
        elapsed = (time.perf_counter() - start) * 1000
        best = elapsed if best is None else min(best, elapsed)
    total += best
    rows.append(("TPC-H q%d" % n, best))
rows.append(("TPC-H sum of 22", total))
print("| %s | ms |" % label)
print("|---|---:|")
for name, ms in rows:
    print("| %s | %.1f |" % (name, ms))
spark.stop()

"""Eight one-row tasks; the task of row 0 sleeps a minute on its first attempt only (a file
marks that it ran), so only a speculative copy lets the job end soon. Prints the rows'
count and sum, which must count every row once."""

import os
import sys
import time

from pyspark.sql import SparkSession, functions as F

marker = sys.argv[1]
spark = SparkSession.builder.getOrCreate()


def slow_once(x):
    if x == 0 and not os.path.exists(marker):
        open(marker, "w").close()
        time.sleep(60)
    return x


rows = spark.range(0, 8, 1, 8).select(F.udf(slow_once, "long")("id").alias("v")).collect()
print("ROWS", len(rows), sum(r.v for r in rows), flush=True)
spark.stop()

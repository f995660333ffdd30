"""A bursty application for dynamic allocation (not CI): three bursts of 16 half-second
Python tasks with idle gaps between them, printing when each burst starts and ends.

Usage: flint submit --master spark://HOST:PORT --conf spark.dynamicAllocation.enabled=true
         ... bursty.py [GAP_SECONDS]
Watch the executors come and go in the master's /json/ or the Jobs page's event timeline.
"""

import sys
import time

from pyspark.sql import SparkSession, functions as F

gap = float(sys.argv[1]) if len(sys.argv) > 1 else 6.0
spark = SparkSession.builder.getOrCreate()
slow = F.udf(lambda x: (time.sleep(0.5), x)[1], "long")
start = time.time()
for burst in range(3):
    print("burst %d starts at %.1f s" % (burst, time.time() - start), flush=True)
    spark.range(0, 16, 1, 16).select(slow("id")).collect()
    print("burst %d ends at %.1f s" % (burst, time.time() - start), flush=True)
    time.sleep(gap)
spark.stop()

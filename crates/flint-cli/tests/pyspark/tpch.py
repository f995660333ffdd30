"""The 22 TPC-H queries through spark.sql from PySpark. Usage: tpch.py DATA_DIR QUERY_DIR OUT_DIR.
Registers each table with spark.read.parquet(...).createOrReplaceTempView(...), runs qN.sql and
writes the rows the client received (Arrow, untouched) to OUT_DIR/qN.parquet for the test to
compare with DataFusion's answers."""

import os
import sys

import pyarrow.parquet as pq
from pyspark.sql import SparkSession

data, queries, out = sys.argv[1:4]
spark = SparkSession.builder.appName("tpch").getOrCreate()
for table in ["customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier"]:
    spark.read.parquet(os.path.join(data, table + ".parquet")).createOrReplaceTempView(table)
for n in range(1, 23):
    with open(os.path.join(queries, "q%d.sql" % n)) as f:
        text = f.read()
    table = spark.sql(text).toArrow()
    pq.write_table(table, os.path.join(out, "q%d.parquet" % n))
    print("q%d %d rows" % (n, table.num_rows), flush=True)
spark.stop()

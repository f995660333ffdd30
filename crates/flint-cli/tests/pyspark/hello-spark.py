# Seed 003's hello-spark.py: a PySpark program written for a standalone master, unmodified.
from pyspark.sql import SparkSession

spark = (
    SparkSession.builder.master("spark://localhost:7077")
    .appName("Python Spark SQL basic example")
    .config("spark.submit.deployMode", "client")
    .getOrCreate()
)

myRange = spark.range(1000).toDF("number")
divisBy2 = myRange.where("number % 2 = 0")
print(divisBy2.count())
spark.stop()

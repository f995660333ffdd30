"""Everyday PySpark operations through `flint submit`, each answer checked against pandas
on the same data. Prints `CHECKED <name>` per check and `ALL CHECKS PASSED` at the end; any
mismatch raises, so the script exits non-zero. Usage: everyday.py WORK_DIR [local|cluster]
(cluster: executors are processes of their own, so Python UDFs must not run in the driver)."""

import datetime
import math
import os
import sys
import tempfile
from typing import Iterator

import pandas as pd
import pyarrow as pa
from pyspark.sql import Row, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.errors import AnalysisException, ParseException, ArithmeticException, PythonException
from pyspark.sql.types import DoubleType, IntegerType, LongType, StringType, StructField, StructType

work = sys.argv[1]
executors_apart = len(sys.argv) > 2 and sys.argv[2] == "cluster"
spark = (
    SparkSession.builder.master("spark://ignored-by-flint:7077")
    .appName("everyday")
    .config("spark.submit.deployMode", "client")
    .getOrCreate()
)


def rows(df, order=None):
    """A DataFrame's rows as sorted tuples (distributed results come in any order)."""
    values = [tuple(r) for r in df.collect()]
    return values if order == "kept" else sorted(values, key=repr)


def frame_rows(frame):
    return sorted([tuple(None if (isinstance(v, float) and math.isnan(v)) else v for v in r) for r in frame.itertuples(index=False)], key=repr)


def check(name, got, expected):
    if got != expected:
        raise AssertionError(f"{name}: got {got!r}, expected {expected!r}")
    print("CHECKED", name, flush=True)


people_pd = pd.DataFrame(
    {
        "id": [1, 2, 3, 4, 5, 6],
        "name": ["ann", "bob", "cid", "dee", "eve", None],
        "dept": ["a", "b", "a", "c", "b", "a"],
        "salary": [100.0, 200.0, None, 400.0, 250.0, 50.0],
    }
)
people = spark.createDataFrame(people_pd)
depts = spark.createDataFrame([Row(dept="a", title="alpha"), Row(dept="b", title="beta"), Row(dept="z", title="zeta")])

check("range count", spark.range(1000).count(), 1000)
check("range step", rows(spark.range(0, 10, 3)), [(0,), (3,), (6,), (9,)])
# Where a row is computed: range's numPartitions cuts as Spark's does, repartition(n) really
# shuffles into n partitions row by row, and the seeded generators draw Spark's numbers.
check("range partitions and ids",
    rows(spark.range(0, 10, 1, 2).select("id", F.spark_partition_id(), F.monotonically_increasing_id())),
    sorted([(i, i // 5, (i // 5 << 33) + i % 5) for i in range(10)], key=repr))
check("repartition(n) shuffles", rows(spark.range(0, 64, 1, 1).repartition(10).select(F.spark_partition_id()).distinct()),
    [(p,) for p in range(10)])
ranges = (spark.range(0, 1000, 1, 3).repartitionByRange(4, F.col("id").desc())
    .select(F.spark_partition_id().alias("p"), "id").groupBy("p").agg(F.min("id"), F.max("id"), F.count("*")))
check("repartitionByRange", rows(ranges), [(0, 750, 999, 250), (1, 500, 749, 250), (2, 250, 499, 250), (3, 0, 249, 250)])
check("repartitionById", rows(spark.range(10).repartitionById(3, F.col("id") % 3)
    .select((F.col("id") % 3 == F.spark_partition_id()).alias("same")).distinct()), [(True,)])
check("coalesce(1)", rows(spark.range(0, 10, 1, 3).coalesce(1).select(F.spark_partition_id()).distinct()), [(0,)])
check("rand and randn of a seed (Spark's XORShiftRandom)",
    [tuple(round(v, 12) for v in r) for r in spark.range(0, 2, 1, 1).select(F.rand(42), F.randn(42)).collect()],
    [(0.619189370225, 2.384479054241), (0.509601884245, 0.192093404129)])
check("sample of a seed keeps Spark's rows", spark.range(0, 10, 1, 1).sample(fraction=0.5, seed=3).count(), 4)
check("sample with replacement draws Spark's copies", sorted(r[0] for r in spark.range(0, 10, 1, 1).sample(True, 0.5, 3).collect()), [5, 6])
events = spark.createDataFrame([(datetime.datetime(2016, 3, 11, 9, 0, 7), 1), (datetime.datetime(2016, 3, 11, 9, 0, 9), 2), (datetime.datetime(2016, 3, 11, 9, 0, 12), 4), (None, 8)], ["dt", "v"])
windowed = events.groupBy(F.window("dt", "5 seconds")).agg(F.sum("v").alias("s"))
check("tumbling time windows (rows without a time in none)", rows(windowed.select(F.col("window.start").cast("string"), F.col("window.end").cast("string"), "s")), [("2016-03-11 09:00:05", "2016-03-11 09:00:10", 3), ("2016-03-11 09:00:10", "2016-03-11 09:00:15", 4)])
sliding = events.groupBy(F.window("dt", "10 seconds", "5 seconds")).agg(F.sum("v").alias("s"))
check("sliding time windows (a row in each window holding it)", rows(sliding.select(F.col("window.start").cast("string"), "s")), [("2016-03-11 09:00:00", 3), ("2016-03-11 09:00:05", 7), ("2016-03-11 09:00:10", 4)])
check("window_time and a start time", rows(events.where("v = 1").select(F.window_time(F.window("dt", "1 minute", startTime="30 seconds")).cast("string"))), [("2016-03-11 09:00:29.999999",)])
check("sample with replacement repeats rows", 2400 <= spark.range(0, 1000, 1, 2).sample(True, 2.5, 11).count() <= 2600, True)
check("sampleBy", rows(spark.range(0, 100, 1, 5).select((F.col("id") % 3).alias("key"))
    .sampleBy("key", fractions={0: 0.1, 1: 0.2}, seed=0).groupBy("key").count()), [(0, 4), (1, 9)])
check("version", spark.version, "4.2.0")
check("schema", [f.name for f in people.schema.fields], ["id", "name", "dept", "salary"])
check("dtypes", people.dtypes, [("id", "bigint"), ("name", "string"), ("dept", "string"), ("salary", "double")])

# project, filter, withColumn, rename, drop, toDF
got = rows(people.filter(F.col("salary") > 150).select("name", (F.col("salary") * 2).alias("double_salary")))
expected = frame_rows(people_pd[people_pd.salary > 150].assign(double_salary=lambda d: d.salary * 2)[["name", "double_salary"]])
check("filter and project", got, expected)
check("with column", rows(people.withColumn("k", F.col("id") % 2).select("id", "k")), [(i, i % 2) for i in range(1, 7)])
check("rename and drop", people.withColumnRenamed("name", "who").drop("salary").columns, ["id", "who", "dept"])
check("toDF", people.select("id", "dept").toDF("a", "b").columns, ["a", "b"])
check("selectExpr", rows(people.selectExpr("id * 10 AS x").filter("x > 40")), [(50,), (60,)])
check("expr", rows(people.select(F.expr("upper(dept)").alias("d")).distinct()), [("A",), ("B",), ("C",)])
check("when", rows(people.select(F.when(F.col("id") < 3, "low").otherwise("high").alias("b")).distinct()), [("high",), ("low",)])
check("isin and between", rows(people.filter(F.col("dept").isin("a", "c") & F.col("id").between(2, 5)).select("id")), [(3,), (4,)])
check("null checks", rows(people.filter(F.col("name").isNull()).select("id")), [(6,)])
check("cast", rows(people.select(F.col("id").cast("string").alias("s")).limit(1)), [("1",)])
check("string functions", rows(people.filter(F.col("id") == 1).select(F.concat_ws("-", "name", "dept"), F.length("name"), F.substring("name", 1, 2))), [("ann-a", 3, "an")])

check("withColumns from the input as it was", rows(people.filter("id = 1").withColumns({"id": F.col("salary"), "salary": F.col("id")}).select("id", "salary")), [(100.0, 1)])
check("withColumn replaces any case", people.withColumn("NAME", F.lit("x")).columns, ["id", "NAME", "dept", "salary"])
check("smallest long literal", rows(spark.range(1).select(F.lit(-9223372036854775808))), [(-9223372036854775808,)])
check("selectExpr keeps escapes", rows(spark.createDataFrame([("a1b22",)], ["s"]).selectExpr(r"regexp_replace(s, '\\d+', '') AS x")), [("ab",)])
nan = spark.createDataFrame([(1.0,), (float("nan"),), (None,)], "v double")
check("fillna replaces NaN", rows(nan.fillna(0.0)), [(0.0,), (0.0,), (1.0,)])

# aggregate
got = rows(people.groupBy("dept").agg(F.count("*").alias("n"), F.sum("salary").alias("total"), F.max("id").alias("top")))
grouped = people_pd.groupby("dept").agg(n=("id", "size"), total=("salary", "sum"), top=("id", "max")).reset_index()
check("group by", got, frame_rows(grouped))
check("count(*) column name", people.groupBy("dept").agg(F.count("*")).columns, ["dept", "count(1)"])
check("array_agg skips nulls", sorted(rows(people.select(F.array_agg("salary")))[0][0]), [50.0, 100.0, 200.0, 250.0, 400.0])
check("global aggregate", rows(people.select(F.min("id"), F.max("id"))), [(1, 6)])
check("avg column name", people.groupBy().avg("salary").columns, ["avg(salary)"])
pivoted = rows(people.groupBy("dept").pivot("name", ["ann", "bob"]).agg(F.sum("salary")))
check("pivot", pivoted, sorted([("a", 100.0, None), ("b", None, 200.0), ("c", None, None)], key=repr))
counted = rows(people.groupBy("dept").pivot("name", ["ann", "bob"]).count())
check("pivot count of no rows is NULL", counted, sorted([("a", 1, None), ("b", None, 1), ("c", None, None)], key=repr))

# joins
joined = rows(people.join(depts, "dept").select("id", "title"))
expected = frame_rows(people_pd.merge(pd.DataFrame({"dept": ["a", "b", "z"], "title": ["alpha", "beta", "zeta"]}), on="dept")[["id", "title"]])
check("join using", joined, expected)
check("left join", rows(people.join(depts, "dept", "left").filter(F.col("title").isNull()).select("id")), [(4,)])
check("full join", people.join(depts, "dept", "full").count(), 7)
check("semi join", rows(people.join(depts, "dept", "left_semi").select("id")), [(1,), (2,), (3,), (5,), (6,)])
check("anti join", rows(people.join(depts, "dept", "left_anti").select("id")), [(4,)])
check("drop one side's column", people.join(depts, people.dept == depts.dept).drop(depts.dept).columns, ["id", "name", "dept", "salary", "title"])
check("join on condition", rows(people.join(depts, people.dept == depts.dept).select(people.id, depts.title).filter(F.col("id") == 2)), [(2, "beta")])
a, b = people.alias("a"), people.alias("b")
self_joined = rows(a.join(b, F.col("a.id") + 1 == F.col("b.id")).select(F.col("a.id"), F.col("b.name")))
check("self join with aliases", self_joined, [(1, "bob"), (2, "cid"), (3, "dee"), (4, "eve"), (5, None)])
check("cross join", people.crossJoin(depts).count(), 18)

# sort, limit, offset, tail, distinct, dedup
check("sort", [r.id for r in people.orderBy(F.col("salary").desc_nulls_last(), "id").collect()], [4, 5, 2, 1, 6, 3])
check("sort nulls first", [r.id for r in people.orderBy(F.col("salary").asc()).collect()][0], 3)
check("limit", people.orderBy("id").limit(2).count(), 2)
check("offset", [r.id for r in people.orderBy("id").offset(4).collect()], [5, 6])
check("tail", [r.id for r in people.orderBy("id").tail(2)], [5, 6])
check("distinct", people.select("dept").distinct().count(), 3)
check("drop duplicates", people.dropDuplicates(["dept"]).count(), 3)
check("first", people.orderBy("id").first().name, "ann")
check("take", [r.id for r in people.orderBy("id").take(2)], [1, 2])

# set operations
one = spark.createDataFrame([(1,), (2,), (2,), (3,)], ["x"])
two = spark.createDataFrame([(2,), (3,), (4,)], ["x"])
check("union", rows(one.union(two)), [(1,), (2,), (2,), (2,), (3,), (3,), (4,)])
check("union distinct", rows(one.union(two).distinct()), [(1,), (2,), (3,), (4,)])
check("intersect", rows(one.intersect(two)), [(2,), (3,)])
check("subtract", rows(one.subtract(two)), [(1,)])
check("except all", rows(one.exceptAll(two)), [(1,), (2,)])
check("intersect all", rows(one.union(one).intersectAll(two.union(two).union(two))), [(2,), (2,), (2,), (3,), (3,)])
check("except all with nulls", rows(spark.createDataFrame([(None,), (None,), (1,)], "x int").exceptAll(spark.createDataFrame([(None,)], "x int"))), sorted([(None,), (1,)], key=repr))
check("union by name", rows(spark.createDataFrame([(1, "a")], ["n", "s"]).unionByName(spark.createDataFrame([("b", 2)], ["s", "n"]))), [(1, "a"), (2, "b")])

# missing values
check("fillna", rows(people.fillna(0.0, ["salary"]).filter(F.col("id") == 3).select("salary")), [(0.0,)])
check("fillna string", rows(people.fillna("nobody").filter(F.col("id") == 6).select("name")), [("nobody",)])
check("dropna", people.dropna().count(), 4)
check("dropna subset", people.dropna(subset=["salary"]).count(), 5)
check("replace", rows(people.replace("a", "A", ["dept"]).select("dept").distinct()), [("A",), ("b",), ("c",)])

# window functions
w = Window.partitionBy("dept").orderBy("id")
ranked = rows(people.select("id", F.row_number().over(w).alias("rn"), F.sum("id").over(w).alias("running")))
check("window", ranked, [(1, 1, 1), (2, 1, 2), (3, 2, 4), (4, 1, 4), (5, 2, 7), (6, 3, 10)])

# SQL, views, parameters
people.createOrReplaceTempView("people")
check("sql over a view", rows(spark.sql("SELECT dept, count(*) AS n FROM people GROUP BY dept")), [("a", 3), ("b", 2), ("c", 1)])
check("sql named args", rows(spark.sql("SELECT id FROM people WHERE id > :low", args={"low": 4})), [(5,), (6,)])
check("spark.sql names computed columns as Spark does",
      spark.sql("SELECT dept, count(*), sum(id), id + 1, upper(dept), cast(id AS string) "
                "FROM people GROUP BY dept, id").columns,
      ["dept", "count(1)", "sum(id)", "(id + 1)", "upper(dept)", "id"])
check("ORDER BY sorts NULL first ascending and last descending, as Spark does",
      [[r.a for r in spark.sql("SELECT a FROM VALUES (1), (NULL), (2) t(a) ORDER BY a").collect()],
       [r.a for r in spark.sql("SELECT a FROM VALUES (1), (NULL), (2) t(a) ORDER BY a DESC").collect()]],
      [[None, 1, 2], [2, 1, None]])
check("VALUES integers are ints when they fit, as Spark types them",
      spark.sql("SELECT * FROM VALUES (1, -2, 1), (3, NULL, 3000000000) t(a, b, c)").schema.simpleString(),
      "struct<a:int,b:int,c:bigint>")
check("a decimal meeting a double is a double, as Spark widens it",
      [r[0] for r in spark.sql("SELECT typeof(v) FROM VALUES (0.0), (pi()) t(v) "
                               "UNION ALL SELECT typeof(coalesce(0.5, pi()))").collect()],
      ["double", "double", "double"])
arrays = spark.createDataFrame([([1, 2], 1, "a", "b")], "a array<int>, k int, v1 string, v2 string")
spark.conf.set("spark.sql.mapKeyDedupPolicy", "LAST_WIN")
spark.conf.set("spark.sql.ansi.enabled", "false")
check("a session's SQL settings reach the tasks that compute its columns",
      arrays.select(F.create_map("k", "v1", "k", "v2").alias("m"), F.element_at("a", 5).alias("e"))
      .first().asDict(), {"m": {1: "b"}, "e": None})
spark.conf.unset("spark.sql.mapKeyDedupPolicy")
spark.conf.unset("spark.sql.ansi.enabled")
check("seeded uuid() draws Spark's UUIDs",
      spark.range(0, 2, 1, 1).select(F.uuid(seed=123).alias("u")).first().u,
      "4c99192d-23d6-4d88-b814-a634398120f0")
check("struct fields take their aliases",
      spark.range(1).select(F.struct(F.lit(0).alias("count"), F.lit(0.5).alias("sum")).alias("s"))
      .first().s.asDict(), {"count": 0, "sum": 0.5})
check("a lambda reads its struct parameter's fields",
      spark.range(1).select(F.aggregate(F.array(F.lit(1.0), F.lit(2.0)),
                                        F.struct(F.lit(0).alias("n"), F.lit(0.0).alias("s")),
                                        lambda acc, x: F.struct((acc.n + 1).alias("n"), (acc.s + x).alias("s")),
                                        lambda acc: acc.s / acc.n).alias("mean")).first().mean, 1.5)
check("sql positional args", rows(spark.sql("SELECT id FROM people WHERE dept = ? AND id < ?", args=["a", 3])), [(1,)])
spark.sql("SET spark.sql.shuffle.partitions=3")
check("conf set by SQL", spark.conf.get("spark.sql.shuffle.partitions"), "3")
spark.conf.set("spark.sql.shuffle.partitions", "5")
check("conf set", spark.conf.get("spark.sql.shuffle.partitions"), "5")
check("conf default", spark.conf.get("spark.sql.some.unknown.key", "fallback"), "fallback")
check("catalog tables", [t.name for t in spark.catalog.listTables() if t.isTemporary], ["people"])
check("catalog exists", spark.catalog.tableExists("people"), True)
check("catalog database", spark.catalog.currentDatabase(), "default")

# files: write then read back
parquet_path = os.path.join(work, "people.parquet")
people.write.mode("overwrite").parquet(parquet_path)
check("parquet round trip", rows(spark.read.parquet(parquet_path)), rows(people))
csv_path = os.path.join(work, "people.csv")
people.select("id", "dept").write.mode("overwrite").option("header", "true").csv(csv_path)
back = spark.read.option("header", "true").option("inferSchema", "true").csv(csv_path)
check("csv round trip", rows(back), rows(people.select("id", "dept")))
check("csv with DDL schema", spark.read.schema("id INT, dept STRING").option("header", "true").csv(csv_path).dtypes, [("id", "int"), ("dept", "string")])
json_path = os.path.join(work, "people.json")
people.select("id", "name").write.mode("overwrite").json(json_path)
check("json round trip", rows(spark.read.json(json_path).select("id", "name")), rows(people.select("id", "name")))
partitioned = os.path.join(work, "by_dept")
people.write.mode("overwrite").partitionBy("dept").parquet(partitioned)
check("partitioned write", sorted(d for d in os.listdir(partitioned) if d.startswith("dept=")), ["dept=a", "dept=b", "dept=c"])

# managed tables, seen by every session of the application
people.select("id", "dept").write.saveAsTable("staff")
check("saveAsTable then table", rows(spark.table("staff")), rows(people.select("id", "dept")))
spark.createDataFrame([(7, "d")], ["n", "d"]).write.insertInto("staff")
check("insertInto matches columns by position", rows(spark.table("staff").filter("id = 7")), [(7, "d")])
people.select("id").write.mode("overwrite").saveAsTable("staff")
check("saveAsTable overwrite", spark.table("staff").columns, ["id"])
spark.sql("CREATE TABLE IF NOT EXISTS made (k INT, v STRING) USING parquet")
spark.sql("INSERT INTO made VALUES (1, 'x')")
check("CREATE TABLE USING", rows(spark.sql("SELECT k, v FROM made")), [(1, "x")])
spark.sql("CREATE TABLE copied USING parquet AS SELECT k FROM made")
check("CTAS", rows(spark.table("copied")), [(1,)])
check("tables listed", sorted(t.name for t in spark.catalog.listTables() if not t.isTemporary), ["copied", "made", "staff"])
spark.sql("DROP TABLE made")
check("DROP TABLE", spark.catalog.tableExists("made"), False)

# pandas and local data
check("toPandas", frame_rows(people.toPandas()), frame_rows(people_pd))
check("createDataFrame with DDL schema", spark.createDataFrame([(1, "x")], "a int, b string").dtypes, [("a", "int"), ("b", "string")])
check("empty result", people.filter(F.col("id") > 100).collect(), [])
check("empty toPandas columns", list(people.filter(F.col("id") > 100).toPandas().columns), ["id", "name", "dept", "salary"])
summary = {r["summary"]: r["id"] for r in people.describe().collect()}
check("describe of strings", {r["summary"]: r["name"] for r in people.describe().collect()}["max"], "eve")
check("describe", (summary["count"], summary["min"], summary["max"]), ("6", "1", "6"))
check("stat.corr", round(people.stat.corr("id", "salary"), 9), round(people_pd["id"].corr(people_pd["salary"]), 9))
check("stat.cov", round(people.stat.cov("id", "salary"), 9), round(people_pd["id"].cov(people_pd["salary"]), 9))
try:
    people.stat.corr("id", "name")
    raise AssertionError("corr of a string column")
except Exception as e:
    check("stat.corr of a string column", "correlation calculation for columns with dataType string" in str(e), True)
table = pd.crosstab(people_pd["dept"], people_pd["id"] % 2)
crosstab = people.withColumn("odd", F.col("id") % 2).stat.crosstab("dept", "odd")
check("stat.crosstab columns", crosstab.columns, ["dept_odd"] + [str(c) for c in sorted(table.columns, key=str)])
check("stat.crosstab", rows(crosstab), sorted([(d,) + tuple(int(table.loc[d, c]) for c in sorted(table.columns, key=str)) for d in table.index], key=repr))
records = spark.createDataFrame([('{"name": "ann", "age": 25}',), ('{"name": "bob", "age": 30, "x": [1.5]}',)], "value string")
check("read.json of a DataFrame", rows(spark.read.json(records)), [(25, "ann", None), (30, "bob", [1.5])])
check("zipWithIndex in partition order", spark.range(0, 100, 1, 4).zipWithIndex("i").filter("id != i").count(), 0)
# date_trunc of a column (the driver simplifies Spark's date_trunc into DataFusion's, which
# the executors must find under the same name).
check("date_trunc and trunc of columns",
    rows(spark.createDataFrame([(datetime.datetime(1997, 2, 28, 5, 2, 11),)], "t timestamp")
        .select(F.date_trunc("year", "t"), F.trunc(F.col("t").cast("date"), "MM"))),
    [(datetime.datetime(1997, 1, 1), datetime.date(1997, 2, 1))])
# Spark allows two columns of one name; the second is planned under a name of its own.
twice = spark.range(3).select("id", "id")
check("duplicate column names", (twice.columns, rows(twice), list(twice.toPandas().columns)),
    (["id", "id"], [(0, 0), (1, 1), (2, 2)], ["id", "id"]))
check("nth_value over a window", rows(spark.createDataFrame([("a", 1), ("a", 2), ("b", 8)], ["k", "v"])
    .select("k", "v", F.nth_value("v", 2).over(Window.partitionBy("k").orderBy("v")))),
    [("a", 1, None), ("a", 2, 2), ("b", 8, None)])
check("a tuple is a struct", spark.sql("SELECT (DATE'2022-02-22', 1) AS t").first().t.asDict(),
    {"col1": datetime.date(2022, 2, 22), "col2": 1})
check("hash(*) in SQL and DataFrames (Spark's values)",
    (spark.sql("SELECT hash(*) FROM VALUES ('ABC', 'DEF') t(c1, c2)").first()[0],
     spark.createDataFrame([("ABC", "DEF")], ["c1", "c2"]).select(F.hash("*")).first()[0]),
    (599895104, 599895104))
check("approxQuantile", people.approxQuantile("salary", [0.0, 0.5, 1.0], 0.0),
    [50.0, 200.0, 400.0])
check("transpose", rows(spark.createDataFrame([("A", 1, 2), ("B", 3, 4)], ["id", "v1", "v2"]).transpose()),
    [("v1", 1, 3), ("v2", 2, 4)])
check("repartition", people.repartition(3).count(), 6)
check("repartition by column", people.repartition(2, "dept").count(), 6)
check("sample", 300 <= spark.range(1000).sample(fraction=0.5, seed=7).count() <= 700, True)
left, right = spark.range(1000).randomSplit([0.3, 0.7], seed=11)
check("randomSplit partitions the rows", sorted(r.id for r in left.union(right).collect()), list(range(1000)))
check("show", people.orderBy("id")._show_string(2).splitlines()[0], "+---+----+----+------+")

# errors reach the client as Spark's exception classes
try:
    people.select("no_such_column").collect()
    raise AssertionError("an unknown column must fail")
except AnalysisException as error:
    check("unknown column", "no_such_column" in str(error), True)
# Python UDFs, evaluated by the executors' Python workers
@F.udf(returnType=LongType())
def plus_one(x):
    return None if x is None else x + 1


@F.udf
def shout(s):
    return None if s is None else s.upper() + "!"


@F.pandas_udf("double")
def halve(v: pd.Series) -> pd.Series:
    return v / 2


@F.pandas_udf("long")
def scaled(batches: Iterator[pd.Series]) -> Iterator[pd.Series]:
    for ids in batches:
        yield ids * 10


got = rows(people.select("id", plus_one("id"), shout("name"), halve("salary"), scaled("id")))
expected = frame_rows(
    people_pd.assign(
        p=people_pd.id + 1,
        s=people_pd.name.map(lambda n: None if n is None else n.upper() + "!"),
        h=people_pd.salary / 2,
        t=people_pd.id * 10,
    )[["id", "p", "s", "h", "t"]]
)
check("python udfs", [tuple(None if (isinstance(v, float) and math.isnan(v)) else v for v in r) for r in got], expected)
check("udf column name", people.select(plus_one("id"), shout(F.col("name"))).columns, ["plus_one(id)", "shout(name)"])


@F.udf(returnType=LongType())
def weigh(a, b):
    return a + 10 * b


keyword_call = spark.range(2).select(weigh(b=F.col("id") * 10, a=F.col("id")), weigh(F.col("id"), b=F.lit(1)), halve(v=F.col("id")))
check("cast to a map type", spark.sql("SELECT map(1, 2) m, CAST(NULL AS MAP<INT, ARRAY<STRING>>) n").select(F.col("m").cast("map<string,string>"), "n").collect(), [Row(m={"1": "2"}, n=None)])
check("udf keyword arguments", (keyword_call.columns, rows(keyword_call)), (["weigh(b => (id * 10), a => id)", "weigh(id, b => 1)", "halve(v => id)"], [(0, 10, 0.0), (101, 11, 0.5)]))
check("udf in filter and aggregate",
    rows(people.filter(plus_one("id") > 3).groupBy("dept").agg(F.sum(plus_one("id")).alias("t"))),
    frame_rows(people_pd[people_pd.id + 1 > 3].assign(t=lambda d: d.id + 1).groupby("dept", as_index=False)["t"].sum()),
)


@F.pandas_udf("double")
def mean_salary(v: pd.Series) -> float:
    return v.mean()


# A grouped-aggregate pandas UDF sees all of a group's rows (partial lists merged after the
# shuffle), in groupBy().agg and over a window of the whole partition.
check("grouped aggregate pandas udf",
    [(d, round(m, 6)) for d, m in rows(people.groupBy("dept").agg(mean_salary("salary")))],
    sorted(((d, round(m, 6)) for d, m in people_pd.groupby("dept")["salary"].mean().items()), key=repr),
)
check("grouped aggregate pandas udf over a window",
    rows(people.select("id", F.round(mean_salary("salary").over(Window.partitionBy("dept")), 6))),
    sorted(zip(people_pd.id, people_pd.groupby("dept")["salary"].transform("mean").round(6)), key=repr),
)
# mapInPandas / mapInArrow: the function sees an iterator of each partition's batches.
def rich(frames):
    for frame in frames:
        yield frame[frame.salary > 150][["name", "salary"]]


check("mapInPandas", rows(people.mapInPandas(rich, "name string, salary double")),
    frame_rows(people_pd[people_pd.salary > 150][["name", "salary"]]))


def counted(batches):
    yield pa.RecordBatch.from_pydict({"n": [sum(b.num_rows for b in batches)]})


check("mapInArrow per partition",
    rows(spark.range(0, 100, 1, 4).mapInArrow(counted, "n long").groupBy().sum()), [(100,)])


# applyInPandas: the rows of each group (shuffled by the key) with the key when asked for.
def dept_total(key, frame):
    return pd.DataFrame({"dept": [key[0]], "total": [frame.salary.sum()], "n": [len(frame)]})


expected_totals = people_pd.groupby("dept").agg(total=("salary", "sum"), n=("id", "size")).reset_index()
check("applyInPandas", rows(people.groupBy("dept").applyInPandas(dept_total, "dept string, total double, n long")),
    frame_rows(expected_totals[["dept", "total", "n"]]))
# Spark makes NULL of a result whose Python type does not fit the declared type.
wrong_type = F.udf(lambda x: x, DoubleType())
check("udf result of the wrong type", rows(spark.range(2).select(wrong_type("id"))), [(None,), (None,)])
pair = F.udf(lambda r: f"{r.dept}:{r.id}")
check("udf of a struct", rows(people.filter("id < 3").select(pair(F.struct("id", "dept")))), [("a:1",), ("b:2",)])
spark.udf.register("name_length", lambda s: None if s is None else len(s), IntegerType())
people.createOrReplaceTempView("udf_people")
check("registered udf in SQL",
    rows(spark.sql("SELECT id, name_length(name) FROM udf_people")),
    sorted([(i, None if n is None else len(n)) for i, n in zip(people_pd.id, people_pd.name)], key=repr),
)
try:
    spark.range(3).select(F.udf(lambda x: 1 // (x - x))("id")).collect()
    raise AssertionError("a failing UDF must fail the job")
except PythonException as error:
    check("python exception", "ZeroDivisionError" in str(error), True)
# Workers are reused: one per task slot at most, across jobs.
worker = F.udf(lambda _: f"{os.getpid()} {os.getppid()}")
seen = set()
for _ in range(3):
    seen |= {r[0] for r in spark.range(0, 40, 1, 4).select(worker("id")).collect()}
workers = {pid for pid, _ in (s.split() for s in seen)}
check("python workers reused", len(workers) <= 2, True)
parents = {int(ppid) for _, ppid in (s.split() for s in seen)}
check("python workers of executors", (os.getppid() in parents) != executors_apart, True)

# The session time zone: a timestamp is an instant, read, shown and split into fields in it.
spark.conf.set("spark.sql.session.timeZone", "America/Los_Angeles")
stamp = spark.sql("SELECT timestamp'2015-04-08 12:12:12' AS t").select(
    F.hour("t"), F.unix_timestamp("t"), F.col("t").cast("string"), F.from_unixtime(F.lit(0)), F.current_timezone()
)
check("session time zone", tuple(stamp.first()), (12, 1428520332, "2015-04-08 12:12:12", "1969-12-31 16:00:00", "America/Los_Angeles"))
instant = datetime.datetime(2015, 4, 8, 19, 12, 12, tzinfo=datetime.timezone.utc)
sent = spark.createDataFrame([(instant,)], ["t"]).select(F.hour("t"), F.unix_timestamp("t"), F.col("t").cast("long"))
check("instants from the client", tuple(sent.first()), (12, 1428520332, 1428520332))
back = spark.sql("SELECT timestamp'2015-04-08 12:12:12' AS t").first().t
# A naive datetime is the client's local time, as PySpark hands them out.
check("instants to the client", back.astimezone(datetime.timezone.utc), instant)
spark.conf.unset("spark.sql.session.timeZone")

# Generators in a DataFrame projection: one input row becomes several output rows.
arrays = spark.createDataFrame([(1, [1, 2], {"k": "v"}), (2, [], {}), (3, None, None)], "id int, a array<int>, m map<string,string>")
check("explode", rows(arrays.select("id", F.explode("a"))), [(1, 1), (1, 2)])
check("explode_outer", rows(arrays.select("id", F.explode_outer("a"))), [(1, 1), (1, 2), (2, None), (3, None)])
check("posexplode", rows(arrays.select("id", F.posexplode("a"))), [(1, 0, 1), (1, 1, 2)])
check("explode map", arrays.select(F.explode("m").alias("key2", "value2")).collect(), [Row(key2="k", value2="v")])
check("withColumn explode", arrays.withColumn("x", F.explode("a")).columns, ["id", "a", "m", "x"])
check("stack", rows(spark.range(1).select(F.stack(F.lit(2), F.lit(1), F.lit(2), F.lit(3)))), [(1, 2), (3, None)])
check("json_tuple", rows(spark.createDataFrame([('{"f": 1}',)], ["j"]).select(F.json_tuple("j", "f"))), [("1",)])

# Names are case-insensitive, as in Spark (spark.sql.caseSensitive is false).
mixed = spark.createDataFrame([(1, "x")], ["Id", "Label"])
mixed.createOrReplaceTempView("Mixed")
check("columns ignore case in SQL", rows(spark.sql("SELECT id, `LABEL` FROM mixed WHERE Id = 1")), [(1, "x")])
check("columns ignore case in expressions", rows(mixed.filter("ID > 0").select("label")), [("x",)])
check("views ignore case", spark.read.table("MIXED").count(), 1)
spark.sql("DROP TABLE mixed")
check("DROP TABLE drops a temporary view", spark.catalog.tableExists("mixed"), False)
check("text functions take numbers as text", rows(spark.range(1).select(F.upper(F.col("id") + 7), F.repeat(F.lit(5), 2))), [("7", "55")])
check("sqrt of a negative number is NaN", math.isnan(spark.sql("SELECT sqrt(-4)").collect()[0][0]), True)
check("table functions in any case", spark.sql("SELECT count(*) FROM RANGE(3)").collect()[0][0], 3)
stamps = spark.createDataFrame([(datetime.datetime(2015, 4, 8, 13, 8, 15),)], ["ts"])
check("extract of a column", rows(stamps.select(*[F.extract(F.lit(p), "ts") for p in ["dow", "dow_iso", "week", "quarter", "doy"]])), [(4, 3, 15, 2, 98)])
paths = spark.createDataFrame([("%Drive%/Users", "/%Drive/%//Users"), ("x/Users", "/%Drive/%//Users")], ["a", "p"])
check("like with an escape character", rows(paths.select(F.like("a", "p", F.lit("/")), F.col("a").like("x/%"))), [(False, True), (True, False)])
check("count(expr('*'))", rows(paths.select(F.count(F.expr("*")))), [(2,)])
check("binary reverse and matches", rows(spark.sql("SELECT hex(reverse(x'CAFE')), startswith(x'414243', x'4142'), endswith(x'414243', x'4142'), contains(x'414243', x'4243')")), [("FECA", True, False, True)])
nested = spark.createDataFrame([Row(a=Row(b=1, c=2, e=Row(f=4, g=5)))])
check("withField", rows(nested.select(F.col("a").withField("b", F.lit(3)).withField("e.x", F.lit(7)).alias("a")).select("a.b", "a.e.x")), [(3, 7)])
check("dropFields", nested.select(F.col("a").dropFields("c", "e.g").alias("a")).collect(), [Row(a=Row(b=1, e=Row(f=4)))])
ages = spark.createDataFrame([(2, "Al"), (5, "Bo"), (8, "Mo")], ["age", "name"])
picked = spark.createDataFrame([(2,), (8,)], ["a"])
check("isin(DataFrame)", rows(ages.filter(ages.age.isin(picked.select("a"))).select("name")), [("Al",), ("Mo",)])
check("not isin(DataFrame)", rows(ages.filter(~ages.age.isin(picked.select("a"))).select("name")), [("Bo",)])
check("struct isin(DataFrame)", rows(ages.where(F.struct(ages.age, ages.name).isin(spark.range(6).select("id", F.lit("Bo")))).select("age")), [(5,)])
check("scalar()", rows(ages.select(picked.select(F.max("a")).scalar().alias("m")).distinct()), [(8,)])
check("exists()", (ages.filter(picked.exists()).count(), ages.filter(picked.where("a > 100").exists()).count()), (3, 0))
# Correlated subqueries: col(...).outer() names a column of the query the subquery sits in.
check("correlated exists()", rows(ages.alias("g").where(picked.alias("p").where(F.col("p.a") == F.col("g.age").outer()).exists()).select("name")), [("Al",), ("Mo",)])
check("correlated not exists()", rows(ages.alias("g").where(~picked.alias("p").where(F.col("p.a") > F.col("g.age").outer()).exists()).select("name")), [("Mo",)])
check("correlated scalar()", rows(ages.alias("g").select("name", picked.alias("p").where(F.col("p.a") == F.col("g.age").outer()).select(F.count("a")).scalar().alias("n"))), [("Al", 1), ("Bo", 0), ("Mo", 1)])
check("product", rows(spark.range(1, 6).groupBy((F.col("id") % 2).alias("odd")).agg(F.product("id"))), [(0, 8.0), (1, 15.0)])
try:
    spark.sql("SELECT (SELECT x FROM VALUES (1), (2) t(x))").collect()
    too_many = "no error"
except Exception as error:
    too_many = str(error)
check("scalar subquery of two rows fails", "SCALAR_SUBQUERY_TOO_MANY_ROWS" in too_many, True)
check("scalar subquery of no rows is NULL", spark.sql("SELECT (SELECT x FROM VALUES (1) t(x) WHERE x > 5)").collect()[0][0], None)
check("no columns, still rows", len(spark.range(5).select().collect()), 5)
check("isEmpty", (spark.range(0).isEmpty(), spark.range(1).isEmpty()), (True, False))
check("alias metadata", spark.range(1).select(F.col("id").alias("x", metadata={"max": 9})).schema["x"].metadata, {"max": 9})
check("withMetadata", spark.range(1).withMetadata("id", {"k": "v"}).schema["id"].metadata, {"k": "v"})
wide = spark.createDataFrame([(1, 11, 1.5), (2, 12, 2.5)], ["id", "a", "b"])
check("unpivot", wide.unpivot("id", ["a", "b"], "var", "val").collect(), [Row(id=1, var="a", val=11.0), Row(id=1, var="b", val=1.5), Row(id=2, var="a", val=12.0), Row(id=2, var="b", val=2.5)])
check("to(schema)", rows(wide.to(StructType([StructField("b", StringType()), StructField("id", LongType())]))), [("1.5", 1), ("2.5", 2)])
check("freqItems", sorted(wide.union(wide).freqItems(["a"]).collect()[0][0]), [11, 12])
wide.createOrReplaceGlobalTempView("wide")
check("global temp view", spark.sql("SELECT count(*) FROM global_temp.wide").collect()[0][0], 2)
check("drop global temp view", spark.catalog.dropGlobalTempView("wide"), True)
wide.createOrReplaceTempView("wide_view")
check("SHOW TABLES", [tuple(r) for r in spark.sql("SHOW TABLES").collect() if r.tableName == "wide_view"], [("", "wide_view", True)])

# Files: csv nullValue both ways, partition discovery, several paths with their columns merged.
with tempfile.TemporaryDirectory() as d:
    spark.createDataFrame([(1, "p", None), (2, "q", "n")], "id int, part string, v string").write.partitionBy("part").option("nullValue", "NA").csv(d + "/csv")
    read_back = spark.read.schema("id int, v string").csv(d + "/csv")
    check("csv partition discovery", read_back.columns, ["id", "v", "part"])
    check("csv nullValue written", rows(read_back), [(1, "NA", "p"), (2, "n", "q")])
    check("csv nullValue read", rows(spark.read.schema("id int, v string").option("nullValue", "n").csv(d + "/csv").select("id", "v")), [(1, "NA"), (2, None)])
    spark.range(2).write.parquet(d + "/a")
    spark.range(1).withColumn("extra", F.lit("e")).write.parquet(d + "/b")
    check("several paths", rows(spark.read.parquet(d + "/a", d + "/b")), [(0, "e"), (0, None), (1, None)])
    os.makedirs(d + "/text")
    with open(d + "/text/one.txt", "w") as f:
        f.write("to be\r\nor not\n\nto be\n")
    with open(d + "/text/two.txt", "w") as f:
        f.write("that is")
    text = spark.read.text(d + "/text")
    check("text lines", (text.columns, sorted(r.value for r in text.collect())),
          (["value"], ["", "or not", "that is", "to be", "to be"]))
    check("text word count", rows(text.select(F.explode(F.split("value", " ")).alias("w")).where("w != ''").groupBy("w").count()),
          [("be", 2), ("is", 1), ("not", 1), ("or", 1), ("that", 1), ("to", 2)])
    check("text wholetext and lineSep", (spark.read.text(d + "/text/one.txt", wholetext=True).first().value,
                                         [r.value for r in spark.read.text(d + "/text/two.txt", lineSep=" ").collect()]),
          ("to be\r\nor not\n\nto be\n", ["that", "is"]))
    spark.range(0, 10, 1, 3).selectExpr("CASE WHEN id = 4 THEN NULL ELSE CAST(id AS STRING) END AS v") \
        .write.text(d + "/written")
    written = sorted(f for f in os.listdir(d + "/written") if not f.startswith("_"))
    check("text written as one file per partition, NULL as an empty line",
          (len(written), sorted(r.value for r in spark.read.text(d + "/written").collect())),
          (3, ["", "0", "1", "2", "3", "5", "6", "7", "8", "9"]))

try:
    spark.sql("SELEC 1").collect()
    raise AssertionError("bad SQL must fail")
except ParseException:
    check("parse error", True, True)
try:
    spark.sql("-- nothing but a comment").collect()
    raise AssertionError("an empty statement must fail")
except ParseException as error:
    check("empty statement", error.getCondition(), "PARSE_EMPTY_STATEMENT")
try:
    spark.sql("SELECT 1/0").collect()
    raise AssertionError("division by zero must fail in ANSI mode")
except ArithmeticException as error:
    check("divide by zero", error.getCondition(), "DIVIDE_BY_ZERO")
try:
    people.select(F.call_function("no_such_function", "id")).collect()
    raise AssertionError("an unknown function must fail")
except AnalysisException as error:
    check("unknown function", "no_such_function" in str(error), True)

# cache(), persist and the catalog's cache calls, as in Spark.
from pyspark import StorageLevel
cached = spark.range(100).withColumn("k", F.col("id") % 3).cache()
check("cache level", str(cached.storageLevel), "Disk Memory Deserialized 1x Replicated")
check("cached answer", rows(cached.groupBy("k").count().orderBy("k")), [(0, 34), (1, 33), (2, 33)])
check("cached again", cached.count(), 100)
check("unpersisted level", str(cached.unpersist().storageLevel), "Serialized 1x Replicated")
on_disk = spark.range(10).persist(StorageLevel.DISK_ONLY)
check("persist level", str(on_disk.storageLevel), "Disk Serialized 1x Replicated")
on_disk.createOrReplaceTempView("on_disk")
spark.catalog.uncacheTable("on_disk")
check("uncached table", spark.catalog.isCached("on_disk"), False)
spark.catalog.cacheTable("on_disk")
check("cached table", spark.catalog.isCached("on_disk"), True)
spark.catalog.clearCache()
check("cleared", spark.catalog.isCached("on_disk"), False)

spark.stop()
print("ALL CHECKS PASSED", flush=True)

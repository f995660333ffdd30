-- Arrays, maps, structs and generators.
SELECT size(array(1,2));
SELECT size(NULL);
SELECT explode(array(1,2));
SELECT posexplode(array('a','b'));
SELECT explode(map('a',1,'b',2));
SELECT inline(array(struct(1,'a'),struct(2,'b')));
SELECT stack(2, 1, 2, 3, 4);
-- Higher-order functions.
SELECT transform(array(1,2,3), x -> x + 1);
SELECT filter(array(1,2,3), x -> x % 2 = 1);
SELECT aggregate(array(1,2,3), 0, (acc, x) -> acc + x);
SELECT exists(array(1,2), x -> x > 1);
-- How nested values print.
SELECT array(1,2,3);
SELECT array('a', NULL);
SELECT map('a', 1, 'b', 2);
SELECT named_struct('a', 1, 'b', 'x');
SELECT struct(1, 'x');
SELECT array(array(1), array(2,3));
SELECT map('a', array(1,2));
SELECT array(1.5D, 2.0D);
SELECT array(date'2024-01-01');
SELECT sort_array(array(3,1,2));
SELECT array_contains(array(1,2), 2);
-- Element access: element_at is 1-based, [] is 0-based; out of bounds fails under ANSI.
SELECT element_at(array(1,2,3), 2);
SELECT element_at(array(1,2,3), 5);
SELECT array(1,2,3)[0];
SELECT array(1,2,3)[5];
SELECT map('a',1)['a'];
SELECT map('a',1)['z'];
-- Aggregates producing collections.
SELECT collect_list(x) FROM VALUES (1), (2), (2) AS t(x);
SELECT sort_array(collect_set(x)) FROM VALUES (1), (2), (2) AS t(x);
SELECT percentile(x, 0.5) FROM VALUES (1), (2), (3), (4) AS t(x);
-- Table-valued functions and inline tables.
SELECT id FROM range(3);
SELECT * FROM range(1, 10, 3);
SELECT * FROM range(0, 6, 2, 3);
SELECT count(*) FROM range(1000);
SELECT a, b FROM VALUES (1, 'x'), (2, 'y') AS t(a, b);
-- LATERAL VIEW.
SELECT t.x, e FROM VALUES (array(1,2)) AS t(x) LATERAL VIEW explode(x) v AS e;
SELECT x, e FROM VALUES (array(1,2)), (array()) AS t(x) LATERAL VIEW OUTER explode(x) v AS e;
SELECT k, v FROM VALUES (map('a',1)) AS t(m) LATERAL VIEW explode(m) e AS k, v;
-- Hints and Hive-style distribution clauses.
SELECT /*+ BROADCAST(r) */ l.id FROM range(3) l JOIN range(2) r ON l.id = r.id ORDER BY l.id;
SELECT /*+ REPARTITION(4) */ count(*) FROM range(10);
SELECT /*+ COALESCE(1) */ count(*) FROM range(10);
SELECT id FROM range(10) DISTRIBUTE BY id % 2 SORT BY id;
SELECT id FROM range(4) CLUSTER BY id;
-- Typed literals and how values print.
SELECT date '2024-01-15';
SELECT timestamp '2024-01-15 10:11:12';
SELECT interval 1 day;
SELECT interval '1-2' year to month;
SELECT date '2024-01-15' + interval 1 day;
SELECT 1L;
SELECT 1.5D;
SELECT 1.50;
SELECT 1e3;
SELECT 100.0D;
SELECT 1.0E10D;
SELECT 1.0E-5D;
SELECT 123456789.123D;
SELECT 1234567890123.0D;
SELECT cast(1 as float) / 3;
SELECT true;
SELECT NULL;
SELECT timestamp '2024-01-15 10:11:12.5';
-- Aggregates.
SELECT max(id), min(id), sum(id), avg(id) FROM range(5);
SELECT sum(cast(id as decimal(10,2))) FROM range(5);
SELECT avg(cast(id as decimal(10,2))) FROM range(5);
SELECT count(DISTINCT id % 3) FROM range(10);
SELECT id % 3 AS k, count(*) FROM range(10) GROUP BY id % 3 ORDER BY k;
SELECT stddev(id), variance(id) FROM range(5);

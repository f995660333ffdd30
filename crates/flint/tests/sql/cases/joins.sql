-- Spark's rules inside join conditions, where expressions name both sides.
SELECT l.id, r.v FROM range(3) l JOIN (SELECT '1' AS v UNION ALL SELECT '2') r ON l.id = CAST(r.v AS BIGINT) ORDER BY l.id;
SELECT l.id FROM range(4) l JOIN range(4) r ON l.id = r.id AND r.id / 2 > 0.5 ORDER BY l.id;
SELECT count(*) FROM range(10) a JOIN range(10) b ON a.id = b.id + 1 WHERE a.id div 2 = 1;
SELECT a.id, b.s FROM range(3) a LEFT JOIN (SELECT 1 AS k, 'x' AS s) b ON a.id = b.k ORDER BY a.id;

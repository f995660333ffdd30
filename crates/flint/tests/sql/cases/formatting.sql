-- How spark-sql (HiveResult.hiveResultString) prints values, top-level and nested.
-- Doubles: Java's Double.toString (scientific below 1e-3 and from 1e7 on).
SELECT 1.0D, 0.001D, 1e-4D, 1000000.0D, 1e7D;
SELECT -0.0D, cast('NaN' as double), cast('Infinity' as double), cast('-Infinity' as double);
SELECT cast(0.1 as float), cast(1e10 as float);
-- Decimals keep their scale.
SELECT 1.50, cast(1e21 as decimal(38,0)), 1e-20BD, cast(-0.5 as decimal(3,1));
-- Nested values print JSON-like: strings quoted inside collections, NULL as null.
SELECT array(1.5D, 1e10D, 1e-5D), array(1.50, 2.0);
SELECT array('a', NULL, ''), array('a"b');
SELECT map('k', NULL), map(1, 'x'), named_struct('a', NULL, 'b', 'x');
SELECT array(timestamp'2024-01-01 10:00:00.5'), array(date'2024-01-01'), map('d', date'2024-01-01');
SELECT array(interval 1 day), named_struct('i', interval '1-2' year to month);
SELECT array(X'41'), map(1, X'4142');
SELECT struct(1, 'a', array(struct(2, 'b')));
SELECT array(map('a', named_struct('x', array(1, NULL))));
-- Intervals.
SELECT interval 1 day, interval '1 2:03:04.5' day to second, interval '1-2' year to month, interval 3 month;
SELECT make_interval(1, 2, 3, 4, 5, 6, 7.5);
-- Datetimes.
SELECT timestamp'2024-01-01 00:00:00', timestamp'2024-01-01 00:00:00.123456', timestamp'2024-01-01 00:00:00.100';
SELECT timestamp_ntz'2024-01-01 10:11:12.5';
SELECT date'0001-01-01', date'9999-12-31';
-- Binary prints its bytes decoded as UTF-8.
SELECT X'414243', X'', cast('héllo' as binary);
-- Booleans and NULLs of every type.
SELECT true, false, cast(NULL as int), cast(NULL as string), cast(NULL as array<int>), cast(NULL as map<string,int>);

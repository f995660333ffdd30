-- CAST from string, ANSI mode on (the default): invalid input raises errors.
SELECT cast('12' as int);
SELECT cast('abc' as int);
SELECT cast(' 12 ' as int);
SELECT cast('1.9' as int);
SELECT cast('12' as bigint);
SELECT cast('abc' as bigint);
SELECT cast('1.5' as double);
SELECT cast('abc' as double);
SELECT cast('1e3' as double);
SELECT cast('12.345' as decimal(10,2));
SELECT cast('abc' as decimal(10,2));
SELECT cast('true' as boolean);
SELECT cast('yes' as boolean);
SELECT cast('abc' as boolean);
SELECT cast('2024-01-15' as date);
SELECT cast('2024-02-30' as date);
SELECT cast('abc' as date);
SELECT cast('2024-01-15 10:11:12' as timestamp);
SELECT cast('abc' as timestamp);
-- Numeric casts.
SELECT cast(3000000000 as int);
SELECT cast(1.9 as int);
SELECT cast(-1.9 as int);
SELECT cast(1e20 as bigint);
SELECT cast(true as int);
SELECT cast(1 as boolean);
SELECT cast(date'2024-01-15' as timestamp);
SELECT cast(timestamp'2024-01-15 10:11:12' as date);
SELECT cast(12.345 as decimal(4,2));
SELECT cast(123.45 as decimal(4,2));
SELECT try_cast('abc' as int);
-- Implicit coercion between strings and numbers.
SELECT '10' > 9;
SELECT '10' > '9';
SELECT 1 = '1';
SELECT 1 = '1.0';
SELECT 'abc' = 1;
SELECT '1' + 1;
SELECT typeof('1' + 1);
SELECT true = 'true';
-- Casts to string.
SELECT cast(1.0 as string);
SELECT cast(1.0D as string);
SELECT cast(1e10D as string);
SELECT cast(1e-5D as string);
SELECT cast(0.1F as string);
SELECT cast(array(1,2) as string);
SELECT cast(map('a',1) as string);
SELECT cast(named_struct('a',1,'b','x') as string);
-- typeof of literals and constructors.
SELECT typeof(array(1,2));
SELECT typeof(map('a',1));
SELECT typeof(named_struct('a',1,'b','x'));
SELECT typeof(date'2024-01-01');
SELECT typeof(timestamp'2024-01-01 00:00:00');
SELECT typeof(X'1F');
SELECT typeof(interval 1 day);
SELECT typeof(null);
SELECT typeof('a');
SELECT typeof(cast(1 as tinyint));
-- Legacy (non-ANSI) mode: invalid casts give NULL or wrap around.
SET spark.sql.ansi.enabled=false;
SELECT cast('abc' as int);
SELECT cast(3000000000 as int);
SELECT cast('2024-02-30' as date);

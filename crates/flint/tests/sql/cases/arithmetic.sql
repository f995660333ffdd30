-- Spark 4 SQL arithmetic, ANSI mode on (the default).
-- Integer literal division yields DOUBLE; div is integral division.
SELECT 7/2;
SELECT 7 div 2;
SELECT -7 div 2;
SELECT 7 % 3;
SELECT -7 % 3;
-- Division / remainder by zero raise errors under ANSI.
SELECT 1/0;
SELECT 1 div 0;
SELECT 1 % 0;
-- Overflow raises errors under ANSI.
SELECT 2147483647 + 1;
SELECT 9223372036854775807 + 1;
SELECT 2147483647L + 1;
SELECT -2147483648 - 1;
SELECT 46341 * 46341;
-- Literal types.
SELECT typeof(7/2);
SELECT typeof(1);
SELECT typeof(1L);
SELECT typeof(1S);
SELECT typeof(1Y);
SELECT typeof(1.5);
SELECT typeof(1.5D);
SELECT typeof(1.5F);
SELECT typeof(1.5BD);
SELECT typeof(1e3);
SELECT typeof(3000000000);
SELECT typeof(99999999999999999999);
-- Doubles and decimals.
SELECT 1.5D * 2;
SELECT 0.1 + 0.2;
SELECT 0.1D + 0.2D;
SELECT 1/3;
SELECT 10/4.0;
SELECT typeof(10/4.0);
SELECT 2.00 * 3.0;
SELECT typeof(2.00 * 3.0);
SELECT cast(1 as decimal(10,2)) / 3;
SELECT typeof(cast(1 as decimal(10,2)) / 3);
-- Rounding.
SELECT round(2.5);
SELECT round(-2.5);
SELECT round(2.345, 2);
SELECT round(1.5D);
SELECT bround(2.5);
SELECT ceil(1.2);
SELECT typeof(ceil(1.2));
SELECT floor(-1.2);
SELECT abs(-2147483648);
-- try_ variants return NULL instead of failing.
SELECT try_divide(1, 0);
SELECT try_add(2147483647, 1);
SELECT 1.0/0.0;
SELECT cast(1 as double)/0;
SELECT power(2, 10);
SELECT sqrt(-1);
SELECT 5 / 2 * 2;
SELECT pmod(-7, 3);
SELECT -(-2147483648);
-- Legacy (non-ANSI) mode: NULL on division by zero, wrap-around on overflow.
SET spark.sql.ansi.enabled=false;
SELECT 1/0;
SELECT 1 % 0;
SELECT 2147483647 + 1;
SELECT cast('abc' as int);
SELECT abs(-2147483648);
SELECT try_add(date'2021-01-31', 1), try_subtract(timestamp'2021-01-02 00:00:00', interval 1 day);
SELECT try_divide(interval 2 month, 2);

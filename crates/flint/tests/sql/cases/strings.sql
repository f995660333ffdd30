-- String functions and operators.
SELECT concat('a', NULL);
SELECT concat('a','b','c');
SELECT concat_ws('-', 'a', NULL, 'b');
-- substr positions are 1-based; 0 behaves like 1; negative counts from the end.
SELECT substr('hello', 0, 2);
SELECT substr('hello', 1, 2);
SELECT substr('hello', -3);
SELECT substring('hello', 2);
SELECT 'a' || 'b';
SELECT 'a' || NULL;
SELECT length('héllo');
SELECT upper('abc');
-- Pattern matching.
SELECT 'abc' rlike 'b';
SELECT 'abc' regexp '^a';
SELECT 'abc' like 'a%';
SELECT 'ABC' ilike 'a%';
-- Null-safe equality.
SELECT NULL <=> NULL;
SELECT 1 <=> NULL;
SELECT 1 <=> 1;
-- Formatting.
SELECT format_number(12332.123456, 4);
SELECT format_string('%d %s', 1, 'a');
SELECT date_format(cast('2024-01-15' as date), 'yyyy/MM/dd');
SELECT date_format(timestamp'2024-01-15 13:05:09', 'yyyy-MM-dd HH:mm:ss EEE MMM a');
SELECT to_date('2024/01/15', 'yyyy/MM/dd');
SELECT to_timestamp('2024-01-15 10:11:12', 'yyyy-MM-dd HH:mm:ss');
SELECT to_date('not a date');
-- Binary.
SELECT X'414243';
SELECT cast(X'414243' as string);
SELECT trim('  a  ');
SELECT lpad('a', 3, 'xy');
SELECT repeat('ab', 3);
SELECT split('a,b,c', ',');
SELECT reverse('abc');
SELECT instr('hello', 'l');
SELECT locate('l', 'hello', 4);
SELECT from_csv('"a,b", 1', 'x STRING, y INT');
SELECT to_csv(named_struct('a', 'x,y', 'b', 'q"r', 'c', 2));
SELECT instr(s, 'b'), levenshtein(s, 'abd') FROM VALUES ('abc'), ('bcd'), (NULL) AS t(s);
SELECT get_json_object('{"a":{"b":[1,2.50]}}', '$.a');
SELECT hash('Spark'), hash(1, 2L, 1.5D, NULL);

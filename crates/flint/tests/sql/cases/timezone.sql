-- Session time zone: timestamps are stored as UTC instants and printed in the session zone.
SET spark.sql.session.timeZone=America/Los_Angeles;
SELECT current_timezone();
SELECT timestamp '2024-01-15 10:11:12';
SELECT cast(timestamp '2024-01-15 10:11:12' as string);
SELECT from_unixtime(0);
SELECT to_timestamp('2024-01-15 10:11:12');
SELECT unix_timestamp(timestamp '2024-01-15 10:11:12');

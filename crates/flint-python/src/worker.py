# Flint's Python worker: evaluates PySpark UDFs for one executor (Spark's pyspark.worker).
#
# The executor writes requests to stdin and reads answers from stdout, each a sequence of
# frames (a 4-byte big-endian length, then that many bytes):
#   request: header (JSON), the pickled function if the header says it is new, the output
#            schema (an Arrow IPC stream without batches), the arguments (an Arrow IPC stream:
#            for a UDF one batch, one column per argument; for mapInPandas/mapInArrow all the
#            batches of one partition);
#   answer:  status (JSON: {"ok": true} or {"error": traceback}), then on success the result
#            (an Arrow IPC stream: for a UDF one batch with one column; for a map, the
#            batches the function yielded, with the output schema's columns).
# A worker serves requests until stdin closes; it keeps the functions it has unpickled.

import datetime
import decimal
import json
import math
import struct
import sys
import traceback

SQL_BATCHED_UDF = 100
SQL_ARROW_BATCHED_UDF = 101
SQL_SCALAR_PANDAS_UDF = 200
SQL_SCALAR_PANDAS_ITER_UDF = 204
SQL_SCALAR_ARROW_UDF = 250
SQL_SCALAR_ARROW_ITER_UDF = 251
SQL_GROUPED_AGG_PANDAS_UDF = 202
SQL_GROUPED_AGG_PANDAS_ITER_UDF = 217
SQL_GROUPED_AGG_ARROW_UDF = 252
SQL_GROUPED_AGG_ARROW_ITER_UDF = 254
SQL_MAP_PANDAS_ITER_UDF = 205
SQL_MAP_ARROW_ITER_UDF = 207
SQL_GROUPED_MAP_PANDAS_UDF = 201
SQL_GROUPED_MAP_ARROW_UDF = 209
MAP_EVAL_TYPES = (
    SQL_MAP_PANDAS_ITER_UDF,
    SQL_MAP_ARROW_ITER_UDF,
    SQL_GROUPED_MAP_PANDAS_UDF,
    SQL_GROUPED_MAP_ARROW_UDF,
)
GROUP_KEY_PREFIX = "__flint_key_"


def read_exactly(stream, n):
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def read_frame(stream):
    header = read_exactly(stream, 4)
    if header is None:
        return None
    (length,) = struct.unpack(">I", header)
    data = read_exactly(stream, length) if length else b""
    if data is None:
        raise EOFError("the executor closed the stream inside a frame")
    return data


def write_frame(stream, data):
    stream.write(struct.pack(">I", len(data)))
    stream.write(data)


class PythonException(Exception):
    """A failure the user's function did not raise itself (a wrong result, say)."""


def python_converter(arrow_type):
    """How a value of `arrow_type` reaches a row-at-a-time UDF: as Spark passes it."""
    import pyarrow as pa
    from pyspark.sql import Row

    if pa.types.is_struct(arrow_type):
        names = [arrow_type.field(i).name for i in range(arrow_type.num_fields)]
        fields = [python_converter(arrow_type.field(i).type) for i in range(arrow_type.num_fields)]

        def struct(value):
            if value is None:
                return None
            return Row(**{n: f(value[n]) for n, f in zip(names, fields)})

        return struct
    if pa.types.is_map(arrow_type):
        key, item = python_converter(arrow_type.key_type), python_converter(arrow_type.item_type)
        return lambda value: None if value is None else {key(k): item(v) for k, v in value}
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        element = python_converter(arrow_type.value_type)
        return lambda value: None if value is None else [element(v) for v in value]
    return lambda value: value


def accepts(arrow_type, value):
    """Whether Spark keeps `value` for a column of `arrow_type` (it makes NULL of the rest)."""
    import pyarrow as pa

    if value is None:
        return True
    if pa.types.is_boolean(arrow_type):
        return isinstance(value, bool)
    if pa.types.is_integer(arrow_type):
        return isinstance(value, int) and not isinstance(value, bool)
    if pa.types.is_floating(arrow_type):
        return isinstance(value, float)
    if pa.types.is_decimal(arrow_type):
        return isinstance(value, decimal.Decimal)
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return isinstance(value, str)
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
        return isinstance(value, (bytes, bytearray))
    if pa.types.is_timestamp(arrow_type):
        return isinstance(value, datetime.datetime)
    if pa.types.is_date(arrow_type):
        return isinstance(value, datetime.date) and not isinstance(value, datetime.datetime)
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return isinstance(value, (list, tuple))
    if pa.types.is_map(arrow_type):
        return isinstance(value, dict)
    return True


def arrow_value(arrow_type, value):
    """`value` as pyarrow takes it for `arrow_type` (a Row or dict for a struct, a dict for a map)."""
    import pyarrow as pa

    if value is None:
        return None
    if pa.types.is_struct(arrow_type):
        fields = [arrow_type.field(i) for i in range(arrow_type.num_fields)]
        if isinstance(value, dict):
            items = [value.get(f.name) for f in fields]
        elif hasattr(value, "asDict") and hasattr(value, "__fields__"):
            as_dict = value.asDict()
            items = [as_dict.get(f.name) for f in fields]
        else:
            items = list(value)
        return {f.name: arrow_value(f.type, v) for f, v in zip(fields, items)}
    if pa.types.is_map(arrow_type):
        return [
            (arrow_value(arrow_type.key_type, k), arrow_value(arrow_type.item_type, v))
            for k, v in value.items()
        ]
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return [arrow_value(arrow_type.value_type, v) for v in value]
    return value


def rows_to_arrow(results, arrow_type):
    import pyarrow as pa

    values = [arrow_value(arrow_type, v) if accepts(arrow_type, v) else None for v in results]
    try:
        return pa.array(values, type=arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        kept = []
        for value in values:
            try:
                pa.array([value], type=arrow_type)
                kept.append(value)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
                kept.append(None)
        return pa.array(kept, type=arrow_type)


def to_pandas(column):
    """An argument of a pandas UDF: a Series, or a DataFrame for a struct."""
    import pyarrow as pa

    if pa.types.is_struct(column.type):
        table = pa.Table.from_arrays(
            column.flatten(), names=[column.type.field(i).name for i in range(column.type.num_fields)]
        )
        return table.to_pandas()
    return column.to_pandas()


def pandas_to_arrow(result, arrow_type, num_rows):
    import pandas as pd
    import pyarrow as pa

    if isinstance(result, pd.DataFrame):
        if not pa.types.is_struct(arrow_type):
            raise PythonException(
                "a pandas UDF returned a DataFrame for a column of type %s" % arrow_type
            )
        fields = [arrow_type.field(i) for i in range(arrow_type.num_fields)]
        arrays = [
            pa.Array.from_pandas(result[f.name] if f.name in result else result.iloc[:, i],
                                 type=f.type, safe=False)
            for i, f in enumerate(fields)
        ]
        array = pa.StructArray.from_arrays(arrays, fields=fields)
    else:
        if not isinstance(result, pd.Series):
            raise PythonException(
                "[UDF_RETURN_TYPE] Return type of the user-defined function should be "
                "pandas.Series, but is %s." % type(result).__name__
            )
        array = pa.Array.from_pandas(result, type=arrow_type, safe=False)
    if len(array) != num_rows:
        raise PythonException(
            "[SCHEMA_MISMATCH_FOR_PANDAS_UDF] Result vector from pandas_udf was not the required "
            "length: expected %d, got %d." % (num_rows, len(array))
        )
    return array


def evaluate(eval_type, func, batch, arrow_type):
    import pyarrow as pa

    num_rows = batch.num_rows
    columns = batch.columns
    # Keyword arguments (`f(b=..., a=...)`) arrive as columns named `=keyword`, after the
    # positional ones (Spark's NamedArgumentExpression).
    keywords = [f.name[1:] for f in batch.schema if f.name.startswith("=")]
    if keywords:
        positional = len(columns) - len(keywords)
        call = func

        def func(*args):
            return call(*args[:positional], **dict(zip(keywords, args[positional:])))

        if eval_type not in (SQL_BATCHED_UDF, SQL_ARROW_BATCHED_UDF, SQL_SCALAR_PANDAS_UDF,
                             SQL_SCALAR_ARROW_UDF):
            raise PythonException(
                "Flint passes keyword arguments to row-at-a-time and scalar pandas and Arrow "
                "UDFs only, not to eval type %d" % eval_type
            )
    if eval_type in (SQL_BATCHED_UDF, SQL_ARROW_BATCHED_UDF):
        converted = [
            [convert(v) for v in column.to_pylist()]
            for column, convert in ((c, python_converter(c.type)) for c in columns)
        ]
        if converted:
            results = [func(*row) for row in zip(*converted)]
        else:
            results = [func() for _ in range(num_rows)]
        return rows_to_arrow(results, arrow_type)
    if eval_type == SQL_SCALAR_PANDAS_UDF:
        return pandas_to_arrow(func(*[to_pandas(c) for c in columns]), arrow_type, num_rows)
    if eval_type == SQL_SCALAR_PANDAS_ITER_UDF:
        args = [to_pandas(c) for c in columns]
        batches = iter([args[0] if len(args) == 1 else tuple(args)])
        parts = [pandas_to_arrow(r, arrow_type, len(r)) for r in func(batches)]
        array = pa.concat_arrays(parts) if parts else pa.array([], type=arrow_type)
        if len(array) != num_rows:
            raise PythonException(
                "[SCHEMA_MISMATCH_FOR_PANDAS_UDF] Result vector from pandas_udf was not the "
                "required length: expected %d, got %d." % (num_rows, len(array))
            )
        return array
    if eval_type in (SQL_SCALAR_ARROW_UDF, SQL_SCALAR_ARROW_ITER_UDF):
        if eval_type == SQL_SCALAR_ARROW_UDF:
            parts = [func(*columns)]
        else:
            args = iter([columns[0] if len(columns) == 1 else tuple(columns)])
            parts = list(func(args))
        parts = [p.combine_chunks() if isinstance(p, pa.ChunkedArray) else p for p in parts]
        array = pa.concat_arrays(parts) if parts else pa.array([], type=arrow_type)
        if array.type != arrow_type:
            array = array.cast(arrow_type, safe=False)
        if len(array) != num_rows:
            raise PythonException(
                "Result vector from arrow_udf was not the required length: expected %d, "
                "got %d." % (num_rows, len(array))
            )
        return array
    if eval_type in (SQL_GROUPED_AGG_PANDAS_UDF, SQL_GROUPED_AGG_PANDAS_ITER_UDF):
        # One group's rows: the function gives one value (Spark's wrap_grouped_agg_pandas_udf).
        import pandas as pd

        args = [to_pandas(c) for c in columns]
        if eval_type == SQL_GROUPED_AGG_PANDAS_UDF:
            result = func(*args)
        else:
            result = func(iter([args[0] if len(args) == 1 else tuple(args)]))
        return pandas_to_arrow(pd.Series([result]), arrow_type, 1)
    if eval_type in (SQL_GROUPED_AGG_ARROW_UDF, SQL_GROUPED_AGG_ARROW_ITER_UDF):
        if eval_type == SQL_GROUPED_AGG_ARROW_UDF:
            result = func(*columns)
        else:
            result = func(iter([columns[0] if len(columns) == 1 else tuple(columns)]))
        if isinstance(result, pa.Scalar):
            result = result.as_py()
        return pa.array([result], type=arrow_type)
    raise PythonException("Flint does not run Python UDFs of eval type %d" % eval_type)


def pandas_frame_to_batch(frame, schema):
    """A DataFrame that mapInPandas yielded as a batch of `schema`: columns matched by name
    when they are named by strings, else by position (as Spark assigns them)."""
    import pandas as pd
    import pyarrow as pa

    if not isinstance(frame, pd.DataFrame):
        raise PythonException(
            "[UDF_RETURN_TYPE] Return type of the user-defined function should be iterator of "
            "pandas.DataFrame, but is iterator of %s." % type(frame).__name__
        )
    if len(frame.columns) == 0 and len(frame) == 0:
        return pa.RecordBatch.from_pylist([], schema=schema)
    by_name = all(isinstance(c, str) for c in frame.columns)
    if by_name:
        missing = [f.name for f in schema if f.name not in frame.columns]
        if missing:
            raise PythonException(
                "[RESULT_COLUMNS_MISMATCH_FOR_PANDAS_UDF] Column names of the returned "
                "pandas.DataFrame do not match specified schema. Missing: %s."
                % ", ".join(missing)
            )
        series = [frame[f.name] for f in schema]
    else:
        if len(frame.columns) != len(schema):
            raise PythonException(
                "[RESULT_LENGTH_MISMATCH_FOR_PANDAS_UDF] Number of columns of the returned "
                "pandas.DataFrame doesn't match specified schema. Expected: %d Actual: %d"
                % (len(schema), len(frame.columns))
            )
        series = [frame.iloc[:, i] for i in range(len(schema))]
    arrays = [pa.Array.from_pandas(s, type=f.type, safe=False) for s, f in zip(series, schema)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def arrow_batch_to(batch, schema):
    """A batch that mapInArrow yielded, with the columns of `schema` (by name, else by position)."""
    import pyarrow as pa

    if isinstance(batch, pa.Table):
        batch = batch.combine_chunks().to_batches()[0] if batch.num_rows else None
    if batch is None:
        return pa.RecordBatch.from_pylist([], schema=schema)
    if not isinstance(batch, pa.RecordBatch):
        raise PythonException(
            "[UDF_RETURN_TYPE] Return type of the user-defined function should be iterator of "
            "pyarrow.RecordBatch, but is iterator of %s." % type(batch).__name__
        )
    names = batch.schema.names
    columns = []
    for i, field in enumerate(schema):
        if field.name in names:
            column = batch.column(names.index(field.name))
        elif i < batch.num_columns:
            column = batch.column(i)
        else:
            raise PythonException(
                "[RESULT_COLUMNS_MISMATCH_FOR_ARROW_UDF] Column names of the returned "
                "pyarrow.RecordBatch do not match specified schema. Missing: %s." % field.name
            )
        if column.type != field.type:
            column = column.cast(field.type, safe=False)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def hashable(value):
    """A key value as a dictionary key: NaN equal to NaN, lists, structs and maps as tuples."""
    if isinstance(value, float) and math.isnan(value):
        return ("NaN",)
    if isinstance(value, dict):
        return tuple((k, hashable(v)) for k, v in value.items())
    if isinstance(value, list):
        return tuple(hashable(v) for v in value)
    return value


def takes_key(func):
    """Whether a grouped-map function takes the group's key before its data (Spark looks at
    the number of its parameters)."""
    import inspect

    try:
        return len(inspect.getfullargspec(func).args) == 2
    except TypeError:
        return False


def grouped_map(eval_type, func, reader, schema):
    """applyInPandas/applyInArrow over one partition: its rows grouped by the key columns, the
    function called once per group with the data columns (and the key, if it takes one)."""
    import pyarrow as pa

    batches = list(reader)
    if not batches or sum(b.num_rows for b in batches) == 0:
        return
    table = pa.Table.from_batches(batches)
    keys = [n for n in table.column_names if n.startswith(GROUP_KEY_PREFIX)]
    data = [n for n in table.column_names if not n.startswith(GROUP_KEY_PREFIX)]
    with_key = takes_key(func)
    groups = {}
    if keys:
        for row, key in enumerate(zip(*(table.column(k).to_pylist() for k in keys))):
            groups.setdefault(tuple(hashable(k) for k in key), (key, []))[1].append(row)
    else:
        groups[()] = ((), list(range(table.num_rows)))
    for key, rows in groups.values():
        group = table.take(pa.array(rows)).select(data)
        if eval_type == SQL_GROUPED_MAP_PANDAS_UDF:
            frame = group.to_pandas()
            result = func(key, frame) if with_key else func(frame)
            yield pandas_frame_to_batch(result, schema)
        else:
            arrow_key = tuple(pa.scalar(k, type=table.schema.field(n).type) for k, n in zip(key, keys))
            result = func(arrow_key, group) if with_key else func(group)
            if not isinstance(result, pa.Table):
                raise PythonException(
                    "[UDF_RETURN_TYPE] Return type of the user-defined function should be "
                    "pyarrow.Table, but is %s." % type(result).__name__
                )
            for batch in result.to_batches() or [None]:
                yield arrow_batch_to(batch, schema)


def map_partition(eval_type, func, reader, schema):
    """mapInPandas/mapInArrow over one partition: the function takes an iterator of its
    batches and yields batches of `schema`."""
    if eval_type in (SQL_GROUPED_MAP_PANDAS_UDF, SQL_GROUPED_MAP_ARROW_UDF):
        yield from grouped_map(eval_type, func, reader, schema)
    elif eval_type == SQL_MAP_PANDAS_ITER_UDF:
        for frame in func(batch.to_pandas() for batch in reader):
            yield pandas_frame_to_batch(frame, schema)
    else:
        for batch in func(iter(reader)):
            yield arrow_batch_to(batch, schema)


def user_traceback():
    """The traceback of the exception being handled, from the user's first frame on (Spark's
    simplified traceback); the whole of it if the worker itself failed."""
    kind, value, tb = sys.exc_info()
    first = tb
    while first is not None and first.tb_frame.f_code.co_filename == WORKER_FILE:
        first = first.tb_next
    return "".join(traceback.format_exception(kind, value, first or tb))


WORKER_FILE = __file__ if "__file__" in globals() else "flint/worker.py"


def main():
    stdin = sys.stdin.buffer
    stdout = sys.stdout.buffer
    # What user functions print goes to the executor's stderr, never into the answers.
    sys.stdout = sys.stderr

    import pyarrow as pa
    from pyspark.serializers import CloudPickleSerializer

    pickle = CloudPickleSerializer()
    functions = {}
    worker_version = "%d.%d" % sys.version_info[:2]
    while True:
        header = read_frame(stdin)
        if header is None:
            return
        request = json.loads(header)
        command = read_frame(stdin) if request["has_command"] else None
        output_schema = read_frame(stdin)
        arguments = read_frame(stdin)
        try:
            version = request.get("python_version") or worker_version
            if version != worker_version:
                raise PythonException(
                    "[PYTHON_VERSION_MISMATCH] Python in worker has different version: %s than "
                    "that in driver: %s, PySpark cannot run with different minor versions."
                    % (worker_version, version)
                )
            key = request["key"]
            if command is not None:
                func, _return_type = pickle.loads(command)
                functions[key] = func
            func = functions[key]
            output = pa.ipc.open_stream(output_schema).schema
            reader = pa.ipc.open_stream(arguments)
            eval_type = request["eval_type"]
            if eval_type in MAP_EVAL_TYPES:
                answers = list(map_partition(eval_type, func, reader, output))
            else:
                result = evaluate(eval_type, func, reader.read_next_batch(), output.field(0).type)
                answers = [pa.RecordBatch.from_arrays([result], schema=output)]
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, output) as writer:
                for answer in answers:
                    writer.write_batch(answer)
            write_frame(stdout, b'{"ok": true}')
            write_frame(stdout, sink.getvalue().to_pybytes())
        except BaseException:
            write_frame(stdout, json.dumps({"error": user_traceback()}).encode())
        stdout.flush()


if __name__ == "__main__":
    main()

"""PySpark's own doctests (shipped inside pyspark-client) run against a Flint Connect server.

`spark` is a session of the server SPARK_REMOTE names. Distributed results come in any
order, so an example whose output differs from the documented one only in the order of its
rows (lines of a `show()` table, or `Row(...)` items of a list) passes: that is the row-order
normaliser. Anything else must match as doctest compares it.
"""

import doctest
import os
import re

import pytest

_ROW = re.compile(r"Row\(")


def _table_rows(text):
    """The rows of a `show()` table (lines between its 2nd and 3rd borders), sorted, and the rest."""
    lines = [l.rstrip() for l in text.strip().splitlines()]
    borders = [i for i, l in enumerate(lines) if l.startswith("+") and l.endswith("+")]
    if len(borders) < 3:
        return None
    body = sorted(lines[borders[1] + 1 : borders[2]])
    return lines[: borders[1] + 1] + body + lines[borders[2] :]


def _row_items(text):
    """The `Row(...)` items of a printed list, sorted."""
    flat = " ".join(text.split())
    if not (flat.startswith("[Row(") and flat.endswith(")]")):
        return None
    items = [item.strip().rstrip(",").strip() for item in _ROW.split(flat[1:-1]) if item.strip()]
    return sorted(items)


import _pytest.doctest as pytest_doctest

# pytest's checker (it reads the NUMBER flag), extended with the row-order normaliser.
_Base = pytest_doctest._init_checker_class()


class RowOrderChecker(_Base):
    def check_output(self, want, got, optionflags):
        if super().check_output(want, got, optionflags):
            return True
        for normalise in (_table_rows, _row_items):
            expected, actual = normalise(want), normalise(got)
            if expected is not None and actual is not None and len(expected) == len(actual):
                if all(
                    super(RowOrderChecker, self).check_output(e + "\n", a + "\n", optionflags)
                    for e, a in zip(expected, actual)
                ):
                    return True
        return False


pytest_doctest.CHECKER_CLASS = RowOrderChecker


@pytest.fixture(autouse=True)
def _spark(doctest_namespace):
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.remote(os.environ["SPARK_REMOTE"]).getOrCreate()
    doctest_namespace["spark"] = spark
    yield
    # Each doctest is judged on its own: one that fails between setting the session time
    # zone and unsetting it must not change the answers of the doctests after it.
    spark.conf.unset("spark.sql.session.timeZone")


def pytest_sessionfinish(session, exitstatus):
    """Stops the sessions the doctests left open before the interpreter exits.

    A session still open at exit sends a last request from an atexit hook, and grpcio can
    deadlock in that call's __del__ if its status arrives while the interpreter finalizes
    (`launcher.py` does the same for `flint submit`).
    """
    from pyspark.sql.connect.session import SparkSession

    sessions = [SparkSession._default_session, getattr(SparkSession._active_session, "session", None)]
    for spark in {id(s): s for s in sessions if s is not None}.values():
        if not spark.is_stopped:
            spark.stop()

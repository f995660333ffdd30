"""Runs a PySpark program against a Flint driver's Spark Connect endpoint.

Written by `flint submit app.py` and `flint pyspark`; SPARK_REMOTE names the endpoint. The
script's own `.master(...)` (or `MASTER`) would make the Connect client refuse to start, so
it is recorded and dropped: the master is the one `flint submit` was given.
"""

import os
import sys

EXPECTED = os.environ.get("FLINT_PYSPARK_CLIENT_VERSION", "4.2")


def fail(message):
    sys.stderr.write("error: " + message + "\n")
    sys.exit(2)


def check_client():
    try:
        import pyspark
        from pyspark.sql import SparkSession  # noqa: F401
        import pyspark.sql.connect.session  # noqa: F401
    except ImportError as error:
        fail(
            "PySpark's Spark Connect client is not installed for %s (%s); install it with: "
            "%s -m pip install 'pyspark-client==%s.0'" % (sys.executable, error, sys.executable, EXPECTED)
        )
    version = getattr(pyspark, "__version__", "unknown")
    if not version.startswith(EXPECTED + ".") and version != EXPECTED:
        fail(
            "Flint speaks Spark Connect %s but %s has pyspark %s; install the matching client with: "
            "%s -m pip install 'pyspark-client==%s.0'" % (EXPECTED, sys.executable, version, sys.executable, EXPECTED)
        )


def neutralise_master():
    from pyspark.sql import SparkSession

    requested = os.environ.pop("MASTER", None)
    builder = SparkSession.Builder
    validate = builder._validate_startup_urls

    def validate_without_master(self):
        master = self._options.pop("spark.master", None)
        if master is not None:
            os.environ["FLINT_SCRIPT_MASTER"] = str(master)
        validate(self)

    builder._validate_startup_urls = validate_without_master
    return requested


def main():
    check_client()
    neutralise_master()
    # --py-files: archives go on the path as they are, a .py file through its directory.
    for path in reversed([p for p in os.environ.get("FLINT_PY_FILES", "").split(os.pathsep) if p]):
        if path.endswith(".py"):
            path = os.path.dirname(path)
        if path not in sys.path:
            sys.path.insert(0, path)
    if len(sys.argv) < 2 or sys.argv[1] == "--shell":
        import code
        from pyspark.sql import SparkSession
        from pyspark.sql import functions as F  # noqa: F401

        spark = SparkSession.builder.getOrCreate()
        banner = "Flint %s through Spark Connect at %s\nSparkSession available as 'spark'." % (
            spark.version,
            os.environ.get("SPARK_REMOTE"),
        )
        try:
            code.interact(banner=banner, local={"spark": spark, "SparkSession": SparkSession, "F": F})
        finally:
            stop_sessions()
        return
    import runpy

    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    try:
        runpy.run_path(script, run_name="__main__")
    finally:
        stop_sessions()


def stop_sessions():
    """Stops the sessions the script left open, as Spark stops its context when the driver ends.

    A session still open at interpreter exit sends its last request from an atexit hook, and
    grpcio can deadlock in a call's __del__ if that call's status arrives while the interpreter
    finalizes (seen about once in ten exits): stopping first closes the channel cleanly.
    """
    from pyspark.sql.connect.session import SparkSession

    sessions = [SparkSession._default_session, getattr(SparkSession._active_session, "session", None)]
    for session in {id(s): s for s in sessions if s is not None}.values():
        if not session.is_stopped:
            session.stop()


if __name__ == "__main__":
    main()

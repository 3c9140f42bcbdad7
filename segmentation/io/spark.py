"""Apache Spark as an engine: a log in a lake (Parquet or CSV files, a folder, a glob, or a
Spark table) turned into features, scored and written back, all inside Spark.

:class:`SparkSource` is a :class:`~segmentation.io.sources.Source` like a file or a database:
the feature SQL of ``io/sql/`` runs in Spark SQL (``staging_spark.sql``, then the portable
checks, rejections and features, with two words spelled Spark's way: see
:func:`spark_spelling`). Only one row per customer leaves Spark, and only as many customers as
the driver is allowed to hold (``driver_customers``): more than that, and the model is fitted
on a sample drawn inside Spark. :meth:`SparkSource.score_where_it_is` then assigns every
customer inside Spark with the model compiled to SQL (:func:`segmentation.outputs.sql.scoring_sql`)
and writes customer_segments, segment_profiles and segment_history as Parquet, each table (or
history partition) written into a hidden folder first and renamed into place, so that a reader
never sees half of one.

PySpark is an optional extra (``pip install .[spark]``), imported only when a Spark source
opens; Spark needs Java 17. Nothing is downloaded at run time (no ``spark.jars.packages``).
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
import warnings
from dataclasses import dataclass, field

import pandas as pd

from ..errors import InputError
from ..options import LoadOptions
from ..shapes.cleaning import CleaningRule
from .sources import Source
from .sql_runner import SqlEngine, aggregate

#: Environment variable naming the Spark master when --spark-master is not given.
SPARK_MASTER_ENV = "SPARK_MASTER"
#: Customers the driver is asked to hold for the fit by default (about 1 KB each in Python
#: during the fit, see the README); more are sampled inside Spark.
DRIVER_CUSTOMERS = 1_000_000
INSTALL_HINT = "pip install .[spark] (PySpark) with Java 17 (Debian: openjdk-17-jre-headless)"
CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".txt")
# Session settings the SQL relies on, set while a source is open and put back after: ANSI SQL
# (TRY_CAST, errors instead of silent overflow), "x" as an identifier as in the other dialects,
# dates without a time zone shift, and Arrow for the one row per customer that leaves Spark.
SESSION_SQL = {
    "spark.sql.ansi.enabled": "true",
    "spark.sql.ansi.doubleQuotedIdentifiers": "true",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
# Views this module makes in the session (dropped when the source closes).
VIEWS = (
    "source", "staged", "checked", "customer_features", "scoring_input", "scored", "segment_book",
    "segments_now", "history_all", "history_before", "history_new",
)
HISTORY_SCHEMA = (
    "customer_id STRING, segment BIGINT, segment_name STRING, scored_at TIMESTAMP_NTZ, "
    "model_version STRING, scoring_id STRING"
)


def spark_spelling(sql: str) -> str:
    """The portable feature SQL as Spark SQL: Spark has no ``DOUBLE PRECISION`` (its 64-bit
    float is ``DOUBLE``), and a temp view is replaced when a source is read again in the same
    session. The only two differences; the SQL files stay the one source of truth."""
    sql = re.sub(r"\bDOUBLE PRECISION\b", "DOUBLE", sql)
    return re.sub(r"\bCREATE TEMP VIEW\b", "CREATE OR REPLACE TEMP VIEW", sql)


def _statements(sql: str) -> list[str]:
    """The statements of a SQL file: comments dropped (no string literal of ours holds
    ``--``), then split at each ``;`` that ends a line."""
    code = re.sub(r"--[^\n]*", "", sql)
    return [piece for piece in re.split(r";[ \t]*(?:\n|$)", code) if piece.strip()]


@contextlib.contextmanager
def _quiet():
    # PySpark 4.3 warns that pandas 3 is "not fully supported"; the conversions used here (text,
    # 64-bit integers and doubles with nulls, both ways) are tested in tests/test_spark.py.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support", category=FutureWarning)
        warnings.filterwarnings("ignore", message="The copy keyword is deprecated")  # its astype(copy=False)
        yield


def _to_pandas(frame) -> pd.DataFrame:
    with _quiet():
        return frame.toPandas()


def _to_spark(spark, frame: pd.DataFrame):
    with _quiet():
        return spark.createDataFrame(frame)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


#: Shuffle partitions per core of a local master (unless the session's conf sets them).
LOCAL_PARTITIONS_PER_CORE = 4


def session_conf(master: str | None, conf: dict | None = None) -> dict:
    """The settings a session made here gets: ``conf``, and on a local master (``local``,
    ``local[N]``, ``local[*]``; None is local) :data:`LOCAL_PARTITIONS_PER_CORE` shuffle
    partitions per core unless ``conf`` sets them. Spark's default 200 are sized for a
    cluster: on one machine each is a task of its own at every shuffle (a 20,000-row
    ``run --spark`` on 2 cores: 59 s with 200, 29 s with 8)."""
    out = dict(conf or {})
    if (master or "local").startswith("local"):
        match = re.fullmatch(r"local\[(\d+)(?:,\d+)?\]", master or "")
        cores = int(match.group(1)) if match else os.cpu_count() or 1
        out.setdefault("spark.sql.shuffle.partitions", str(LOCAL_PARTITIONS_PER_CORE * cores))
    return out


def spark_session(master: str | None = None, conf: dict | None = None):
    """The active SparkSession (a ``spark-submit`` job's, a notebook's, a test's), or a new one:
    on ``master`` (default ``$SPARK_MASTER``, else spark-submit's or spark-defaults.conf's
    master, else ``local[*]``) with ``conf``. Returns (session, whether it was made here)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise InputError(f"--spark needs PySpark: {INSTALL_HINT}") from None
    active = SparkSession.getActiveSession()
    if active is not None:
        return active, False
    master = master or os.environ.get(SPARK_MASTER_ENV)
    builder = SparkSession.builder.appName("segmentation").config("spark.ui.showConsoleProgress", "false")
    if master:
        builder = builder.master(master)
    if (master or "local").startswith("local") and "PYSPARK_GATEWAY_PORT" not in os.environ:
        # Local mode: everything in this machine's JVM, reached on the loopback address only.
        builder = builder.config("spark.driver.bindAddress", "127.0.0.1").config("spark.driver.host", "127.0.0.1")
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    for key, value in session_conf(master, conf).items():
        builder = builder.config(key, value)
    try:
        with _quiet():
            session = builder.getOrCreate()
    except Exception as exc:  # py4j and PySpark raise their own types when Java cannot start
        raise InputError(f"cannot start Spark ({_first_line(exc)}): {INSTALL_HINT}") from None
    session.sparkContext.setLogLevel("ERROR")
    return session, True


class SparkEngine(SqlEngine):
    """The feature steps' calls over a SparkSession: the SQL runs in Spark, small results
    (counts, rejections, the features of at most ``driver_customers`` customers) come back.

    After :meth:`features`, the view ``customer_features`` holds every customer (cached in
    Spark); ``customers`` is their number and ``sampled`` whether the frame returned is a
    sample of them.
    """

    def __init__(self, spark, driver_customers: int = DRIVER_CUSTOMERS, seed: int = 0):
        super().__init__(spark, "spark")
        self.driver_customers = int(driver_customers)
        self.seed = int(seed)
        self.customers = 0
        self.sampled = False

    def execute(self, sql: str) -> None:
        for statement in _statements(sql):
            self.con.sql(spark_spelling(statement))

    def frame(self, sql: str) -> pd.DataFrame:
        return _to_pandas(self.con.sql(spark_spelling(sql)))

    def scalars(self, sql: str) -> tuple:
        return tuple(self.con.sql(spark_spelling(sql)).first())

    def features(self, sql: str) -> pd.DataFrame:
        """Every customer into the cached view ``customer_features``; to Python all of them
        when they are at most ``driver_customers``, else that many drawn inside Spark: the
        smallest hashes of the customer id (seeded), the same sample at every run."""
        self.execute(
            "UNCACHE TABLE IF EXISTS customer_features;\nDROP VIEW IF EXISTS customer_features;\n"
            f"CACHE TABLE customer_features AS {sql}"
        )
        self.customers = int(self.con.sql("SELECT COUNT(*) FROM customer_features").first()[0])
        self.sampled = self.customers > self.driver_customers
        if not self.sampled:
            return self.frame("SELECT * FROM customer_features")
        return self.frame(
            f"SELECT * FROM customer_features ORDER BY xxhash64(customer_id, {self.seed}), customer_id "
            f"LIMIT {self.driver_customers}"
        )


@dataclass
class SparkTables:
    """What :meth:`SparkSource.score_where_it_is` wrote.

    Attributes
    ----------
    folder : str
        Where the tables are (a path or URI Spark writes to).
    customers : int
        Customers assigned (every customer of the log).
    changed : int
        Rows appended to segment_history: customers whose segment is new or changed.
    migration : DataFrame
        Customers moving between segments at this scoring (the columns of
        :func:`segmentation.outputs.migration.migration_table`).
    files : dict
        Table name -> its folder.
    """

    folder: str
    customers: int
    changed: int
    migration: pd.DataFrame = field(default_factory=pd.DataFrame)
    files: dict = field(default_factory=dict)


class SparkSource(Source):
    """A log read by Spark: Parquet or CSV files (a file, a folder, a glob) or a Spark table.

    Parameters
    ----------
    path : str, optional
        A Parquet or CSV file, folder or glob, on any filesystem Spark reaches (``s3a://``,
        ``hdfs://``, ``abfss://`` with the cluster's connectors). CSV when the name ends in
        .csv, .csv.gz, .tsv or .txt (a header row; every column read as text), else Parquet.
    table : str, optional
        A table of the session's catalog (``db.table``), instead of ``path``.
    master : str, optional
        Spark master for a session made here (default ``$SPARK_MASTER``, then spark-submit's
        configuration, then ``local[*]``); an active session (spark-submit, a notebook) is used
        as it is.
    tables : str, optional
        Where :meth:`score_where_it_is` writes (default: the folder the job passes).
    driver_customers : int
        The most customers brought to the driver for the fit (see :class:`SparkEngine`).
    conf : dict, optional
        Spark settings for a session made here (``{"spark.driver.memory": "8g"}``).
    """

    def __init__(
        self,
        path: str | None = None,
        table: str | None = None,
        master: str | None = None,
        tables: str | None = None,
        driver_customers: int = DRIVER_CUSTOMERS,
        conf: dict | None = None,
    ):
        super().__init__()
        if (path is None) == (table is None):
            raise InputError("give Spark either a path (--spark PATH) or a table (--spark --table NAME)")
        if int(driver_customers) < 2:
            raise InputError(f"--driver-customers must be 2 or more, got {driver_customers}")
        self.path, self.table, self.master, self.tables = path, table, master, tables
        self.driver_customers = int(driver_customers)
        self.conf = dict(conf or {})
        self.spark = None
        self._created = False
        self._saved_conf: dict[str, str | None] = {}
        self._engine: SparkEngine | None = None

    def __str__(self) -> str:
        return f"Spark table {self.table}" if self.table else str(self.path)

    # -- opening ---------------------------------------------------------------------------

    def _open(self) -> None:
        self.spark, self._created = spark_session(self.master, self.conf)
        for key, value in SESSION_SQL.items():
            self._saved_conf[key] = self.spark.conf.get(key, None)
            self.spark.conf.set(key, value)
        try:
            frame = self._read()
        except BaseException:
            self._close()
            raise
        frame.createOrReplaceTempView("source")
        self._columns = list(frame.columns)
        if not self._columns:
            self._close()
            raise InputError(f"{self} has no columns")

    def _read(self):
        from pyspark.errors import PySparkException

        try:
            if self.table is not None:
                return self.spark.table(self.table)
            name = self.path.lower().rstrip("/")
            if name.endswith((".xlsx", ".xlsm")):
                raise InputError(f"--spark reads Parquet or CSV, not XLSX: {self.path}")
            if name.endswith(CSV_SUFFIXES):
                sep = "\t" if name.endswith(".tsv") else ","
                return self.spark.read.csv(self.path, header=True, sep=sep, inferSchema=False)
            return self.spark.read.parquet(self.path)
        except PySparkException as exc:
            what = f"table {self.table!r}" if self.table else self.path
            reason = _first_line(exc)
            if "PATH_NOT_FOUND" in reason:
                reason = "no such file or folder"
            elif "TABLE_OR_VIEW_NOT_FOUND" in reason:
                reason = "no such table in the session's catalog"
            elif "TIMESTAMP(NANOS" in reason:
                reason += " (Spark reads timestamps in micro- or milliseconds: write them so, e.g. "
                reason += "pandas' to_parquet(..., coerce_timestamps='us'))"
            raise InputError(f"Spark cannot read {what}: {reason}") from None

    def _close(self) -> None:
        spark, self._engine = self.spark, None
        if spark is None:
            return
        try:
            for view in reversed(VIEWS):  # each view only after the ones built on it
                spark.catalog.dropTempView(view)  # (and its cached rows)
            for key, value in self._saved_conf.items():
                if value is None:
                    spark.conf.unset(key)
                else:
                    spark.conf.set(key, value)
        finally:
            self._saved_conf = {}
            if self._created:
                spark.stop()
            self.spark = None

    # -- the Source interface ------------------------------------------------------------------

    def columns(self) -> list[str]:
        with self:
            return list(self._columns)

    def aggregate(self, kind: str, options: LoadOptions):
        with self:
            if options.since is not None:
                raise InputError("--since is not available with --spark yet: score every customer (leave --since out)")
            self._engine = SparkEngine(self.spark, self.driver_customers)
            features, report = aggregate(self._engine, self.columns(), kind, options)
            engine = self._engine
            report.customers = engine.customers
            if engine.sampled:
                left = engine.customers - len(features)
                report.rejections.append(
                    CleaningRule(
                        reason="driver_sample",
                        column=None,
                        n_rows=left,
                        example="",
                        message=(
                            f"the model is fitted on {len(features):,} of {engine.customers:,} customers, drawn "
                            f"inside Spark (the most the driver holds: --driver-customers {self.driver_customers:,}); "
                            "every customer is scored inside Spark"
                        ),
                        action="sampled",
                        unit="customers",
                    )
                )
            return features, report

    def frame(self) -> pd.DataFrame:
        """Every row of a customer table, brought to the driver (one row per customer)."""
        with self:
            rows = self.spark.sql("SELECT COUNT(*) FROM source").first()[0]
            if rows > self.driver_customers:
                raise InputError(
                    f"{self} has {rows:,} rows: a customer table comes to the driver whole, and that is more "
                    f"than --driver-customers {self.driver_customers:,} (raise it, or give the log of transactions)"
                )
            return _to_pandas(self.spark.sql("SELECT * FROM source"))

    # -- scoring inside Spark ------------------------------------------------------------------

    assigns_in_place = True

    def score_where_it_is(self, bundle, scored_at, folder) -> SparkTables | None:
        """Assign every customer of the last :meth:`aggregate` inside Spark and write the
        tables (see :func:`write_scored`) into ``tables`` (default ``folder``)."""
        if self._engine is None or self.spark is None:
            return None  # a customer table: its rows came to the driver, the job writes them
        return write_scored(self.spark, bundle, self.tables or str(folder), scored_at, self._engine.customers)


def _caps_select(spark, bundle, view: str) -> str:
    """Every column of ``view``, the model's features capped as the fit saw them
    (:func:`segmentation.shapes.cleaning.cap_percentiles`; a missing value stays missing)."""
    caps = {f: v for f, v in (bundle.training_options.caps or {}).items() if f in bundle.features}
    exprs = []
    for name in spark.table(view).columns:
        col = '"' + name.replace('"', '""') + '"'
        if name in caps:
            lo, hi = (f"CAST('{float(v)!r}' AS DOUBLE)" for v in caps[name])
            col = f"CASE WHEN {col} < {lo} THEN {lo} WHEN {col} > {hi} THEN {hi} ELSE {col} END AS {col}"
        exprs.append(col)
    return f"SELECT {', '.join(exprs)} FROM {view}"


def write_scored(spark, bundle, folder: str, scored_at, customers: int | None = None) -> SparkTables:
    """Assign the customers of the Spark view ``customer_features`` with ``bundle`` inside
    Spark and write, under ``folder``:

    - ``customer_segments``: customer_id, the features (the model's capped as the model
      caps them), segment, segment_name, recommended_action; Parquet partitioned by segment (a campaign
      reads one folder);
    - ``segment_profiles``: the segment book, one small file;
    - ``segment_history``: the customers whose segment is new or changed for this model,
      appended as one partition per scoring (``model_version=.../scoring_id=...``).

    Each table, and each history partition, is written into a hidden folder (``_...``, which
    Spark's readers skip) and renamed into place.
    """
    from pyspark.sql import functions as F

    from ..outputs.migration import MIGRATION_COLUMNS, NEW
    from ..outputs.sql import scoring_sql

    params = bundle.scoring  # InputError for a model that SQL cannot compute (not k-means)
    version = bundle.model_version
    spark.sql(f"CREATE OR REPLACE TEMP VIEW scoring_input AS {_caps_select(spark, bundle, 'customer_features')}")
    spark.sql(f"CREATE OR REPLACE TEMP VIEW scored AS {scoring_sql(params, 'scoring_input', float_type='DOUBLE')}")
    book = _to_spark(spark, bundle.segments[["segment", "segment_name", "recommended_action"]].astype(
        {"segment": "int64", "segment_name": str, "recommended_action": str}
    ))
    book.createOrReplaceTempView("segment_book")
    segments = spark.sql(
        "SELECT scoring_input.*, CAST(scored.segment AS BIGINT) AS segment, book.segment_name, book.recommended_action "
        "FROM scoring_input JOIN scored USING (customer_id) JOIN segment_book AS book USING (segment)"
    )
    segments.persist()  # written to customer_segments, then compared with the history
    segments.createOrReplaceTempView("segments_now")
    if customers is None:
        customers = int(segments.count())
    # Files of about 2M customers at most in each segment's folder, not one per shuffle partition.
    per_segment = 1 + customers // 2_000_000
    by_segment = segments.repartition(
        per_segment * len(bundle.segments), "segment", F.pmod(F.xxhash64("customer_id"), F.lit(per_segment))
    )
    out = _Folder(spark, folder)
    files = {
        "customer_segments": out.replace("customer_segments", by_segment.write.partitionBy("segment")),
        "segment_profiles": out.replace(
            "segment_profiles", _to_spark(spark, _profiles(bundle.segments)).coalesce(1).write
        ),
    }

    # segment_history: this model's latest segment per customer, before this scoring.
    stamp = pd.Timestamp(scored_at)
    if out.exists("segment_history"):
        # The schema given, so that partition values are never guessed as numbers.
        history = spark.read.schema(HISTORY_SCHEMA).parquet(out.path("segment_history"))
        history.createOrReplaceTempView("history_all")
        literal = version.replace("'", "''")
        before = spark.sql(
            "SELECT customer_id, segment, segment_name, scored_at "
            "FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY scored_at DESC) AS newest "
            f"FROM history_all WHERE model_version = '{literal}') WHERE newest = 1"
        )
    else:
        before = spark.sql(
            "SELECT CAST(NULL AS STRING) AS customer_id, CAST(NULL AS BIGINT) AS segment, "
            "CAST(NULL AS STRING) AS segment_name, CAST(NULL AS TIMESTAMP_NTZ) AS scored_at WHERE FALSE"
        )
    before.persist().createOrReplaceTempView("history_before")
    new_rows = spark.sql(
        "SELECT now.customer_id, now.segment, now.segment_name, "
        f"TIMESTAMP_NTZ '{stamp.isoformat(sep=' ')}' AS scored_at "
        "FROM segments_now AS now LEFT JOIN history_before AS before USING (customer_id) "
        "WHERE before.segment IS NULL OR before.segment <> now.segment"
    ).persist()
    new_rows.createOrReplaceTempView("history_new")
    changed = new_rows.count()
    partition = f"segment_history/model_version={version}/scoring_id={stamp.strftime('%Y%m%dT%H%M%S%f')}"
    out.replace(partition, new_rows.coalesce(1 + changed // 2_000_000).write)
    files["segment_history"] = out.path("segment_history")

    # Migration: every customer's segment before and after (customers not in this scoring stay).
    moves = _to_pandas(spark.sql(
        "WITH after AS (SELECT customer_id, segment, segment_name FROM history_new "
        "UNION ALL SELECT customer_id, segment, segment_name FROM history_before "
        "LEFT ANTI JOIN history_new USING (customer_id)) "
        "SELECT before.segment AS from_segment, before.segment_name AS from_name, after.segment AS to_segment, "
        "after.segment_name AS to_name, COUNT(*) AS customers "
        "FROM after LEFT JOIN history_before AS before USING (customer_id) GROUP BY 1, 2, 3, 4"
    ))
    previous = spark.sql("SELECT MAX(scored_at) FROM history_before").first()[0]
    for frame in (segments, before, new_rows):
        frame.unpersist()
    moves["from_segment"] = moves["from_segment"].astype("Int64")
    moves["to_segment"] = moves["to_segment"].astype("Int64")
    moves["from_name"] = moves["from_name"].fillna(NEW)
    moves["customers"] = moves["customers"].astype("int64")
    moves["from_scored_at"] = pd.Timestamp(previous) if previous is not None else pd.NaT
    moves["to_scored_at"] = stamp
    moves["model_version"] = version
    moves = moves.sort_values(["from_segment", "to_segment"], na_position="first", ignore_index=True)
    return SparkTables(out.root, customers, changed, moves[MIGRATION_COLUMNS], files)


def _profiles(book: pd.DataFrame) -> pd.DataFrame:
    """The segment book with plain column types for Parquet (text, 64-bit numbers)."""
    out = book.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].astype(str)
    return out


class _Folder:
    """A folder on any filesystem Spark writes to (through Hadoop's FileSystem API), where a
    table appears whole or not at all."""

    def __init__(self, spark, root: str):
        self.spark = spark
        self.root = str(root).rstrip("/")
        jvm = spark.sparkContext._jvm
        self._Path = jvm.org.apache.hadoop.fs.Path
        self.fs = self._Path(self.root).getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())

    def path(self, name: str) -> str:
        return f"{self.root}/{name}"

    def exists(self, name: str) -> bool:
        return bool(self.fs.exists(self._Path(self.path(name))))

    def replace(self, name: str, writer) -> str:
        """Write with ``writer`` (a DataFrameWriter) into ``_<name>.<random>`` (hidden from
        readers), then rename it to ``name``; an older ``name`` is renamed away first and
        deleted after. A reader sees the old table, briefly none, or the new one: never a part."""
        token = uuid.uuid4().hex[:12]
        final = self._Path(self.path(name))
        parent = final.getParent()
        hidden = self._Path(parent, f"_{final.getName()}.{token}.tmp")
        old = self._Path(parent, f"_{final.getName()}.{token}.old")
        self.fs.mkdirs(parent)
        writer.mode("error").parquet(hidden.toString())
        moved_old = self.fs.exists(final) and self.fs.rename(final, old)
        if not self.fs.rename(hidden, final):
            if moved_old:
                self.fs.rename(old, final)
            self.fs.delete(hidden, True)
            raise InputError(f"could not move the new {name} into place under {self.root}")
        if moved_old:
            self.fs.delete(old, True)
        return final.toString()

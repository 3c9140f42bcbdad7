"""Command line: ``python -m segmentation`` or ``segmentation``.

Bad input gives one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import InputError
from .io.columns import parse_mapping
from .options import ALGORITHMS, MINIBATCH_ABOVE, SHAPES, FitOptions, LoadOptions

# Each command imports what it uses when it runs: `--help` and `features` never load
# scikit-learn, skops or matplotlib.

EXIT_BAD_INPUT = 2
DEMO_SHAPES = {
    "transactions": "microfinance loans",
    "purchases": "a purchase log",
    "ecommerce": "an e-commerce customer table",
    "creditcard": "credit-card behaviour, CC GENERAL columns",
}


def _data_options(p: argparse.ArgumentParser, model_options: bool = True, from_model: bool = False) -> None:
    """The input options; ``from_model``: a command that scores with a saved model, whose
    options default to how the model's training data was read."""
    g = p.add_argument_group("input")
    trained = " (default: as the model's training data)" if from_model else ""
    g.add_argument(
        "--map",
        action="append",
        metavar="ROLE=COLUMN",
        help="use a differently named column for a role, e.g. --map customer_id=customerid "
        "(roles: customer_id, txn_date, amount, repayment_date, due_date); repeatable",
    )
    g.add_argument(
        "--feature-set",
        default="auto",
        choices=["auto", *SHAPES],
        help="force how the input is read: transactions (loans with repayments), purchases "
        "(a purchase log: RFM), features (this product's per-customer features of either), "
        "creditcard (CC GENERAL), ecommerce (customer table of an "
        "online shop), table (any table); default: detected from the columns",
    )
    g.add_argument(
        "--late-after-days",
        type=int,
        default=None if from_model else 30,
        help="a loan with no due date is due this many days after it was made" + (trained or " (default 30)"),
    )
    g.add_argument(
        "--as-of", help="reference date for recency and overdue loans (default: last date in the data)"
    )
    g.add_argument(
        "--max-rejected",
        type=float,
        default=0.05,
        metavar="SHARE",
        help="stop when more than this share of rows is unusable (default 0.05)",
    )
    g.add_argument(
        "--keep-duplicate-rows",
        action="store_true",
        default=None if from_model else False,
        help="use rows that repeat an earlier row exactly"
        + (trained or " (default: set aside as double entries)"),
    )
    g.add_argument(
        "--cap-outliers",
        type=float,
        metavar="PERCENTILE",
        help="cap each model feature at this percentile and the opposite one, e.g. 99 "
        "(at the 1st and 99th)"
        + ("; a model fitted with caps always caps new data to its own" if from_model else "; default: no capping"),
    )
    g.add_argument("--rfm-rules", help="YAML table from RFM scores to named RFM segments (default: built in)")
    g.add_argument(
        "--encoding",
        help="text encoding of a CSV file, e.g. cp1252 (Excel on Windows), latin-1, utf-16 "
        "(default: UTF-8, or detected)",
    )
    g.add_argument("--sheet", help="the sheet of an XLSX workbook to read: its name or number (default: the largest)")
    g.add_argument(
        "--date-format",
        metavar="FORMAT",
        help="how dates are written when not YYYY-MM-DD, e.g. %%d/%%m/%%Y or %%d-%%b-%%Y "
        "(default: ISO, or day/month order when the data allows only one)",
    )
    g.add_argument(
        "--decimal", choices=[".", ","], help="decimal separator of amounts (default: ., or , when every amount uses it)"
    )
    g.add_argument(
        "--thousands",
        choices=[",", ".", " ", "'"],
        help="thousands separator of amounts (default: , or . where it groups digits by three); "
        "currency symbols are always stripped",
    )
    if model_options:
        g.add_argument(
            "--features", help="comma-separated features to cluster on (default: the feature set's)"
        )


def _model_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--k", default="auto", help="number of segments, or auto (default)")
    g.add_argument("--k-min", type=int, default=2, help="smallest k tried by auto (default 2)")
    g.add_argument("--k-max", type=int, default=10, help="largest k tried by auto (default 10)")
    g.add_argument(
        "--min-segment-share",
        type=float,
        default=0.01,
        help="auto never picks a k with a segment smaller than this share (default 0.01)",
    )
    g.add_argument(
        "--max-segments",
        type=int,
        help="auto never picks more segments than this (the criteria are still shown up to --k-max)",
    )
    g.add_argument(
        "--algorithm",
        default="auto",
        choices=ALGORITHMS,
        help=f"kmeans, minibatch (MiniBatchKMeans), gmm (Gaussian mixture) or hdbscan (finds k "
        f"itself; customers fitting no segment form segment -1); auto: kmeans up to "
        f"{MINIBATCH_ABOVE:,} customers, minibatch above",
    )
    g.add_argument(
        "--stability-resamples",
        type=int,
        default=5,
        metavar="N",
        help="subsamples for the stability score (adjusted Rand index) of each k; 0 skips it (default 5)",
    )
    g.add_argument("--rules", help="YAML rule table for names and actions (default: built in)")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def _database_options(p: argparse.ArgumentParser, what: str) -> None:
    g = p.add_argument_group("database")
    g.add_argument(
        "--db",
        metavar="URL",
        help="read from this database, e.g. postgresql://user@host:5432/dbname, sqlite:///file.db, "
        "duckdb:///file.duckdb (default: $SEGMENTATION_DB_URL; the password may come from "
        "PGPASSWORD or ~/.pgpass instead of the URL)",
    )
    source = g.add_mutually_exclusive_group()
    source.add_argument("--table", help=f"the table (or view) of {what}, optionally schema.table")
    source.add_argument("--query", metavar="SQL", help=f"a SELECT giving the {what} instead of --table")
    g.add_argument(
        "--out-db", metavar="URL", help="write the result tables to this database instead of --db's"
    )


def _spark_options(p: argparse.ArgumentParser, tables: str) -> None:
    g = p.add_argument_group("spark (pip install .[spark]; Java 17)")
    g.add_argument(
        "--spark",
        nargs="?",
        const="",
        metavar="PATH",
        help="compute features and score every customer inside Apache Spark: a Parquet or CSV file, "
        "folder or glob (s3a://, hdfs://, ... as the cluster reads them), or with --table a Spark table",
    )
    g.add_argument(
        "--spark-master",
        metavar="MASTER",
        help="Spark master, e.g. local[4] or spark://host:7077 (default: $SPARK_MASTER, else spark-submit's "
        "--master or spark-defaults.conf, else local[*])",
    )
    g.add_argument("--spark-out", metavar="DIR", help=f"where Spark writes the Parquet tables (default: {tables})")
    g.add_argument(
        "--driver-customers",
        type=int,
        default=1_000_000,
        metavar="N",
        help="the most customers brought to the driver to fit on; more are sampled inside Spark "
        "(default 1,000,000: about 1 GB of driver memory)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segmentation",
        description="Customer segmentation: transactions or a customer table in, named segments with actions out.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo-data", help="write synthetic data of one shape")
    p.add_argument(
        "--shape",
        default="transactions",
        choices=list(DEMO_SHAPES),
        help="transactions (microfinance loans, default), purchases (a purchase log), "
        "ecommerce (an online shop's customer table), creditcard (CC GENERAL columns)",
    )
    p.add_argument("--customers", type=int, default=5_000, help="100 to 1,000,000 (default 5,000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="demo_transactions.csv", help="CSV or .parquet file to write")

    p = sub.add_parser(
        "demo-history",
        help="score demo transactions as they stood every other week with a saved model, into a segment history",
    )
    p.add_argument("input", help="demo transactions (from demo-data)")
    p.add_argument("--model", required=True, help="model bundle folder (e.g. the run's model/)")
    p.add_argument(
        "--db", required=True, metavar="URL", help="where segment_history goes, e.g. sqlite:///out/segmentation.db"
    )
    p.add_argument("--scorings", type=int, default=8, help="how many scorings (default 8)")
    p.add_argument("--every-weeks", type=int, default=2, help="weeks between two scorings (default 2)")

    p = sub.add_parser("features", help="transactions or a table -> one row of clean features per customer")
    p.add_argument("input")
    p.add_argument("--out", required=True, help="CSV, XLSX or .db file to write")
    p.add_argument(
        "--engine",
        default="duckdb",
        choices=["duckdb", "sqlite"],
        help="where the SQL of transactions and purchase logs runs",
    )
    _data_options(p, model_options=False)

    p = sub.add_parser("fit", help="fit a model and save it as a bundle folder")
    p.add_argument("input", help="transactions or a customer table (e.g. customer_features.csv)")
    p.add_argument("--model", required=True, help="folder to write the model bundle into")
    _data_options(p)
    _model_options(p)

    p = sub.add_parser("assign", help="give customers the segments of a saved model")
    p.add_argument("input", help="transactions or a customer table with the model's features")
    p.add_argument("--model", required=True, help="model bundle folder")
    p.add_argument("--out", required=True, help="CSV, XLSX or .db file to write")
    _data_options(p, model_options=False, from_model=True)

    p = sub.add_parser("profile", help="profile of each segment of a saved model")
    p.add_argument("--model", required=True, help="model bundle folder")
    p.add_argument("--out", help="also write the profiles to this CSV/XLSX file")

    p = sub.add_parser("export", help="write a segment list (filtered by segment) for a campaign")
    p.add_argument("input", help="customer_segments.csv from run or assign")
    p.add_argument("--out", required=True, help="CSV, XLSX or .db file to write")
    p.add_argument(
        "--segment", type=int, action="append", help="keep this segment id; repeatable (default all)"
    )

    p = sub.add_parser("run", help="the whole pipeline into an output folder (and a database)")
    p.add_argument(
        "input",
        nargs="?",
        help="transactions (customer_id, txn_date, amount[, repayment_date]) or a customer table; "
        "or none with --table/--query",
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--no-transactions-table",
        action="store_true",
        help="leave the transactions table out of segmentation.db (faster for huge inputs)",
    )
    _database_options(p, "transactions or customers")
    _spark_options(p, "OUT/tables")
    _data_options(p)
    _model_options(p)

    p = sub.add_parser(
        "score", help="re-score customers with new transactions in a database with a saved model"
    )
    p.add_argument("--model", required=True, help="model bundle folder (the model is not refitted)")
    p.add_argument(
        "--since",
        metavar="DATE",
        help="only customers with a transaction or repayment on or after DATE (default: everyone)",
    )
    p.add_argument("--sankey", metavar="FILE.html", help="also write the migration Sankey figure here")
    _database_options(p, "transactions")
    _spark_options(p, "tables/ beside the --model folder, where run wrote them")
    _data_options(p, model_options=False, from_model=True)

    p = sub.add_parser(
        "explain", help="one customer's segment, name and action, and the smallest change that would move them"
    )
    p.add_argument("--model", required=True, help="model bundle folder")
    p.add_argument(
        "--values",
        required=True,
        action="append",
        metavar="F=V,...",
        help="the customer's feature values, e.g. txn_count=8,avg_txn_amount=3100 (a feature left out "
        "takes the model's training median); repeatable",
    )

    p = sub.add_parser("sql", help="print a SELECT that assigns segments inside any SQL database")
    p.add_argument("--model", required=True, help="model bundle folder")
    p.add_argument(
        "--table", default="customer_features", help="table with the features (default customer_features)"
    )
    p.add_argument("--id-column", default="customer_id", help="customer id column (default customer_id)")
    p.add_argument(
        "--float-type",
        default="DOUBLE PRECISION",
        help="the engine's 64-bit float type: DOUBLE PRECISION (ANSI, PostgreSQL, DuckDB; default), "
        "DOUBLE (Spark SQL, Trino), FLOAT64 (BigQuery)",
    )
    p.add_argument("--out", help="write the SQL to this file instead of printing it")
    return parser


def load_options(args) -> LoadOptions:
    """The input options of a command line as one value (unset ones left at their defaults)."""
    features = getattr(args, "features", None)
    return LoadOptions().replace(
        feature_set=args.feature_set,
        mapping=parse_mapping(args.map),
        features=[f.strip() for f in features.split(",") if f.strip()] if features else None,
        late_after_days=args.late_after_days,
        as_of=args.as_of,
        max_rejected_share=args.max_rejected,
        keep_duplicate_rows=args.keep_duplicate_rows,
        cap_outliers=args.cap_outliers,
        rfm_rules=args.rfm_rules,
        engine=getattr(args, "engine", None),
        since=getattr(args, "since", None),
        encoding=args.encoding,
        sheet=args.sheet,
        date_format=args.date_format,
        decimal=args.decimal,
        thousands=args.thousands,
    )


def fit_options(args) -> FitOptions:
    """The model options of a command line as one value."""
    try:
        return FitOptions(
            k=args.k,
            k_range=(args.k_min, args.k_max),
            rules_path=args.rules,
            min_segment_share=args.min_segment_share,
            max_segments=args.max_segments,
            algorithm=args.algorithm,
            n_stability=args.stability_resamples,
            random_state=args.seed,
        )
    except InputError as exc:
        raise InputError(f"--{exc}") from None


def _say(*lines: str) -> None:
    for line in lines:
        print(line, file=sys.stderr)


def segment_table(segments) -> str:
    """The segment book as a short text table for the terminal."""
    width = max(38, *(len(n) for n in segments["segment_name"]))
    rows = [
        f"  {int(s.segment):>2}  {s.segment_name:<{width}} {int(s.size):>9,} {s.share:>6.1%}  {s.plan}"
        for s in segments.itertuples()
    ]
    return "\n".join([f"  {'id':>2}  {'segment':<{width}} {'customers':>9} {'share':>6}  plan", *rows])


def rfm_table(crosstab) -> str:
    """The segment x named RFM segment cross-tabulation for the terminal: one row per RFM
    segment, one column per segment id."""
    counts = crosstab.drop(columns=["segment_name"]).T
    head = f"  {'RFM segment':<20}" + "".join(f"{'seg ' + str(c) if c != 'total' else 'total':>9}" for c in counts)
    rows = [
        f"  {name:<20}" + "".join(f"{int(v):>9,}" for v in row) for name, row in counts.iterrows()
    ]
    return "\n".join([head, *rows])


def cmd_demo_data(args) -> None:
    from .demo import write_demo

    path = write_demo(args.out, args.customers, args.seed, shape=args.shape)
    print(f"wrote {args.customers:,} demo customers ({DEMO_SHAPES[args.shape]}) to {path}")


def cmd_demo_history(args) -> None:
    from .demo.history import write_demo_history
    from .io.database import Database
    from .outputs.migration import scorings

    history = write_demo_history(args.input, args.model, args.db, args.scorings, args.every_weeks)
    times = scorings(history)
    print(
        f"wrote segment_history ({len(history):,} rows, {len(times)} scorings from {times[0]:%Y-%m-%d} to "
        f"{times[-1]:%Y-%m-%d}) and segment_migration to {Database(args.db)}"
    )


def cmd_features(args) -> None:
    from .jobs import load_dataset
    from .outputs.files import write_table

    dataset = load_dataset(args.input, load_options(args))
    _say(*dataset.notices)
    write_table(dataset.customers, args.out, "customer_features")
    report = dataset.report
    print(
        f"wrote features of {len(dataset.customers):,} customers ({report['rows_used']:,} of "
        f"{report['rows_in']:,} rows used) to {args.out}"
    )


def cmd_fit(args) -> None:
    from .jobs import fit_bundle, load_dataset

    dataset = load_dataset(args.input, load_options(args))
    _say(*dataset.notices)
    bundle = fit_bundle(dataset, fit_options(args), progress=None)
    bundle.save(args.model)
    print(bundle.metadata["k_reason"])
    print(segment_table(bundle.segments))
    print(f"model saved to {args.model}")


def cmd_assign(args) -> None:
    from .book.bundle import Bundle
    from .jobs import load_dataset
    from .outputs.files import write_table

    bundle = Bundle.load(args.model)
    dataset = load_dataset(args.input, bundle.load_options(load_options(args)))
    _say(*dataset.notices)
    out = bundle.assign(dataset.customers)
    write_table(out, args.out)
    counts = out["segment"].value_counts().sort_index()
    print(f"assigned {len(out):,} customers to {len(counts)} segments; wrote {args.out}")


def cmd_profile(args) -> None:
    from .book.bundle import Bundle
    from .outputs.files import write_table

    bundle = Bundle.load(args.model)
    print(bundle.metadata["k_reason"])
    print(segment_table(bundle.segments))
    for s in bundle.segments.itertuples():
        print(f"\n[{s.segment}] {s.segment_name}: {s.summary}\n    action: {s.recommended_action}")
    if bundle.rfm_crosstab is not None:
        print("\ncustomers per segment and named RFM segment:")
        print(rfm_table(bundle.rfm_crosstab))
    if args.out:
        write_table(bundle.segments, args.out, "segment_profiles")
        print(f"\nwrote {args.out}")


def cmd_export(args) -> None:
    import pandas as pd

    from .outputs.files import write_table

    path = Path(args.input)
    if not path.exists():
        raise InputError(f"input file not found: {path}")
    frame = pd.read_csv(path, dtype={"customer_id": str})
    if "segment" not in frame.columns:
        raise InputError(
            f"{path.name} has no segment column: export reads customer_segments.csv from run or assign"
        )
    if args.segment:
        unknown = sorted(set(args.segment) - set(frame["segment"]))
        if unknown:
            raise InputError(
                f"--segment {unknown[0]}: no such segment; segments are {sorted(set(frame['segment']))}"
            )
        frame = frame[frame["segment"].isin(args.segment)]
    write_table(frame, args.out)
    print(f"wrote {len(frame):,} customers to {args.out}")


def _database_source(args, required: bool):
    """The --db/--table/--query input, or None when the input is a file."""
    from .io.database import DatabaseSource

    if args.table is None and args.query is None:
        if required:
            raise InputError("give the input as --table NAME or --query SQL (with --db URL)")
        return None
    return DatabaseSource(args.db, table=args.table, query=args.query)


def _spark_source(args):
    """The --spark input (a path, or a table with --table), or None."""
    if args.spark is None:
        return None
    if args.db or args.query:
        raise InputError("--spark reads a path or --table NAME from Spark; --db and --query are for databases")
    if args.spark and args.table:
        raise InputError(f"give --spark a path or --table NAME, not both (got {args.spark} and {args.table})")
    if not args.spark and not args.table:
        raise InputError("--spark needs a PATH (Parquet or CSV file, folder or glob) or --table NAME")
    from .io.spark import SparkSource

    return SparkSource(
        path=args.spark or None,
        table=args.table,
        master=args.spark_master,
        tables=args.spark_out,
        driver_customers=args.driver_customers,
    )


def _spark_lines(tables, fitted: int | None = None) -> list[str]:
    lines = []
    if fitted is not None and fitted == tables.customers:
        lines.append(f"every customer ({fitted:,}) fitted on the driver")
    lines.append(
        f"{tables.customers:,} customers scored inside Spark; customer_segments, segment_profiles, "
        f"segment_history written to {tables.folder}/"
    )
    return lines


def cmd_run(args) -> None:
    from .jobs import run

    spark = _spark_source(args)
    if spark is not None and args.input:
        raise InputError(f"give either an input file or --spark PATH, not both (got {args.input})")
    source = spark or _database_source(args, required=False)
    if source is not None and args.input:
        raise InputError(f"give either an input file or --table/--query, not both (got {args.input})")
    if source is None and not args.input:
        raise InputError("no input: give a transactions file, or --db URL with --table NAME or --query SQL")
    if source is None and args.db:
        raise InputError("--db needs --table NAME or --query SQL (or use --out-db to write tables there)")
    publish_to = args.out_db or (source.database.url if source is not None and spark is None else None)
    result = run(
        source or args.input,
        args.out,
        load_options(args),
        fit_options(args),
        transactions_table=not args.no_transactions_table,
        publish_to=publish_to,
        progress=None,
        say=_say,
    )
    _say(*result.dataset.notices)
    report = result.dataset.report
    print(
        f"{report['rows_in']:,} rows in, {report['rows_used']:,} used, {report['rows_set_aside']:,} set aside; "
        f"{len(result.segments):,} customers segmented"
    )
    print(result.bundle.metadata["k_reason"])
    print(segment_table(result.bundle.segments))
    if result.bundle.rfm_crosstab is not None:
        print(rfm_table(result.bundle.rfm_crosstab))
    print(f"outputs in {result.out_dir}/: " + ", ".join(sorted(p.name for p in result.files.values())))
    if result.tables is not None:
        print(*_spark_lines(result.tables, len(result.segments)), sep="\n")
    if publish_to is not None:
        from .io.database import Database

        print(
            "tables customer_features, customer_segments, segment_profiles, segment_history written to "
            f"{Database(publish_to)} (model {result.bundle.model_version})"
        )


def cmd_score(args) -> None:
    import pandas as pd

    from .jobs import score
    from .outputs.migration import migration_sankey

    source = _spark_source(args) or _database_source(args, required=True)
    result = score(source, args.model, load_options(args), out_url=args.out_db, say=_say)
    _say(*result.notices)
    scope = f"with transactions since {args.since}" if args.since else "in all"
    if not result.customers:
        print(f"no customers {scope}: nothing to score")
        return
    print(
        f"scored {result.customers:,} customers {scope} with model {result.model_version}: "
        f"{result.n_changed:,} new or changed segment; tables updated in {result.where}"
    )
    if not result.n_changed:
        return  # the migration table still holds the moves of an earlier scoring
    for row in result.migration.itertuples():
        if pd.isna(row.from_segment) or row.from_segment != row.to_segment:
            start = "new" if pd.isna(row.from_segment) else f"{int(row.from_segment)} {row.from_name}"
            print(f"  {start:<42} -> {int(row.to_segment)} {row.to_name}: {int(row.customers):,}")
    if args.sankey:
        path = Path(args.sankey)
        path.parent.mkdir(parents=True, exist_ok=True)
        migration_sankey(result.migration).write_html(path, include_plotlyjs=True)
        print(f"wrote {path}")


def parse_values(items: list[str], features: list[str]) -> dict[str, float]:
    """``f1=v1,f2=v2`` pairs of --values as feature -> number, checked against the model's features."""
    values: dict[str, float] = {}
    for pair in ",".join(items).split(","):
        if not pair.strip():
            continue
        name, sep, text = (part.strip() for part in pair.partition("="))
        if not sep or not text:
            raise InputError(f"--values expects feature=value, got {pair.strip()!r}")
        if name not in features:
            raise InputError(f"--values: the model has no feature {name!r}; its features are {', '.join(features)}")
        try:
            values[name] = float(text.replace("_", ""))
        except ValueError:
            raise InputError(f"--values {name}={text}: {text!r} is not a number") from None
    if not values:
        raise InputError(f"--values: no value given; the model's features are {', '.join(features)}")
    return values


def cmd_explain(args) -> None:
    from .book.bundle import Bundle
    from .book.explain import feature_scales

    bundle = Bundle.load(args.model)
    out = bundle.explain(parse_values(args.values, bundle.features))
    scales = feature_scales(bundle) if out.imputed else {}
    for f in out.imputed:
        _say(f"not given: {f}; the model uses its training median ({scales[f].write(out.values[f])})")
    print(f"segment {out.segment}: {out.segment_name}")
    if out.summary:
        print(f"  {out.summary}")
    print(f"  action: {out.recommended_action}")
    if out.distances:
        own = " (own)"
        print("distance to each segment's centre: " + ", ".join(
            f"{s}: {d:.2f}{own if s == out.segment else ''}" for s, d in out.distances.items()
        ))
    if out.moves:
        print(f"what would move this customer to {out.nearest_other} {out.nearest_other_name}:")
        for i, move in enumerate(out.moves):
            print(f"  {'or ' if i else ''}{move.text}")
    else:
        print(out.note)


def cmd_sql(args) -> None:
    from .book.bundle import Bundle
    from .outputs.sql import scoring_sql

    sql = scoring_sql(Bundle.load(args.model).scoring, args.table, args.id_column, args.float_type) + ";\n"
    if args.out:
        Path(args.out).write_text(sql)
        print(f"wrote {args.out}")
    else:
        sys.stdout.write(sql)


COMMANDS = {
    "demo-data": cmd_demo_data,
    "demo-history": cmd_demo_history,
    "features": cmd_features,
    "fit": cmd_fit,
    "assign": cmd_assign,
    "profile": cmd_profile,
    "export": cmd_export,
    "run": cmd_run,
    "score": cmd_score,
    "sql": cmd_sql,
    "explain": cmd_explain,
}


def run_command(command, args) -> int:
    """Run one command: bad input gives one line on stderr and exit code 2, never a traceback."""
    try:
        return command(args) or 0
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(COMMANDS[args.command], args)

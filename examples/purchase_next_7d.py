"""Example for ML teams: predict a purchase in the next 7 days from features.user_daily.

    python examples/purchase_next_7d.py --home DIR [--env local] [--horizon-days 7] [--rebuild]

DIR is a detak home whose silver tables are built (e.g. by ``detak demo`` or ``detak run``). When
features.user_daily is empty (or with ``--rebuild``) the features are built first for every as-of
date the silver data covers. Labels, the point-in-time training frame (get_training_frame), the
time split and the model live in ``jobs/ml/purchase.py``; this script only wires them and prints
the metrics: ROC AUC on the later, held-out days, next to a one-feature baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from pyspark.sql import functions as F

from jobs.common.config import load_settings
from jobs.common.spark import get_spark
from jobs.common.tables import ensure_table, read_table
from jobs.features.definitions import TABLE
from jobs.features.user_daily import build_features
from jobs.ml.purchase import train_purchase


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="detak home with silver tables")
    parser.add_argument("--env", default=os.environ.get("DETAK_ENV", "local"), help="settings environment")
    parser.add_argument("--horizon-days", type=int, default=None, help="label window (default: conf, 7)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the features of every as-of date first")
    args = parser.parse_args(argv)

    overrides = {"features": {"ml": {"horizon_days": args.horizon_days}}} if args.horizon_days else None
    settings = load_settings(args.env, environ={**os.environ, "DETAK_HOME": str(args.home)}, overrides=overrides)
    spark = get_spark(settings, app_name="detak-purchase-next-7d")
    ensure_table(spark, TABLE, settings)
    if args.rebuild or read_table(spark, TABLE, settings).limit(1).count() == 0:
        span = read_table(spark, "silver.events", settings).agg(F.min("event_date"), F.max("event_date")).first()
        if span is None or span[0] is None:
            print(f"no silver.events under {args.home}: build silver first", file=sys.stderr)
            return 2
        # Rows of as_of_date D + 1 are built from the data of days <= D.
        built = build_features(spark, span[0] + timedelta(days=1), span[1] + timedelta(days=1), settings)
        print(json.dumps({"features": built}, default=str), file=sys.stderr)
    metrics = train_purchase(spark, settings)
    print(json.dumps(metrics, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

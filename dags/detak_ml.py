"""
### detak_ml — models trained on validated gold and features, weekly

Once a week, two Spark submissions through the `spark_default` connection train detak's models
on the tables the quality gate let through: the cart-abandonment models, one per decision point
(`detak train abandonment --until D`, D the run's date, which also rewrites `gold.abandonment_drivers`
from permutation importance and partial dependence; `gold.cart_risk` in `detak_behaviour` scores open
carts with them) and the purchase-in-the-next-7-days model on `features.user_daily` (`detak train
purchase`). Each saves the model with its metrics and a model card under `<home>/models/`.
Re-running a week replaces that week's models.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import Asset, dag

from jobs.orchestration.airflow import RUN_DATE, asset_uri, default_args, job_task


@dag(
    dag_id="detak_ml",
    schedule="@weekly",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["detak", "ml", "weekly"],
    doc_md=__doc__,
)
def detak_ml() -> None:
    job_task(
        "train_abandonment",
        ["train", "abandonment", "--until", RUN_DATE],
        doc_md="Abandonment models per decision point and gold.abandonment_drivers.",
        inlets=[Asset(name="gold.cart_abandonment", uri=asset_uri("gold.cart_abandonment"))],
        outlets=[Asset(name="gold.abandonment_drivers", uri=asset_uri("gold.abandonment_drivers"))],
    )
    job_task(
        "train_purchase",
        ["train", "purchase"],
        doc_md="Purchase-in-the-next-7-days model on point-in-time features.",
        inlets=[Asset(name="features.user_daily", uri=asset_uri("features.user_daily"))],
    )


detak_ml()

"""
### detak_ml — models trained on validated gold and features, weekly

Once a week, two Spark submissions through the `spark_default` connection train detak's models
on the tables the quality gate let through: the cart-abandonment propensity model (`detak train
abandonment --until {{ ds }}`, which also rewrites `gold.abandonment_drivers` from permutation
importance) and the purchase-in-the-next-7-days model on `features.user_daily` (`detak train
purchase`). Each saves the model with its metrics and a model card under `<home>/models/`.
Re-running a week replaces that week's models.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import Asset, dag

from jobs.orchestration.airflow import asset_uri, default_args, spark_task_kwargs


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
    SparkSubmitOperator(
        task_id="train_abandonment",
        doc_md="Abandonment propensity model and gold.abandonment_drivers.",
        application_args=["train", "abandonment", "--until", "{{ ds }}"],
        inlets=[Asset(name="gold.cart_abandonment", uri=asset_uri("gold.cart_abandonment"))],
        outlets=[Asset(name="gold.abandonment_drivers", uri=asset_uri("gold.abandonment_drivers"))],
        **spark_task_kwargs(),
    )
    SparkSubmitOperator(
        task_id="train_purchase",
        doc_md="Purchase-in-the-next-7-days model on point-in-time features.",
        application_args=["train", "purchase"],
        inlets=[Asset(name="features.user_daily", uri=asset_uri("features.user_daily"))],
        **spark_task_kwargs(),
    )


detak_ml()

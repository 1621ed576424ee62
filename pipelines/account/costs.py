"""The smoke run's cost estimate: instance types from the configuration x expected minutes x an on-demand price.

The prices are SageMaker's on-demand list prices in us-east-1 (USD per instance-hour, the same for training,
processing and real-time hosting of these types), kept in code for the default ``ml.m5.*`` types: an estimate, not
a quote. Other regions cost somewhat more; a type not in the table is named and left out of the total.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.config import Config

PRICES_US_EAST_1 = {
    "ml.m5.large": 0.115,
    "ml.m5.xlarge": 0.23,
    "ml.m5.2xlarge": 0.461,
    "ml.m5.4xlarge": 0.922,
    "ml.m5.12xlarge": 2.765,
    "ml.m5.24xlarge": 5.53,
}
KMS_KEY_PER_DAY = 1.0 / 30  # a customer managed key: USD 1 a month, prorated (deleted keys bill their waiting period)
# expected minutes, billed from instance start: the pipeline's processing jobs (preprocess, data-quality profile and
# merge, evaluate, model-quality baseline, ...), its training job, the endpoint from creation to deletion, and one
# scheduled check's processing job
PIPELINE_PROCESSING_JOBS, PROCESSING_MINUTES = 6, 5
TRAINING_MINUTES = 8
ENDPOINT_MINUTES = 30
CHECK_MINUTES = 6


@dataclass(frozen=True)
class CostLine:
    what: str
    instance_type: str
    instances: int
    minutes: float
    price: float | None  # per instance-hour; None: not in the table

    @property
    def cost(self) -> float:
        return (self.price or 0.0) * self.instances * self.minutes / 60

    def describe(self) -> str:
        price = f"USD {self.price:.3f}/h" if self.price is not None else "price not in the table"
        return (
            f"{self.what:<34} {self.instances} x {self.instance_type:<14} x {self.minutes:>4.0f} min ({price}) "
            f"= USD {self.cost:.2f}"
        )


def estimate(config: Config) -> list[CostLine]:
    """The smoke run's expected instance usage, priced."""
    sm, serving = config.sagemaker, config.serving

    def line(what: str, kind: str, count: int, minutes: float) -> CostLine:
        return CostLine(what, kind, count, minutes, PRICES_US_EAST_1.get(kind))

    return [
        line(
            f"pipeline: {PIPELINE_PROCESSING_JOBS} processing jobs",
            sm.processing_instance_type,
            sm.processing_instance_count,
            PIPELINE_PROCESSING_JOBS * PROCESSING_MINUTES,
        ),
        line("pipeline: training", sm.training_instance_type, sm.training_instance_count, TRAINING_MINUTES),
        line("endpoint, created to deleted", serving.instance_type, serving.instance_count, ENDPOINT_MINUTES),
        line("one monitoring check job", sm.processing_instance_type, 1, CHECK_MINUTES),
    ]


def estimate_text(config: Config) -> list[str]:
    """The lines printed before a smoke run."""
    lines = estimate(config)
    total = sum(item.cost for item in lines) + KMS_KEY_PER_DAY
    unknown = sorted({item.instance_type for item in lines if item.price is None})
    region = config.project.region
    where = "us-east-1" if region == "us-east-1" else f"us-east-1; {region} may differ"
    text = [f"Estimated cost of this smoke run (on-demand list prices, {where}):"]
    text += [f"  {item.describe()}" for item in lines]
    text.append(f"  {'KMS key, one day of a month':<34} = USD {KMS_KEY_PER_DAY:.2f}")
    text.append("  S3, CloudWatch, Lambda, CloudFormation: cents at most")
    text.append(f"  total about USD {total:.2f}, an estimate (billing rounds up, taxes excluded), not a quote")
    if unknown:
        text.append(f"  not in the price table, so not counted: {', '.join(unknown)}")
    return text

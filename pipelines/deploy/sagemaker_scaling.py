"""Endpoint autoscaling of a SageMaker deploy (``serving.autoscaling``): target tracking of the variant on
SageMakerVariantInvocationsPerInstance through Application Auto Scaling.

What AWS documents for updating an endpoint that uses autoscaling ("Update endpoints that use auto scaling",
SageMaker developer guide), and what a deploy therefore does:
- changing only the model of a registered variant is allowed: the registration and its policy are kept across the
  blue/green update (the variant name never changes), the new endpoint config carries the variant's current desired
  instance count, and UpdateEndpoint retains the variant's properties (its desired count and weight, not its data
  capture) so the update does not scale a busy endpoint down;
- changing the instance type of a registered variant makes UpdateEndpoint fail: the variant is deregistered first
  (which deletes its scaling policies) and registered again once the endpoint is InService;
- after every deploy that leaves the endpoint InService, RegisterScalableTarget and PutScalingPolicy (both
  idempotent: they update the existing target and policy) apply the configured bounds, target and cool-downs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipelines.config import Config
from pipelines.deploy.sagemaker_requests import call as _call

NAMESPACE = "sagemaker"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
METRIC = "SageMakerVariantInvocationsPerInstance"
KEPT, DEREGISTERED, NONE = "kept", "deregistered", "none"  # what before_update did with the registration


def resource_id(endpoint: str, variant: str) -> str:
    """Application Auto Scaling's id of an endpoint variant."""
    return f"endpoint/{endpoint}/variant/{variant}"


def policy_name(endpoint: str, variant: str) -> str:
    """The target-tracking policy a deploy puts on the variant."""
    return f"{endpoint}-{variant}-invocations-per-instance"


@dataclass(frozen=True)
class Scaling:
    """The autoscaling of variant ``config.serving.variant_name`` of ``endpoint`` (``client``:
    application-autoscaling; None when autoscaling is disabled and nothing is called)."""

    endpoint: str
    config: Config
    client: Any
    progress: Callable[[str], None]

    @property
    def enabled(self) -> bool:
        return self.config.serving.autoscaling.enabled

    @property
    def resource(self) -> str:
        return resource_id(self.endpoint, self.config.serving.variant_name)

    def clamp(self, count: int) -> int:
        """``count`` within [min_instances, max_instances]."""
        serving = self.config.serving
        return max(serving.min_instances, min(count, serving.autoscaling.max_instances or count))

    def instance_count(self, described: dict | None) -> int:
        """InitialInstanceCount of the new endpoint config: the configured count (within the bounds when
        autoscaling), or, on an update of an autoscaled endpoint, the variant's current desired count."""
        serving = self.config.serving
        if not self.enabled:
            return serving.instance_count
        variants = (described or {}).get("ProductionVariants") or []
        live = next((v for v in variants if v.get("VariantName") == serving.variant_name), None)
        current = (live or {}).get("DesiredInstanceCount") or (live or {}).get("CurrentInstanceCount")
        return self.clamp(int(current) if current else serving.instance_count)

    def registered(self) -> bool:
        """Whether the variant is a scalable target now."""
        found = _call(
            f"DescribeScalableTargets {self.resource}",
            self.client.describe_scalable_targets,
            ServiceNamespace=NAMESPACE,
            ResourceIds=[self.resource],
            ScalableDimension=DIMENSION,
        )
        return bool(found.get("ScalableTargets"))

    def before_update(self, live_type: str | None) -> str:
        """Before UpdateEndpoint: KEPT when the variant is registered and keeps its registration (the update then
        retains its desired count); DEREGISTERED when the instance type changes (UpdateEndpoint refuses that for
        a registered variant); NONE when it is not registered or autoscaling is off."""
        if not self.enabled or not self.registered():
            return NONE
        if live_type is None or live_type == self.config.serving.instance_type:
            return KEPT
        _call(
            f"DeregisterScalableTarget {self.resource}",
            self.client.deregister_scalable_target,
            ServiceNamespace=NAMESPACE,
            ResourceId=self.resource,
            ScalableDimension=DIMENSION,
        )
        self.progress(
            f"Deregistered {self.resource} from autoscaling: its instance type changes from {live_type} to "
            f"{self.config.serving.instance_type} (registered again once the endpoint is InService)"
        )
        return DEREGISTERED

    def apply(self) -> None:
        """Register the variant with the configured bounds and put its target-tracking policy (idempotent)."""
        if not self.enabled:
            return
        serving, scaling = self.config.serving, self.config.serving.autoscaling
        maximum = scaling.max_instances or serving.min_instances
        key = {"ServiceNamespace": NAMESPACE, "ResourceId": self.resource, "ScalableDimension": DIMENSION}
        _call(
            f"RegisterScalableTarget {self.resource}",
            self.client.register_scalable_target,
            **key,
            MinCapacity=serving.min_instances,
            MaxCapacity=maximum,
        )
        name = policy_name(self.endpoint, serving.variant_name)
        _call(
            f"PutScalingPolicy {name}",
            self.client.put_scaling_policy,
            PolicyName=name,
            PolicyType="TargetTrackingScaling",
            **key,
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": float(scaling.target_invocations_per_instance),
                "PredefinedMetricSpecification": {"PredefinedMetricType": METRIC},
                "ScaleInCooldown": scaling.scale_in_cooldown_seconds,
                "ScaleOutCooldown": scaling.scale_out_cooldown_seconds,
            },
        )
        self.progress(
            f"Autoscaling {self.resource}: {serving.min_instances} to {maximum} instances, target "
            f"{scaling.target_invocations_per_instance:g} invocations per instance (policy {name})"
        )

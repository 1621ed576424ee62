"""The monitoring alarms' names, one module for the local loop's alarms and the CloudFormation template's.

An endpoint's alarms are named after its prefix (the lower-cased endpoint name, at most 40 characters). Two
families, each a composite alarm (what alerts and retrains) over one alarm per metric:

- data quality: ``<prefix>-drift`` over ``<prefix>-drift-<part>``, one per feature, where ``<part>`` is
  ``alarm_name_part(feature)``;
- model quality: ``<prefix>-model-quality`` over ``<prefix>-model-quality-<part>``, one per alarmed metric
  (Model Monitor's metric names: ``rmse``, ``auc``, ``f0_5`` ...).

The template passes ``${NamePrefix}`` as the prefix.

CloudWatch takes any UTF-8 without control characters in an alarm name, but the names also go into ARNs (EventBridge
patterns, IAM conditions), composite alarm rules (``ALARM("...")``, where a double quote or a parenthesis ends the
name) and CloudFormation ``Fn::Sub`` strings, so a name keeps only ASCII letters, digits and ``_.-``. Standard
library only: the local alarms import it.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

MAX_NAME = 255  # CloudWatch alarm and metric names, CloudFormation logical ids
MAX_PREFIX = 40  # name_prefix
DRIFT = "-drift"  # the composite alarm's suffix; a feature alarm adds "-<part>"
MODEL_QUALITY = "-model-quality"  # the model-quality composite's suffix; a metric's alarm adds "-<part>"
# What a feature contributes to its alarm's name, so that "<prefix>-drift-<part>" fits in MAX_NAME.
MAX_ALARM_PART = MAX_NAME - MAX_PREFIX - len(DRIFT) - 1  # 208
_SAFE_PART = re.compile(r"^[A-Za-z0-9_.-]+$")
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9_.]+")


def name_digest(value: str) -> str:
    """Eight hex digits of the SHA-256 of ``value`` (UTF-8): what keeps rewritten names distinct and stable."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:8]


def ascii_fold(value: str) -> str:
    """``value`` with accents folded to ASCII letters ("été" -> "ete") and other non-ASCII characters dropped."""
    return unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")


def alarm_name_part(feature: str, limit: int = MAX_ALARM_PART) -> str:
    """A feature's part of an alarm name: the name itself when it is made of letters, digits and ``_.-`` and fits
    in ``limit``; otherwise a readable ASCII form plus a hash of the exact name (``mean radius`` ->
    ``mean-radius-1a2b3c4d``), so names differing only in such characters get distinct, stable alarm names."""
    if limit < 9:
        raise ValueError(f"alarm_name_part: limit must leave room for the 8-character hash, got {limit}")
    if _SAFE_PART.match(feature) and len(feature) <= limit:
        return feature
    digest = name_digest(feature)
    readable = _UNSAFE_RUN.sub("-", ascii_fold(feature)).strip("-.")[: limit - len(digest) - 1].rstrip("-.")
    return f"{readable}-{digest}" if readable else digest


def name_prefix(endpoint: str) -> str:
    """Lower-case prefix of an endpoint's alarms (and, on AWS, functions, topic and key alias): the endpoint name,
    at most 40 characters."""
    return endpoint.lower()[:MAX_PREFIX].rstrip("-")


def drift_alarm_name(prefix: str) -> str:
    """The composite drift alarm of the endpoint with this ``name_prefix``: ``<prefix>-drift``."""
    return f"{prefix}{DRIFT}"


def feature_alarm_name(prefix: str, feature: str) -> str:
    """The drift alarm of one feature: ``<prefix>-drift-<alarm_name_part(feature)>``."""
    return f"{drift_alarm_name(prefix)}-{alarm_name_part(feature)}"


def model_quality_alarm_name(prefix: str) -> str:
    """The composite model-quality alarm of the endpoint with this ``name_prefix``: ``<prefix>-model-quality``."""
    return f"{prefix}{MODEL_QUALITY}"


def metric_alarm_name(prefix: str, metric: str) -> str:
    """The model-quality alarm of one metric: ``<prefix>-model-quality-<alarm_name_part(metric)>``."""
    limit = MAX_NAME - MAX_PREFIX - len(MODEL_QUALITY) - 1
    return f"{model_quality_alarm_name(prefix)}-{alarm_name_part(metric, limit)}"

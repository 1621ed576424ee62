"""``mlops monitor ground-truth``: a labels file in, SageMaker ground-truth records out (local object store or S3).

The options are checked first, then the labels as they are read (every bad line named, nothing written on any),
streamed into one new file ``<ground truth destination>/yyyy/mm/dd/hh/<unique>.jsonl`` for the UTC hour of ingestion:
locally whole or not at all (a temporary file beside it, renamed into place only after the last line passed), on S3
with one PutObject of a local temporary copy made only after the last line passed (KMS-encrypted with
``sagemaker.kms_key_id`` when set). Memory does not grow with the labels file (see ``monitoring.ground_truth_labels``
and ``monitoring.ground_truth_records``).
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

from mlops_errors import MlopsError
from pipelines.commands.options import bucket_option, state_dir_option

Clock = Callable[[], datetime]


class GroundTruthUploadError(MlopsError, RuntimeError):
    """The ground-truth file could not be written to S3 (nothing was written)."""


def register(monitor_subparsers) -> None:
    """Add ``ground-truth`` under ``mlops monitor``."""
    parser = monitor_subparsers.add_parser(
        "ground-truth",
        help="ingest labels (CSV or JSON Lines keyed by inference id) as SageMaker ground-truth records",
        description=(
            "Labels keyed by the inference id given to InvokeEndpoint (or the capture record's event id), matched "
            "exactly: an id starting with whitespace or holding a control character is refused. Regression labels "
            "must be finite decimal numbers; binary labels 0 or 1, or the configured data.positive_class (1) and "
            "--negative-class (0). Nothing is written unless every line is good. Written under "
            "<ground truth destination>/yyyy/mm/dd/hh/ for this UTC hour."
        ),
    )
    parser.add_argument("--labels", required=True, type=Path, help="a .csv (with a header) or .jsonl labels file")
    parser.add_argument("--id-column", default="inference_id", help="the id column / key (default inference_id)")
    parser.add_argument("--label-column", default="label", help="the label column / key (default label)")
    parser.add_argument(
        "--negative-class", default=None, help="binary: the label text that means 0 (not the positive class, not 1)"
    )
    parser.add_argument("--config", default=None, help="configuration file (default mlops.yaml)")
    parser.add_argument(
        "--state-dir", type=state_dir_option, default=None, help="local state directory (default from config)"
    )
    parser.add_argument("--backend", choices=("local", "sagemaker"), default="local", help="where to write")
    parser.add_argument(
        "--bucket", type=bucket_option, default=None, help="sagemaker: the bucket (default sagemaker.bucket)"
    )
    parser.add_argument("--region", default=None, help="sagemaker: AWS region (default project.region)")
    parser.set_defaults(handler=run)


def _config(args: argparse.Namespace):
    from pipelines.build import config_from_kwargs, local_config

    config = config_from_kwargs({"default_bucket": args.bucket, "region": args.region}, args.config)
    if args.backend == "local":
        return local_config(config)
    if not config.sagemaker.bucket and not config.monitoring.model_quality.ground_truth_destination:
        raise GroundTruthUploadError(
            "--backend sagemaker needs a bucket: set sagemaker.bucket or "
            "monitoring.model_quality.ground_truth_destination in the configuration, or pass --bucket"
        )
    return config


def upload(s3_client, uri: str, body: bytes | BinaryIO, kms_key_id: str | None) -> None:
    """One PutObject of the whole file, bytes or a file positioned at its start (KMS-encrypted when a key is given);
    a GroundTruthUploadError otherwise."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    from pipelines.objectstore import split_s3_uri

    bucket, key = split_s3_uri(uri)
    extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id} if kms_key_id else {}
    try:
        s3_client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/jsonlines", **extra)
    except NoCredentialsError as exc:
        raise GroundTruthUploadError(f"Cannot write {uri}: no AWS credentials found") from exc
    except (ClientError, BotoCoreError) as exc:
        raise GroundTruthUploadError(f"Cannot write {uri}: {exc}") from exc


def run(args: argparse.Namespace, s3_client=None, clock: Clock | None = None) -> int:
    """Check the options, then stream the checked labels into one ground-truth file; print where and how many."""
    from monitoring.ground_truth_labels import stream_labels
    from monitoring.ground_truth_records import IdTally, ground_truth_chunks, ground_truth_key, write_whole
    from pipelines.objectstore import local_path

    config = _config(args)
    pairs = stream_labels(
        args.labels,
        config.data.problem_type,
        id_column=args.id_column,
        label_column=args.label_column,
        positive_class=config.data.positive_class,
        negative_class=args.negative_class,
    )
    tally = IdTally()
    chunks = ground_truth_chunks(pairs, tally)
    now = (clock or (lambda: datetime.now(timezone.utc)))()
    uri = ground_truth_key(config.ground_truth_destination, now)
    if args.backend == "sagemaker":
        _upload_checked(s3_client, config, uri, chunks)
        where = uri
    else:
        state = args.state_dir or Path(config.project.state_dir)
        where = str(write_whole(local_path(uri, state), chunks))
        uri = f"{uri} ({where})"
    repeated = tally.repeated()
    also = f" ({repeated} ids repeated: the later line wins)" if repeated else ""
    print(f"Wrote {tally.labels} labels for {config.data.problem_type} to {uri}{also}")
    return 0


def _upload_checked(s3_client, config, uri: str, chunks: Iterable[bytes]) -> None:
    """Spool the records to an anonymous temporary file (a bad labels line stops here: nothing is sent), then put
    it with one PutObject."""
    with tempfile.TemporaryFile() as spool:
        for chunk in chunks:
            spool.write(chunk)
        spool.seek(0)
        if s3_client is None:
            import boto3

            s3_client = boto3.Session(region_name=config.project.region).client("s3")
        upload(s3_client, uri, spool, config.sagemaker.kms_key_id)

"""Content hash of training data in S3: the same digest the local loop computes for a file or a directory.

``pipelines.monitor.retrain.content_hash`` hashes, in name order, each file's path relative to the directory (a
single file: its name) followed by ``\\0`` and its bytes. Here a URI naming an object is the file; any other URI
is a directory (``/`` appended) whose objects are the files. So the same snapshot hashes alike on a laptop and in
S3.
"""

from __future__ import annotations

import hashlib
import re
from functools import partial

from monitoring.cloud.s3util import list_keys, split_s3_uri

CHUNK = 1 << 20
# Code and data staged by the CLI live under content-addressed keys: .../data/<sha256>/<file> never changes.
CONTENT_ADDRESSED = re.compile(r"/(?:data|code)/[0-9a-f]{64}/")


def is_content_addressed(uri: str) -> bool:
    """True for the CLI's staged locations (``s3://<bucket>/<pipeline>/data/<sha256>/...``), which never change."""
    return bool(CONTENT_ADDRESSED.search(uri))


def s3_content_hash(s3, uri: str) -> tuple[str, int] | None:
    """(sha256 hex, number of objects) of the data at ``uri``; None when nothing is there."""
    bucket, key = split_s3_uri(uri, "data location")
    keys = [k for k, _size in list_keys(s3, bucket, key)]
    if key and key in keys:  # a file: hashed alone, under its name
        keys, base = [key], key.rsplit("/", 1)[0] + "/" if "/" in key else ""
    else:  # a directory: its objects, named relative to it
        base = key if not key or key.endswith("/") else key + "/"
        keys = [k for k in keys if k.startswith(base)]
    # the local hash walks files in pathlib order (by path components), not in S3's flat key order
    keys.sort(key=lambda k: k[len(base) :].split("/"))
    sha = hashlib.sha256()
    for object_key in keys:
        sha.update(object_key[len(base) :].encode() + b"\0")
        body = s3.get_object(Bucket=bucket, Key=object_key)["Body"]
        for block in iter(partial(body.read, CHUNK), b""):
            sha.update(block)
    return (sha.hexdigest(), len(keys)) if keys else None

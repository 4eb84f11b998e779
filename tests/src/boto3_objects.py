"""Writes and reads objects the way AWS's SDKs do, with boto3 (written by s3mt's tests).

Usage:
  boto3_objects.py put KEY FILE ALGORITHM            one PutObject (ALGORITHM: CRC32, CRC32C,
                                                      CRC64NVME, SHA256, or NONE for no checksum)
  boto3_objects.py multipart KEY FILE ALGORITHM TYPE PART_SIZES
                                                      (ALGORITHM NONE: no checksum at all)
                                                      a multipart upload (TYPE: FULL_OBJECT or
                                                      COMPOSITE), each part sent with its checksum;
                                                      PART_SIZES: one size for all parts, or a
                                                      comma-separated size per part
  boto3_objects.py get KEY                           GetObject with ChecksumMode=ENABLED, the body
                                                      read to its end (botocore checks a full-object
                                                      checksum as it reads, and raises on a mismatch);
                                                      prints what it saw as JSON

The endpoint, credentials, region and CA bundle come from S3MT_ENDPOINT, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_REGION and AWS_CA_BUNDLE; the bucket from S3MT_BUCKET.
"""
import base64
import hashlib
import json
import os
import sys

import boto3
from awscrt import checksums
from botocore.config import Config


def client(checksums_when="when_supported"):
    config = Config(
        s3={"addressing_style": "path"},
        request_checksum_calculation=checksums_when,
        response_checksum_validation="when_supported",
        retries={"max_attempts": 1, "mode": "standard"},
    )
    return boto3.client(
        "s3",
        endpoint_url=os.environ["S3MT_ENDPOINT"],
        region_name=os.environ["AWS_REGION"],
        verify=os.environ.get("AWS_CA_BUNDLE") or None,
        config=config,
    )


def whole_crc(algorithm, data):
    """The whole object's CRC as S3 encodes it (base64 of the big-endian value)."""
    if algorithm == "CRC32":
        return base64.b64encode(checksums.crc32(data).to_bytes(4, "big")).decode()
    if algorithm == "CRC32C":
        return base64.b64encode(checksums.crc32c(data).to_bytes(4, "big")).decode()
    if algorithm == "CRC64NVME":
        return base64.b64encode(checksums.crc64nvme(data).to_bytes(8, "big")).decode()
    raise SystemExit(f"no full-object checksum for {algorithm}")


def put(key, path, algorithm):
    bucket = os.environ["S3MT_BUCKET"]
    with open(path, "rb") as f:
        data = f.read()
    if algorithm == "NONE":
        client("when_required").put_object(Bucket=bucket, Key=key, Body=data)
    else:
        client().put_object(Bucket=bucket, Key=key, Body=data, ChecksumAlgorithm=algorithm)


def cuts(length, part_sizes):
    """(offset, length) of each part: sizes as listed, the last one repeated."""
    offset, index = 0, 0
    while offset < length:
        size = part_sizes[min(index, len(part_sizes) - 1)]
        yield offset, min(size, length - offset)
        offset, index = offset + size, index + 1


def multipart(key, path, algorithm, kind, part_sizes):
    """A multipart upload, each part sent with its checksum; with ALGORITHM NONE, no checksum
    at all, as SDKs older than 2025 made them."""
    bucket = os.environ["S3MT_BUCKET"]
    checked = algorithm != "NONE"
    s3 = client() if checked else client("when_required")
    with open(path, "rb") as f:
        data = f.read()
    create = {"ChecksumAlgorithm": algorithm, "ChecksumType": kind} if checked else {}
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
    part_checksum = {"ChecksumAlgorithm": algorithm} if checked else {}
    field = "Checksum" + algorithm
    parts = []
    for number, (offset, size) in enumerate(cuts(len(data), part_sizes), start=1):
        reply = s3.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=data[offset : offset + size],
            **part_checksum,
        )
        part = {"PartNumber": number, "ETag": reply["ETag"]}
        # As s3transfer does: the part's checksum goes back only when the server gave one.
        if checked and field in reply:
            part[field] = reply[field]
        parts.append(part)
    complete = {"MultipartUpload": {"Parts": parts}}
    if checked and kind == "FULL_OBJECT":
        complete[field] = whole_crc(algorithm, data)
        complete["ChecksumType"] = "FULL_OBJECT"
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, **complete)


def get(key):
    reply = client().get_object(
        Bucket=os.environ["S3MT_BUCKET"], Key=key, ChecksumMode="ENABLED"
    )
    body = reply["Body"]
    data = body.read()
    stored = {
        name[len("Checksum"):]: value
        for name, value in reply.items()
        if name.startswith("Checksum") and name != "ChecksumType"
    }
    print(
        json.dumps(
            {
                # botocore wraps the body to check it as it is read only when it can.
                "checked_by_botocore": type(body).__name__ == "StreamingChecksumBody",
                "checksums": stored,
                "checksum_type": reply.get("ChecksumType"),
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    )


def main(args):
    command = args[0]
    if command == "put":
        put(args[1], args[2], args[3])
    elif command == "multipart":
        multipart(args[1], args[2], args[3], args[4], [int(n) for n in args[5].split(",")])
    elif command == "get":
        get(args[1])
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv[1:])

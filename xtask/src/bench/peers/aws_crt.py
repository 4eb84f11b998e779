"""Copy one file to or from S3 with the AWS CRT S3 client (written by s3mt's xtask).

Usage: s3mt_crt_copy.py upload|download --endpoint URL --bucket B --key K --file PATH
       [--part-size BYTES --concurrency N] [--ca-bundle PEM]
Credentials and region come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION.
"""
import argparse
import os
from urllib.parse import urlsplit

import awscrt.auth
import botocore.config
import botocore.session
from s3transfer.crt import (
    BotocoreCRTRequestSerializer,
    CRTTransferManager,
    create_s3_crt_client,
)
from s3transfer.manager import TransferConfig

parser = argparse.ArgumentParser()
parser.add_argument("direction", choices=["upload", "download"])
parser.add_argument("--endpoint", required=True)
parser.add_argument("--bucket", required=True)
parser.add_argument("--key", required=True)
parser.add_argument("--file", required=True)
parser.add_argument("--part-size", type=int)
parser.add_argument("--concurrency", type=int)
parser.add_argument("--ca-bundle")
args = parser.parse_args()

region = os.environ["AWS_REGION"]
credentials = awscrt.auth.AwsCredentialsProvider.new_static(
    os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
)
client_args = {}
config = None
if args.part_size is not None:
    client_args["part_size"] = args.part_size
    config = TransferConfig(
        multipart_threshold=args.part_size,
        multipart_chunksize=args.part_size,
        max_request_concurrency=args.concurrency,
    )
crt_client = create_s3_crt_client(
    region,
    crt_credentials_provider=credentials,
    use_ssl=urlsplit(args.endpoint).scheme == "https",
    verify=args.ca_bundle,
    **client_args,
)
serializer = BotocoreCRTRequestSerializer(
    botocore.session.Session(),
    {
        "region_name": region,
        "endpoint_url": args.endpoint,
        "config": botocore.config.Config(s3={"addressing_style": "path"}),
    },
)
with CRTTransferManager(crt_client, serializer, config=config) as manager:
    if args.direction == "upload":
        future = manager.upload(args.file, args.bucket, args.key)
    else:
        future = manager.download(args.bucket, args.key, args.file)
    future.result()

#!/bin/sh
# SeaweedFS with one S3 identity (S3_ACCESS_KEY/S3_SECRET_KEY) and the bucket S3_BUCKET made
# once it answers; /tmp/ready marks both done, for the healthcheck.
set -eu
: "${S3_ACCESS_KEY:?S3_ACCESS_KEY is not set (deploy/compose/.env holds it)}"
: "${S3_SECRET_KEY:?S3_SECRET_KEY is not set (deploy/compose/.env holds it)}"
: "${S3_BUCKET:=mle}"
rm -f /tmp/ready
umask 077
cat >/tmp/s3.json <<JSON
{"identities": [{"name": "stack", "credentials": [{"accessKey": "$S3_ACCESS_KEY",
  "secretKey": "$S3_SECRET_KEY"}], "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
JSON
(
  # The bucket is made through `weed shell` once the master and filer answer. The volume
  # keeps it, and on a later start the create fails ("already exists"): the list decides.
  for _ in $(seq 120); do
    echo "s3.bucket.create -name $S3_BUCKET" | weed shell -master=localhost:9333 \
      >/tmp/bucket.log 2>&1 || true
    if echo "s3.bucket.list" | weed shell -master=localhost:9333 2>/dev/null \
         | grep -qw "$S3_BUCKET"; then
      touch /tmp/ready
      exit 0
    fi
    sleep 1
  done
  echo "s3-entrypoint: could not create bucket $S3_BUCKET: $(cat /tmp/bucket.log)" >&2
) &
exec weed server -dir=/data -ip=localhost -ip.bind=0.0.0.0 -filer -s3 -s3.port=8333 \
  -s3.config=/tmp/s3.json -master.telemetry=false -s3.port.iceberg=0 -s3.port.lance=0 \
  -master.volumeSizeLimitMB=64 -volume.max=50

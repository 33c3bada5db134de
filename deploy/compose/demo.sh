#!/usr/bin/env bash
# The story on the running stack, step by step (`make stack-demo`): listings in, a model
# trained and promoted, answers logged, a drifted later month, a new model followed by the API,
# and what monitoring makes of it. Exits non-zero at the first step that does not happen.
#   env: STACK_DEMO_ROWS (6000), STACK_DEMO_SEED (0), STACK_DEMO_WAIT (seconds, 600)
# On a fresh stack both runs promote. Run again on the same stack, the same files give the
# same models, already judged: the runs are `unchanged` and production stays, which the
# demo says and goes on with.
set -euo pipefail
# shellcheck source=stack.sh
source "$(dirname "$0")/stack.sh"
need_engine
need_env

rows=${STACK_DEMO_ROWS:-6000}
seed=${STACK_DEMO_SEED:-0}
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

# Synthetic listings of seed $1, month $2 (market shift $3) written to s3://mle/$4.
upload() {
  compose run --rm -T --entrypoint sh client -c "
    mle-challenge data synth --rows $rows --seed $1 --month $2 --shift $3 \
      --output /tmp/listings.csv.gz >/dev/null &&
    python3 -c 'import boto3, sys; boto3.client(\"s3\").upload_file(sys.argv[1], \"mle\", sys.argv[2])' \
      /tmp/listings.csv.gz '$4'"
  echo "uploaded s3://mle/$4: $rows listings, seed $1, month $2, shift $3"
}
# The later month is the same city a month on (seed $seed, month 1): with shift 0.5, 45% of
# its listings were in month 0. The gate compares the new model with production on the test
# rows production was not trained on; on the others it would win on what it memorised.

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

# A promotion; or, on a stack that has run this demo before, `unchanged` (these files were
# trained on then) with a production model to go on with.
expect_run() {
  case "$1" in
    promoted) ;;
    unchanged)
      [ "$2" != None ] || die "the run was unchanged, yet there is no production model"
      echo "(this file was trained on before, by an earlier demo on this stack: production stays)"
      ;;
    *) die "expected a promotion, the run ended $1: $(http "$trainer_url/healthz" "a['last_run']['reason']")" ;;
  esac
}

log_rows() {
  compose exec -T db psql -U mle -d mle -tAc "select count(*) from mle_predictions" 2>/dev/null \
    || echo 0 # no table before the first answer
}

echo "the story on the stack (project $project), seed $seed, $rows listings a month"

step "Upload the demo listings (month 0) as the latest scrape"
upload "$seed" 0 0 listings/latest.csv.gz

step "The trainer trains on them and promotes the first model (SIGUSR1: run now)"
read -r outcome first <<<"$(train_now)"
echo "run: $outcome; production: $first"
expect_run "$outcome" "$first"

step "/classify answers through the API with that model"
wait_serving "$first"
# The API's own example (mle_challenge/model/schema.py).
example='{"id": 1001, "accommodates": 4, "room_type": "Entire home/apt", "beds": 2, "bedrooms": 1,
  "bathrooms": 2, "neighbourhood": "Brooklyn", "tv": 1, "elevator": 1, "internet": 0,
  "latitude": 40.71383, "longitude": -73.9658}'
http "http://$(port api1 3000)/classify" "json.dumps(a)" "$example"

step "The market moves (month 1, shift 0.5); 300 listings a replica are classified and logged to PostgreSQL"
upload "$seed" 1 0.5 listings/month1.csv.gz
before=$(log_rows)
for replica in api1 api2; do
  answers=$(client classify --url "http://$replica:3000" \
    --listings s3://mle/listings/month1.csv.gz --sample 300)
  echo "$answers" # how many, by which model, at which replica; by status, category; latency
done
sleep 2 # the log writes every quarter second, off the request path
after=$(log_rows)
echo "mle_predictions: $before → $after rows"
[ $((after - before)) -eq 600 ] || die "expected 600 new rows in the prediction log, got $((after - before))"

step "A later month is scraped (month 1, shift 0.5): the trainer monitors, retrains and promotes"
upload "$seed" 1 0.5 listings/latest.csv.gz
read -r outcome second <<<"$(train_now)"
echo "run: $outcome; production: $second"
http "$trainer_url/healthz" "a['last_run']['reason']"
expect_run "$outcome" "$second"

step "The API answers with the new model (follow mode, no restart)"
wait_serving "$second"
http "http://$(port api2 3000)/classify" "json.dumps(a)" "$example"

step "Monitoring: the report and Prometheus (drift, and realized accuracy against month 1's prices)"
# The trainer's --actuals is the latest scrape: the month-1 file priced the listings that
# step 4 classified before it was uploaded (its upload time is its scrape time), and the run
# of step 5 measured that before training.
mkdir -p "$out"
rm -rf "$out/monitor"
# In the trainer: its store holds the models (their reference profiles and test figures),
# which monitoring reads; a fresh client container would have none.
compose exec -T trainer mle-challenge monitor --since 1h --params /etc/mle/params.yaml \
  --actuals s3://mle/listings/latest.csv.gz --report /tmp/demo-monitor \
  || true # exit 1 is the alarm this story expects
docker cp "$(container trainer):/tmp/demo-monitor" "$out/monitor" >/dev/null
[ -f "$out/monitor/summary.json" ] || die "the monitor wrote no report"
python3 - "$out/monitor/summary.json" <<'PY'
import json, sys
summary = json.load(open(sys.argv[1]))
print("alarm:", summary["alarm"], "-", "; ".join(summary.get("alarms", [])[:3]))
for model, m in ((summary.get("realized") or {}).get("by_model") or {}).items():
    print(f"realized accuracy of {model}: {m['accuracy']:.3f} on {m['rows']} answers priced later")
PY
echo "report: $out/monitor/report.html"
prometheus="http://$(port prometheus 9090)"
deadline=$((SECONDS + 90))
until [ "$(http "$prometheus/api/v1/query?query=ALERTS%7Balertname%3D%22InputDrift%22%2Calertstate%3D%22firing%22%7D" \
  "len(a['data']['result'])")" -gt 0 ]; do
  [ $SECONDS -lt $deadline ] || die "Prometheus shows no firing InputDrift alert within 90 s"
  sleep 3
done
until [ "$(http "$prometheus/api/v1/query?query=mle_realized_accuracy" \
  "len(a['data']['result'])")" -gt 0 ]; do
  [ $SECONDS -lt $deadline ] || die "Prometheus has no mle_realized_accuracy within 90 s"
  sleep 3
done
http "$prometheus/api/v1/query?query=mle_realized_accuracy" \
  "'; '.join(r['metric']['model'] + ' realized accuracy ' + r['value'][1] for r in a['data']['result'])"
http "$prometheus/api/v1/query?query=mle_drift_share" \
  "'; '.join(r['metric']['model'] + ' drift share ' + r['value'][1] for r in a['data']['result'])"
http "$prometheus/api/v1/query?query=ALERTS%7Balertstate%3D%22firing%22%7D" \
  "'firing: ' + ', '.join(sorted({r['metric']['alertname'] for r in a['data']['result']}))"
http "$prometheus/api/v1/query?query=sum%20by%20(event)(mle_prediction_log_rows_total)" \
  "'prediction log rows: ' + ', '.join(r['metric']['event'] + ' ' + r['value'][1] for r in a['data']['result'])"

printf '\nthe story took %d s\n' $((SECONDS - started))

"""Benchmarks that print figures (never timed assertions): ``python -m benchmarks.bench``."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from tests.support.processes import free_port, start, start_postgres, stop, wait_ready

_PARAMS_HELP = "The parameter file [default: ./params.yaml, else the packaged defaults]."


@click.group()
def bench() -> None:
    """Benchmarks."""


@bench.command("pipeline")
@click.option("--listings", required=True)
@click.option("--params", default=None, help=_PARAMS_HELP)
@click.option("--workers", default=2, show_default=True)
def pipeline(listings: str, params: str | None, workers: int) -> None:
    """Cold-run and no-change re-run wall times, in a fresh outputs folder and model store."""
    if not listings.startswith(("http://", "https://", "s3://")) and not Path(listings).exists():
        raise click.UsageError(f"{listings} not found: set MLE_DATA_DIR to the real data folder")
    from mle_challenge.config import params_source

    source = params_source(params)
    click.echo(source.describe())
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "BENTOML_HOME": f"{tmp}/bentoml", "BENTOML_DO_NOT_TRACK": "True"}
        command = [
            sys.executable,
            "-m",
            "mle_challenge.cli",
            "train",
            "--listings",
            listings,
            "--params",
            str(source.path),
            "--outputs",
            f"{tmp}/out",
            "--workers",
            str(workers),
        ]
        figures = []
        for label in ("cold run", "no-change re-run"):
            start = time.perf_counter()
            result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
            elapsed = time.perf_counter() - start
            if result.returncode != 0:
                raise click.ClickException(f"{label} failed:\n{result.stdout}\n{result.stderr}")
            figures.append((label, elapsed))
        click.echo(result.stdout.split("===== Luigi Execution Summary =====")[-1].strip())
        click.echo(f"\n{'run':<18} {'seconds':>8}   (workers={workers}, {os.cpu_count()} cores)")
        for label, seconds in figures:
            click.echo(f"{label:<18} {seconds:>8.1f}")


# --- serving ---------------------------------------------------------------------------------

_WRK_SCRIPT = """
local bodies = {%s}
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i %% #bodies + 1
  return wrk.format(nil, "/classify", nil, bodies[i])
end
"""


def floor_app() -> Any:
    """The floor: a bare Starlette endpoint doing only /classify's JSON validation."""
    import json as json_

    from pydantic import TypeAdapter
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from mle_challenge.model.schema import listing_model

    adapter = TypeAdapter(listing_model(json_.loads(os.environ["MLE_FLOOR_CATEGORIES"])))

    async def classify(request: Request) -> Response:
        listing = adapter.validate_json(await request.body())
        return JSONResponse({"id": listing.id, "price_category": "Mid"})

    return Starlette(routes=[Route("/classify", classify, methods=["POST"])])


def _wrk(url: str, script: Path, connections: int, seconds: int) -> dict[str, float]:
    threads = min(connections, 2)
    subprocess.run(  # warm-up: first requests load lazily imported code
        ["wrk", f"-t{threads}", f"-c{connections}", "-d2s", "-s", str(script), url],
        capture_output=True,
        check=True,
    )
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    out = subprocess.run(
        [*command, "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    for pct in ("50", "99"):
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        figures[f"p{pct}"] = float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    figures["errors"] = float(errors.group(1)) if errors else 0.0
    return figures


def _worker_rss_mb(process: subprocess.Popen[bytes]) -> list[float]:
    import psutil

    children = psutil.Process(process.pid).children(recursive=True)
    workers = [c for c in children if "_bentoml_impl.worker" in " ".join(c.cmdline())]
    return [w.memory_info().rss / 1e6 for w in workers]


def _connections_per_worker(process: subprocess.Popen[bytes], port: int) -> list[int]:
    """Open client connections held by each worker, most first. BentoML's workers share one
    listening socket, and the first awake takes a burst of new connections: 2 runs of 8 at c=8
    put all 8 on one worker, halving requests/s (bentoml/BentoML#5426). Printed so that a
    figure is read with the split it was measured with."""
    import psutil

    children = psutil.Process(process.pid).children(recursive=True)
    workers = [c for c in children if "_bentoml_impl.worker" in " ".join(c.cmdline())]
    counts = [
        sum(
            c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port
            for c in w.net_connections(kind="tcp")
        )
        for w in workers
    ]
    return sorted(counts, reverse=True)


def _dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


@bench.command("serve")
@click.option("--listings", required=True, help="Raw listings to train on (the NYC file).")
@click.option("--params", default=None, help=_PARAMS_HELP)
@click.option("--home", default="outputs/bench", show_default=True, help="Store and outputs.")
@click.option("--seconds", default=10, show_default=True, help="Length of each wrk run.")
@click.option("--image/--no-image", default=True, help="Also build the image, for its size.")
def serve(listings: str, params: str | None, home: str, seconds: int, image: bool) -> None:
    """Requests/s and p50/p99 at concurrency 1 and 8 for the bento, the data scientists' model
    behind the same /classify, and a bare Starlette floor; worker memory, bento and image size."""
    if shutil.which("wrk") is None:
        raise click.ClickException("wrk is not installed: apt-get install wrk (.ci/run does)")
    root = Path(home).resolve()
    # Before anything imports bentoml: the bench has a store of its own.
    os.environ["BENTOML_HOME"] = str(root / "bentoml")
    os.environ["BENTOML_DO_NOT_TRACK"] = "True"
    import pandas as pd

    from mle_challenge.data.clean import load_clean
    from mle_challenge.lifecycle.registry import model_contract, register_model
    from mle_challenge.model.features import to_model_input
    from mle_challenge.model.train import fit_candidate
    from mle_challenge.pipeline import run_training
    from mle_challenge.serving.bento import build_bento

    click.echo(f"training on {listings} (cached in {root}) ...")
    outcome = run_training(listings, params, str(root / "pipeline"), workers=2)
    if not outcome.ok:
        raise click.ClickException(outcome.summary)
    click.echo(outcome.table)
    assert outcome.tag is not None
    ours = outcome.tag
    clean = load_clean(listings).table
    rows = to_model_input(clean).assign(id=clean["id"].to_numpy())
    # The notebook's model exactly as they ran it (n_jobs=4), behind the same contract.
    spec = {
        "kind": "baseline_random_forest",
        "params": {"n_estimators": 500, "n_jobs": 4, "random_state": 0},
    }
    baseline = register_model(
        fit_candidate(spec, rows, clean["category"]),
        fingerprint="bench-notebook-rf",
        candidate="notebook_rf",
        metrics={
            "test": {"accuracy": 0, "macro_f1": 0, "roc_auc_ovr": 0, "rows": 0},
            "validation": {"accuracy": 0, "macro_f1": 0, "roc_auc_ovr": 0},
        },
        params=spec,
        data_fingerprint="bench",
        report_path="none",
    )
    bento_tag = build_bento(ours)
    sample = rows.sample(300, random_state=0)
    bodies = []
    for record in sample.to_dict("records"):
        body: dict[str, Any] = {k: (None if pd.isna(v) else v) for k, v in record.items()}
        for key in ("id", "accommodates", "tv", "elevator", "internet"):
            body[key] = int(record[key])
        bodies.append(json.dumps(body))
    script = root / "classify.lua"
    script.write_text(_WRK_SCRIPT % ",".join(f"[[{b}]]" for b in bodies))

    bentoml_bin = str(Path(sys.executable).parent / "bentoml")
    env = dict(os.environ)
    bento = [bentoml_bin, "serve", bento_tag]
    postgres = start_postgres()
    # The prediction log's cost: the same bento with the log off, in SQLite, in PostgreSQL.
    logs = {"log off": "off", "log SQLite": f"sqlite:///{root / 'predictions.sqlite'}"}
    if postgres is not None:
        logs["log PostgreSQL"] = postgres.url
    targets: dict[str, list[str]] = {f"bento, {name}": bento for name in logs}
    targets |= {
        "data scientists' RF": [bentoml_bin, "serve", "mle_challenge.service:PriceClassifier"],
        "bare Starlette floor": [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "benchmarks.bench:floor_app",
            "--workers",
            str(os.cpu_count() or 1),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
    }
    results: dict[str, dict[str, Any]] = {}
    for name, command in targets.items():
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        run_env = env | {
            "MLE_MODEL_TAG": baseline if "RF" in name else ours,
            "MLE_FLOOR_CATEGORIES": json.dumps(model_contract(ours).categories),
            "MLE_PREDICTION_LOG": next((v for k, v in logs.items() if name.endswith(k)), "off"),
        }
        process = start(
            [*command, "--host", "127.0.0.1", "--port", str(port)],
            run_env,
            root / f"serve-{port}.log",
        )
        try:
            try:
                wait_ready(url, process, path="/classify" if "floor" in name else "/readyz")
            except RuntimeError as exc:
                raise click.ClickException(str(exc)) from exc
            figures: dict[str, Any] = {
                "c1": _wrk(f"{url}/classify", script, 1, seconds),
                "c8": _wrk(f"{url}/classify", script, 8, seconds),
            }
            if "floor" not in name:
                figures["rss"] = _worker_rss_mb(process)
            if name == "bento, log off":
                figures["same answers"] = _same_answers(url, ours, bodies, sample)
            results[name] = figures
        finally:
            stop(process)
    if postgres is not None:
        postgres.remove()

    import bentoml

    bento = bentoml.bentos.get(bento_tag)
    model = bentoml.models.get(ours)
    click.echo(f"\nserving /classify, wrk {seconds} s per run, {os.cpu_count()} cores")
    click.echo(
        f"{'target':<46} {'c=1 req/s':>9} {'p50 ms':>7} {'p99 ms':>7}"
        f" {'c=8 req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'worker RSS MB':>14}"
    )
    for name, f in results.items():
        rss = ", ".join(f"{r:.0f}" for r in f.get("rss", [])) or "-"
        click.echo(
            f"{name:<46} {f['c1']['rps']:>9.0f} {f['c1']['p50']:>7.2f} {f['c1']['p99']:>7.2f}"
            f" {f['c8']['rps']:>9.0f} {f['c8']['p50']:>7.2f} {f['c8']['p99']:>7.2f} {rss:>14}"
        )
    ours_result = results["bento, log off"]
    floor = results["bare Starlette floor"]
    click.echo(f"\nbento: {bento_tag}")
    click.echo(
        f"bento / floor at c=8: {ours_result['c8']['rps'] / floor['c8']['rps']:.2f} (goal: 0.50)"
    )
    for name in logs:
        if name != "log off":
            logged = results[f"bento, {name}"]["c8"]
            click.echo(
                f"{name} at c=8: {logged['rps']:.0f} req/s, "
                f"{logged['rps'] / ours_result['c8']['rps']:.2f} of the log off, "
                f"p99 {logged['p99']:.1f} ms (goals: 2,000 req/s, 0.85, 25 ms)"
            )
    if postgres is None:
        click.echo("log PostgreSQL: not measured (Debian's postgresql is not installed)")
    click.echo(f"answers identical to the model's predict: {ours_result['same answers']}")
    click.echo(
        f"bento size: {_dir_mb(Path(bento.path)):.1f} MB + model {_dir_mb(Path(model.path)):.1f} MB"
    )
    if image:
        _image_report(bento_tag)


def _same_answers(url: str, tag: str, bodies: list[str], sample: Any) -> str:
    """How many of the service's answers equal the registered pipeline's own predict."""
    import requests

    from mle_challenge.model.features import API_FEATURES
    from mle_challenge.model.predictor import Predictor

    listings = [json.loads(b) for b in bodies]
    answers = requests.post(f"{url}/classify_batch", json=listings, timeout=60).json()
    singles = [requests.post(f"{url}/classify", json=x, timeout=10).json() for x in listings]
    expected = Predictor.load(tag).pipeline.predict(sample.loc[:, list(API_FEATURES)])
    same = sum(
        a["price_category"] == s["price_category"] == e
        for a, s, e in zip(answers, singles, expected, strict=True)
    )
    return f"{same}/{len(expected)} (batch and single)"


def _image_report(bento_tag: str) -> None:
    from mle_challenge.serving.container import (
        LOCAL_BASE_IMAGE,
        containerize,
        docker_available,
        image_exists,
        image_size_bytes,
    )

    reason = docker_available()
    if reason is not None:
        click.echo(f"image: not built ({reason})")
        return
    base = LOCAL_BASE_IMAGE if image_exists(LOCAL_BASE_IMAGE) else None
    bundle = os.environ.get("CA_BUNDLE")
    built = containerize(bento_tag, base_image=base, ca_bundle=Path(bundle) if bundle else None)
    click.echo(
        f"image {built}: {image_size_bytes(built) / 1e6:.0f} MB (base {base or 'python:3.11-slim'})"
    )
    largest = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--entrypoint",
            "sh",
            built,
            "-c",
            "du -sm /app/.venv/lib/python3.11/site-packages/* | sort -rn | head -6",
        ],
        capture_output=True,
        text=True,
    ).stdout
    click.echo("largest installed packages (MB):\n" + largest)


# --- batch prediction ---------------------------------------------------------------------------


def _scaled_listings(listings: str, rows: int, path: Path) -> Path:
    """The raw listings repeated (fresh ids each copy) up to ``rows`` rows, as plain CSV."""
    if path.is_file() and sum(1 for _ in path.open()) - 1 >= rows:
        return path
    from mle_challenge.data.sources import read_csv_strings

    base = read_csv_strings(listings)
    ids = base["id"].astype("int64")
    step = int(ids.max()) + 1
    written = 0
    with path.open("w") as out:
        copy = 0
        while written < rows:
            part = base.head(rows - written).assign(id=(ids + copy * step).head(rows - written))
            part.to_csv(out, index=False, header=copy == 0)
            written += len(part)
            copy += 1
    return path


def _measure(
    command: list[str], env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)
) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) and stdout of ``command`` run as a child process (under
    ``env``); an exit status outside ``ok`` is an error."""
    wrapper = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "elapsed = time.perf_counter() - t\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(done.stdout); print(done.stderr, file=sys.stderr)\n"
        "print(f'@@ {elapsed} {peak} {done.returncode}')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", wrapper, *command], capture_output=True, text=True, env=env
    )
    tail = result.stdout.strip().splitlines()[-1].split()
    if int(tail[3]) not in ok:
        raise click.ClickException(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return float(tail[1]), float(tail[2]), result.stdout


@bench.command("batch")
@click.option("--listings", required=True, help="Raw NYC listings to scale up.")
@click.option("--params", default=None, help=_PARAMS_HELP)
@click.option("--home", default="outputs/bench", show_default=True)
@click.option("--rows", default=300_000, show_default=True)
@click.option("--big-rows", default=3_000_000, show_default=True, help="For peak memory.")
def batch(listings: str, params: str | None, home: str, rows: int, big_rows: int) -> None:
    """Rows/s and peak memory of `mle-challenge predict` on the NYC data scaled up.

    Two rates: the whole command (Python start-up, imports and model load included, about
    2 s) and after start-up (as the command itself reports: reading, cleaning, checking,
    predicting and writing), which is what a larger file sees.
    """
    root = Path(home).resolve()
    os.environ["BENTOML_HOME"] = str(root / "bentoml")
    os.environ["BENTOML_DO_NOT_TRACK"] = "True"
    from mle_challenge.pipeline import run_training

    outcome = run_training(listings, params, str(root / "pipeline"), workers=2)
    if not outcome.ok or outcome.tag is None:
        raise click.ClickException(outcome.summary)
    cli = [sys.executable, "-m", "mle_challenge.cli", "predict", "--model", outcome.tag]
    click.echo(f"model {outcome.tag}; {os.cpu_count()} cores")
    click.echo(
        f"{'input rows':>12} {'output':>8} {'seconds':>8} {'rows/s':>9}"
        f" {'after start-up':>15} {'rows/s':>9} {'peak MB':>8}"
    )
    for count in (rows, big_rows):
        source = _scaled_listings(listings, count, root / f"listings-{count}.csv")
        for suffix in (".parquet", ".csv"):
            if count == big_rows and suffix == ".csv":
                continue
            output = root / f"predictions-{count}{suffix}"
            seconds, peak, out = _measure([*cli, "--input", str(source), "--output", str(output)])
            found = re.search(r"took ([\d.]+) s after start-up", out)
            work = float(found.group(1)) if found else float("nan")
            click.echo(
                f"{count:>12,} {suffix.lstrip('.'):>8} {seconds:>8.1f} {count / seconds:>9,.0f}"
                f" {work:>15.1f} {count / work:>9,.0f} {peak:>8,.0f}"
            )


@bench.command("ceiling")
@click.option("--listings", required=True, help="Raw NYC listings (the reconstructed file).")
@click.option("--params", default=None, help=_PARAMS_HELP)
@click.option("--candidate", default="hist_gb", show_default=True)
def ceiling(listings: str, params: str | None, candidate: str) -> None:
    """How far the 11 /classify fields can take the model on this data, on the test rows.

    1. A learning curve: the candidate (plain argmax, early stopping at every size, so small
       samples are not overfitted) trained on 1/8 to all of the train and validation rows.
    2. Twins: test rows for which some training listing has the same room type, guests,
       bedrooms, beds and bathrooms within R metres (Inside Airbnb moves each listing by up
       to 150 m), and how often the twins' majority class is the row's own class: a
       local estimate of the best accuracy any model on these fields can have.
    """
    import numpy as np

    from mle_challenge.config import load_params, params_source
    from mle_challenge.data import clean
    from mle_challenge.data.split import split_ids
    from mle_challenge.model import features
    from mle_challenge.model.evaluate import classification_metrics

    source = params_source(params).path
    settings = load_params(source)
    if candidate not in settings.train.candidates:
        raise click.UsageError(f"no candidate {candidate!r} in {source}")
    spec = settings.train.candidates[candidate].model_dump(exclude_none=True)
    table = clean.load_clean(listings).table
    ids = split_ids(table, **settings.split.model_dump())
    known = table[table["id"].isin(ids.train + ids.validation)].reset_index(drop=True)
    test = table[table["id"].isin(ids.test)].reset_index(drop=True)
    X_test, y_test = features.to_model_input(test), test["category"].astype(str)
    known = known.assign(category=known["category"].astype(str))

    click.echo(f"learning curve of {candidate} on {len(test):,} test rows (2 samples each)")
    click.echo(f"{'training rows':>14} {'accuracy':>9} {'macro-F1':>9} {'ROC AUC':>8}")
    rng = np.random.default_rng(0)
    for share in (0.125, 0.25, 0.5, 1.0):
        scores = []
        for seed in (0, 1):
            rows = known.sample(frac=share, random_state=int(rng.integers(1 << 31)))
            fitted = _fit_plain(spec, seed, rows)
            m = classification_metrics(fitted, X_test, y_test)
            scores.append([m["accuracy"], m["macro_f1"], m["roc_auc_ovr"]])
        acc, f1, auc = np.mean(scores, axis=0)
        click.echo(f"{len(rows):>14,} {acc:>9.3f} {f1:>9.3f} {auc:>8.3f}")

    model = _fit_plain(spec, 0, known)
    answers = model.predict(X_test)
    click.echo("\ntest rows with a same-fields twin among the training listings")
    click.echo(f"{'radius':>7} {'rows':>7} {'twins agree':>12} {'model right':>12}")
    for radius, (rows_with, agree) in _twins(known, test, (20, 50, 150)).items():
        right = float(np.mean(answers[rows_with] == y_test.to_numpy()[rows_with]))
        click.echo(f"{radius:>5} m {len(rows_with):>7,} {np.mean(agree):>12.3f} {right:>12.3f}")


def _fit_plain(spec: dict[str, Any], seed: int, rows: Any) -> Any:
    """The candidate on ``rows``, answering by plain argmax, early stopping at any size."""
    from mle_challenge.model.features import to_model_input
    from mle_challenge.model.train import fit_candidate

    params = {**spec.get("params", {}), "early_stopping": True, "random_state": seed}
    plain = {key: value for key, value in spec.items() if key != "decision"}
    return fit_candidate({**plain, "params": params}, to_model_input(rows), rows["category"])


def _twins(known: Any, test: Any, radii: tuple[int, ...]) -> dict[int, tuple[Any, Any]]:
    """Per radius: the test rows that have twins, and whether the twins' majority is right."""
    import numpy as np
    from sklearn.neighbors import BallTree

    same = ["room_type", "accommodates", "bedrooms", "beds", "bathrooms"]

    def key(frame: Any) -> Any:
        return frame[same].astype(str).agg("|".join, axis=1).to_numpy()

    known_key, test_key = key(known), key(test)
    known_class, test_class = known["category"].astype(str).to_numpy(), test["category"]
    tree = BallTree(np.radians(known[["latitude", "longitude"]].to_numpy()), metric="haversine")
    where = np.radians(test[["latitude", "longitude"]].to_numpy())
    found = {}
    for radius in radii:
        rows, agree = [], []
        for i, near in enumerate(tree.query_radius(where, r=radius / 6_371_000)):
            twins = near[known_key[near] == test_key[i]]
            if len(twins):
                classes, counts = np.unique(known_class[twins], return_counts=True)
                rows.append(i)
                agree.append(classes[counts.argmax()] == str(test_class.iloc[i]))
        found[radius] = (np.array(rows, dtype=int), np.array(agree))
    return found


@bench.command("monitor")
@click.option("--seeds", default=20, show_default=True, help="Windows per shift.")
@click.option("--window", default=1000, show_default=True, help="Listings per window.")
@click.option("--log-rows", default=200_000, show_default=True, help="Rows of the timed log.")
def monitor(seeds: int, window: int, log_rows: int) -> None:
    """Drift verdicts on synthetic later months, and the time of one monitoring run.

    1. A model trained on month 0 of the demo data (6,000 listings, seed 0); for each shift,
       ``seeds`` windows of month-1 listings of other seeds: alarms, fields drifted, PSI.
    2. ``mle-challenge monitor`` over a SQLite log of ``log_rows`` answers, with actuals.
    """
    import numpy as np

    from mle_challenge.config import MonitorParams
    from mle_challenge.data.clean import clean_listings
    from mle_challenge.data.synthetic import generate_listings
    from mle_challenge.model.evaluate import label_metrics
    from mle_challenge.model.features import to_model_input
    from mle_challenge.model.train import fit_candidate
    from mle_challenge.monitoring.drift import input_drift
    from mle_challenge.monitoring.profile import build_profile

    def api(raw: Any, labelled: bool = True) -> Any:
        return clean_listings(raw.astype(str).replace("", None), labelled=labelled).table

    table = api(generate_listings(6000, 0))
    train, test = table.iloc[:4800], table.iloc[4800:]
    spec = {"kind": "hist_gradient_boosting", "params": {"max_iter": 80, "random_state": 0}}
    model = fit_candidate(spec, to_model_input(train), train["category"].astype(str))
    figures = label_metrics(test["category"], model.predict(to_model_input(test)))
    profile = build_profile(to_model_input(train), figures["confusion_matrix"])
    params = MonitorParams()
    click.echo(f"{seeds} windows of {window:,} month-1 listings per shift, against month 0")
    click.echo(
        f"{'shift':>5} {'alarms':>7} {'drifted fields':>15} {'mean share':>11} "
        f"{'largest PSI (min-max)':>22} {'mix PSI max':>12}"
    )
    for shift in (0.0, 0.3, 0.5):
        results = []
        for seed in range(100, 100 + seeds):
            rows = to_model_input(api(generate_listings(window, seed, month=1, shift=shift), False))
            answered = rows.assign(price_category=np.asarray(model.predict(rows)).astype(str))
            results.append(input_drift(profile, answered, params))
        largest = [max(f.psi for f in r.fields.values()) for r in results]
        drifted = sum(f.drifted for r in results for f in r.fields.values())
        click.echo(
            f"{shift:>5} {sum(r.alarm for r in results):>4}/{seeds:<2} {drifted:>15} "
            f"{np.mean([r.drift_share for r in results]):>11.3f} "
            f"{min(largest):>10.3f} - {max(largest):<9.3f} "
            f"{max(r.prediction_mix.psi for r in results):>12.4f}"
        )
    _time_monitor(log_rows)


def _time_monitor(rows: int) -> None:
    """Register the demo model, log ``rows`` answers, and time one ``monitor`` run."""
    with tempfile.TemporaryDirectory(prefix="bench-monitor-") as scratch:
        folder = Path(scratch)
        env = {**os.environ, "BENTOML_HOME": str(folder / "bentoml"), "BENTOML_DO_NOT_TRACK": "1"}
        cli = [sys.executable, "-m", "mle_challenge.cli"]
        month0, month1 = folder / "m0.csv.gz", folder / "m1.csv"
        for args in (
            ["data", "synth", "--rows", "6000", "--output", str(month0)],
            ["train", "--listings", str(month0), "--outputs", str(folder / "out")],
            ["data", "synth", "--rows", str(rows), "--seed", "9", "--month", "1"],
        ):
            if args[0] == "data" and "--month" in args:
                args += ["--output", str(month1)]
            subprocess.run([*cli, *args], env=env, check=True, capture_output=True)
        log = f"sqlite:///{folder / 'log.sqlite'}"
        code = (
            "import sys, time\n"
            "from mle_challenge.lifecycle.registry import resolve_tag\n"
            "from mle_challenge.batch.predict import predict_file\n"
            "from mle_challenge.batch.window import batch_window\n"
            "from mle_challenge.monitoring.log import PredictionLog, Answered\n"
            "from pathlib import Path\n"
            f"out = '{folder / 'p.parquet'}'\n"
            f"predict_file('{month1}', out, resolve_tag(), 100_000)\n"
            f"w = batch_window(out, '{month1}', None).frame\n"
            f"log = PredictionLog('{log}', Path('{folder / 'spill'}'), max_rows=len(w) + 1)\n"
            "now = time.time()\n"
            "for i, r in enumerate(w.to_dict('records')):\n"
            "    log.record(Answered(now, 'bench', '/classify', r['model'], "
            "{**r, 'id': r['listing_id']}, r['price_category'], [0.25] * 4, i))\n"
            "log.close(600)\n"
            "print(log.counts.written)\n"
        )
        filled = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                capture_output=True, text=True)  # fmt: skip
        click.echo(f"\nlog of {int(filled.stdout.split()[-1]):,} answers (SQLite)")
        monitor = [*cli, "monitor", "--report", str(folder / "report"), "--log", log]
        monitor += ["--since", "1h", "--actuals", str(month1), "--scraped-at", "now"]
        seconds, peak, _ = _measure(monitor, env, ok=(0, 1))  # 1: an alarm, still a run
        click.echo(f"monitor with actuals: {seconds:.1f} s, peak {peak:.0f} MB")


@bench.command("follow")
@click.option("--poll", default=2.0, show_default=True, help="MLE_FOLLOW_SECONDS.")
@click.option("--gap", default=8.0, show_default=True, help="Seconds between two promotions.")
def follow(poll: float, gap: float) -> None:
    """Serving that follows production under wrk at c=8: five promotions and a rollback
    during the run. Prints non-2xx answers, p50/p99, and how long each worker took to serve
    each new tag (from the promotion to the first of 20 answers in a row from it)."""
    import threading

    import requests

    from tests.support.airbnb import EXAMPLE_LISTING

    with tempfile.TemporaryDirectory(prefix="bench-follow-") as scratch:
        folder = Path(scratch)
        env = {**os.environ, "BENTOML_HOME": str(folder / "bentoml"), "BENTOML_DO_NOT_TRACK": "1"}
        env["MLE_PREDICTION_LOG"] = "off"
        cli = [sys.executable, "-m", "mle_challenge.cli"]
        tags = []
        for month in (0, 1):
            listings = folder / f"m{month}.csv"
            synth = ["data", "synth", "--rows", "4000", "--month", str(month)]
            subprocess.run([*cli, *synth, "--output", str(listings)], env=env, check=True,
                           capture_output=True)  # fmt: skip
            trained = subprocess.run(
                [*cli, "train", "--listings", str(listings), "--outputs", str(folder / "out")],
                env=env, check=True, capture_output=True, text=True,
            )  # fmt: skip
            tags.append(re.search(r"registered: (\S+)", trained.stdout).group(1))  # type: ignore[union-attr]
        first, second = tags
        # The operator promotes from here, in-process: a CLI per promotion would spend seconds
        # of CPU importing BentoML on the service's two cores and blur what the swap costs.
        os.environ["BENTOML_HOME"] = env["BENTOML_HOME"]
        from mle_challenge.lifecycle import production

        production.promote(first, force=True, reason="bench")  # imports BentoML here, now
        port = free_port()
        serve_env = {**env, "MLE_FOLLOW_PRODUCTION": "1", "MLE_FOLLOW_SECONDS": str(poll)}
        command = [str(Path(sys.executable).parent / "bentoml"), "serve"]
        command += ["mle_challenge.service:PriceClassifier", "--port", str(port)]
        process = start([*command, "--host", "127.0.0.1"], serve_env, folder / "serve.log")
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url, process, timeout=120)
            script = folder / "classify.lua"
            script.write_text(_WRK_SCRIPT % f"[[{json.dumps(EXAMPLE_LISTING)}]]")
            seconds = int(gap * 7)
            still = _wrk(f"{url}/classify", script, 8, seconds)  # the same run, nothing moving
            figures: dict[str, float] = {}
            load = threading.Thread(
                target=lambda: figures.update(_wrk(f"{url}/classify", script, 8, seconds))
            )
            load.start()
            time.sleep(gap)
            split = _connections_per_worker(process, port)
            delays = []
            steps = [("promote", second), ("promote", first), ("promote", second)]
            steps += [("promote", first), ("promote", second), ("rollback", first)]
            for action, target in steps:
                if action == "promote":
                    production.promote(target, force=True, reason="bench")
                else:
                    production.rollback(reason="bench")
                moved = time.monotonic()
                streak, since = 0, moved
                while streak < 20:  # new connections each: they land on either worker
                    asked = time.monotonic()
                    answer = requests.post(f"{url}/classify", json=EXAMPLE_LISTING, timeout=10)
                    new = answer.json()["model"] == target
                    streak, since = (streak + 1, since if streak else asked) if new else (0, asked)
                    # Paced: a client in a tight loop took a third of a core from the server
                    # on two cores, and its p99 with it; 20 ms is the delays' resolution.
                    time.sleep(0.02)
                delays.append(since - moved)  # to the first of the 20 answers in a row
                time.sleep(max(0.0, gap - (time.monotonic() - moved)))
            load.join()
        finally:
            stop(process)
    click.echo(f"wrk c=8 for {seconds} s, poll every {poll:g} s")
    click.echo(
        f"production still:                  requests/s {still['rps']:,.0f}  non-2xx "
        f"{still['errors']:.0f}  p50 {still['p50']:.1f} ms  p99 {still['p99']:.1f} ms"
    )
    click.echo(
        f"5 promotions and a rollback:       requests/s {figures['rps']:,.0f}  non-2xx "
        f"{figures['errors']:.0f}  p50 {figures['p50']:.1f} ms  p99 {figures['p99']:.1f} ms"
    )
    click.echo("served by every worker after: " + ", ".join(f"{d:.1f} s" for d in delays))
    click.echo(
        f"wrk's connections per worker: {split} (all on one: a BentoML limitation, "
        "bentoml/BentoML#5426, halves requests/s; run again for a balanced figure)"
    )


# --- training ---------------------------------------------------------------------------------


def _cpu_seconds() -> float:
    """User + system CPU time of this process's finished children: on a shared machine the
    wall time says how busy the others were, the CPU time what the work cost."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@bench.command("run")
@click.option("--rows", default=6000, show_default=True, help="Synthetic listings (make run's).")
@click.option("--seed", default=0, show_default=True)
@click.option("--params", default=None, help=_PARAMS_HELP)
@click.option("--workers", default=2, show_default=True)
def run(rows: int, seed: int, params: str | None, workers: int) -> None:
    """Wall and CPU time of ``make run``'s training (``train --promote`` on the demo data), in
    a fresh outputs folder and model store, and the boosting rounds each fit used."""
    from mle_challenge.config import params_source
    from mle_challenge.data.synthetic import generate_listings

    source = params_source(params)
    click.echo(source.describe())
    with tempfile.TemporaryDirectory() as tmp:
        listings = Path(tmp) / "listings.csv.gz"
        generate_listings(rows, seed).to_csv(listings, index=False)
        env = {**os.environ, "BENTOML_HOME": f"{tmp}/bentoml", "BENTOML_DO_NOT_TRACK": "True"}
        command = [sys.executable, "-m", "mle_challenge.cli", "train", "--listings",
                   str(listings), "--params", str(source.path), "--outputs", f"{tmp}/out",
                   "--workers", str(workers), "--promote"]  # fmt: skip
        cpu, start = _cpu_seconds(), time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        wall, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
        if result.returncode != 0:
            raise click.ClickException(f"training failed:\n{result.stdout}\n{result.stderr}")
        click.echo(result.stdout.split("===== Luigi Execution Summary =====")[-1].strip())
        click.echo(_rounds_used(Path(tmp) / "out"))
    click.echo(f"\nmake run's training on {rows:,} synthetic listings (workers={workers}, "
               f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}): "
               f"wall {wall:.1f} s, CPU (user+sys) {cpu:.1f} s")  # fmt: skip


def _rounds_used(outputs: Path) -> str:
    """The boosting rounds of every fitted gradient-boosting model under ``outputs``."""
    import joblib
    from sklearn.ensemble import HistGradientBoostingClassifier

    from mle_challenge.model.decision import unwrap

    found = []
    for path in sorted(outputs.rglob("model.joblib")):
        estimator, _ = unwrap(joblib.load(path).steps[-1][1])
        if isinstance(estimator, HistGradientBoostingClassifier):
            found.append(f"{path.parent.parent.name}: {estimator.n_iter_}")
    return "boosting rounds: " + (", ".join(found) or "none")


@bench.command("refit")
@click.option("--listings", default=None, help="Real listings [default: $MLE_DATA_DIR's NYC].")
@click.option("--params", default=None, help=_PARAMS_HELP)
@click.option("--candidate", default="hist_gb", show_default=True)
@click.option("--seeds", default=3, show_default=True, help="Split seeds per data set.")
@click.option("--synthetic-rows", default=6000, show_default=True)
def refit(
    listings: str | None, params: str | None, candidate: str, seeds: int, synthetic_rows: int
) -> None:
    """Does ``select.refit`` help? The candidate fitted on the training rows, against the
    same fitted again on training + validation rows (``train.refit_candidate``), both scored on
    the test rows, for ``seeds`` splits of the real NYC data and of synthetic NYC and Boston."""
    import numpy as np

    from mle_challenge.config import load_params, params_source
    from mle_challenge.data import clean
    from mle_challenge.data.synthetic import generate_listings

    settings = load_params(params_source(params).path)
    if candidate not in settings.train.candidates:
        raise click.UsageError(f"no candidate {candidate!r} in the params")
    spec = settings.train.candidates[candidate].model_dump(exclude_none=True)
    source = (
        listings
        or f"{os.environ.get('MLE_DATA_DIR', '')}/nyc-2021-12/listings_reconstructed.csv.gz"
    )
    data = {}
    if Path(source).exists():
        data["real NYC"] = clean.load_clean(source).table
    else:
        click.echo(f"{source} not found: real data skipped (set MLE_DATA_DIR)")
    for city in ("nyc", "boston"):
        raw = generate_listings(synthetic_rows, 0, city=city)
        data[f"synthetic {city}"] = clean.clean_listings(raw).table
    click.echo(f"{candidate} on the test rows, candidate (training rows) → refit "
               "(training + validation rows)")  # fmt: skip
    click.echo(f"{'data':<16} {'seed':>4} {'test rows':>9} {'accuracy':>15} {'macro-F1':>15} "
               f"{'ROC AUC':>15} {'rounds':>9}")  # fmt: skip
    for label, table in data.items():
        gains = []
        for seed in range(1, seeds + 1):
            before, after, rows, rounds = _refit_once(table, settings, spec, seed)
            gains.append([after[k] - before[k] for k in ("accuracy", "macro_f1", "roc_auc_ovr")])
            cells = " ".join(f"{before[k]:.3f} → {after[k]:.3f}".rjust(15)
                             for k in ("accuracy", "macro_f1", "roc_auc_ovr"))  # fmt: skip
            click.echo(f"{label:<16} {seed:>4} {rows:>9,} {cells} {rounds:>9}")
        mean = np.mean(gains, axis=0)
        click.echo(f"{label:<16} mean gain: accuracy {mean[0]:+.3f}, macro-F1 {mean[1]:+.3f}, "
                   f"ROC AUC {mean[2]:+.3f} (over {seeds} seeds)")  # fmt: skip


def _refit_once(
    table: Any, settings: Any, spec: dict[str, Any], seed: int
) -> tuple[dict[str, Any], dict[str, Any], int, str]:
    """Test metrics of the candidate and of its refit on one split (the pipeline's functions)."""
    from mle_challenge.data.clean import price_category
    from mle_challenge.data.split import split_and_label
    from mle_challenge.model.evaluate import classification_metrics
    from mle_challenge.model.features import to_model_input
    from mle_challenge.model.train import fit_candidate, refit_candidate

    split = {**settings.split.model_dump(), "seed": seed}
    rule = settings.prices.edges
    ids, edges = split_and_label(table, rule if rule == "quantile" else list(rule), **split)
    labelled = table.assign(category=price_category(table["price"], list(edges)).astype(str))

    def part(ids_: list[int]) -> tuple[Any, Any]:
        rows = labelled[labelled["id"].isin(ids_)]
        return to_model_input(rows), rows["category"].reset_index(drop=True)

    X, y = part(ids.train)
    X_all, y_all = part([*ids.train, *ids.validation])
    X_test, y_test = part(ids.test)
    fitted = fit_candidate(spec, X, y)
    model, info = refit_candidate(fitted, X_all, y_all, trained_rows=len(X))
    rounds = info["rounds"]
    moved = f"{rounds['before']} → {rounds['after']}" if rounds else "-"
    return (
        classification_metrics(fitted, X_test, y_test),
        classification_metrics(model, X_test, y_test),
        len(X_test),
        moved,
    )


if __name__ == "__main__":
    bench()

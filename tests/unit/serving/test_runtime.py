"""What surrounds the model in the service: the bento manifest, the BentoML timeout-middleware
fix."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import pytest
import yaml

from mle_challenge.serving.runtime import (
    BentoModel,
    bento_manifest_model,
    fix_timeout_middleware_leak,
    follows_production,
)

pytestmark = pytest.mark.unit


def test_bento_manifest_model(tmp_path: Path) -> None:
    package = tmp_path / "src" / "mle_challenge"
    package.mkdir(parents=True)
    assert bento_manifest_model(package) is None  # not in a bento
    manifest = {
        "models": [],
        "services": [{"models": [{"tag": "price_classifier:abc"}]}],
        "labels": {"model_content_hash": "artifacts-sha256:00"},
    }
    (tmp_path / "bento.yaml").write_text(yaml.safe_dump(manifest))
    assert bento_manifest_model(package) == BentoModel(
        "price_classifier:abc", "artifacts-sha256:00"
    )
    assert bento_manifest_model(tmp_path) is None  # not laid out as <bento>/src/<package>

    manifest["labels"]["follow_production"] = "true"  # built with --follow
    (tmp_path / "bento.yaml").write_text(yaml.safe_dump(manifest))
    assert bento_manifest_model(package) == BentoModel(
        "price_classifier:abc", "artifacts-sha256:00", follows=True
    )


def test_a_bento_of_another_city_serves_its_own_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Check that a bento of price_classifier_boston is found as the bento's model, and that
    MLE_MODEL_NAME naming another city is refused rather than silently ignored."""
    import mle_challenge.serving.runtime as runtime
    from mle_challenge.errors import ConfigError

    package = tmp_path / "src" / "mle_challenge"
    package.mkdir(parents=True)
    manifest = {"services": [{"models": [{"tag": "price_classifier_boston:abc"}]}]}
    (tmp_path / "bento.yaml").write_text(yaml.safe_dump(manifest))
    assert bento_manifest_model(package) == BentoModel("price_classifier_boston:abc", None)

    built = BentoModel("price_classifier_boston:abc", "artifacts-sha256:00")
    monkeypatch.setattr(runtime, "bento_manifest_model", lambda: built)
    with pytest.raises(ConfigError, match="MLE_MODEL_NAME=price_classifier but this bento"):
        runtime.served_model_tag(None, "price_classifier")


def test_following_is_the_setting_when_set_else_the_bento(monkeypatch: pytest.MonkeyPatch) -> None:
    import mle_challenge.serving.runtime as runtime

    built = BentoModel("price_classifier:abc", "artifacts-sha256:00", follows=True)
    monkeypatch.setattr(runtime, "bento_manifest_model", lambda: built)
    assert follows_production(None) is True
    assert follows_production(False) is False  # MLE_FOLLOW_PRODUCTION=0 turns it off
    monkeypatch.setattr(runtime, "bento_manifest_model", lambda: None)  # not in a bento
    assert follows_production(None) is False
    assert follows_production(True) is True


def test_timeout_middleware_leaves_no_timer_behind() -> None:
    from bentoml._internal.server.http.traffic import TimeoutMiddleware

    fix_timeout_middleware_leak()
    fix_timeout_middleware_leak()  # idempotent

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def run() -> int:
        middleware = TimeoutMiddleware(app, timeout=60)
        sent: list[Any] = []

        async def send(message: Any) -> None:
            sent.append(message)

        for _ in range(50):
            await middleware({"type": "http"}, None, send)
        loop = asyncio.get_running_loop()
        return sum(1 for h in loop._scheduled if not h.cancelled())  # type: ignore[attr-defined]

    assert asyncio.run(run()) == 0


def test_timeout_middleware_still_times_out() -> None:
    from bentoml._internal.server.http.traffic import TimeoutMiddleware

    fix_timeout_middleware_leak()

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(5)

    async def run() -> list[Any]:
        sent: list[Any] = []

        async def send(message: Any) -> None:
            sent.append(message)

        await TimeoutMiddleware(slow, timeout=0.05)({"type": "http"}, None, send)
        return sent

    sent = asyncio.run(run())
    assert sent[0]["status"] == 504


def test_the_default_host_is_loopback_but_in_the_image() -> None:
    """Check that `bentoml serve` binds 127.0.0.1 unless told, as `make serve` does; only
    inside the bento's image (BENTO_PATH set) does it listen on the container's interfaces."""
    from mle_challenge.serving.runtime import default_host

    assert default_host({}) == "127.0.0.1"
    assert default_host({"BENTO_PATH": "/home/bentoml/bento"}) == "0.0.0.0"


_HEAD = b"POST /classify HTTP/1.1\r\nHost: x\r\n"


@pytest.mark.parametrize(
    ("chunks", "refused"),
    [
        ([_HEAD + b"A: 1\r\n\r\n" + b"{" * 5000], None),  # a body after the headers: not counted
        ([_HEAD, b"B: " + b"x" * 600, b"x" * 600 + b"\r\n\r\n"], "larger than 1024 bytes"),
        ([_HEAD + b"C: " + b"x" * 2000], "larger than 1024 bytes"),  # refused before the end
        ([_HEAD + b"D: 1\r\n" * 10 + b"\r\n"], None),  # 11 headers with Host
        ([_HEAD + b"E: 1\r\n" * 11, b"\r\n"], "more than 11 request headers"),
        ([_HEAD + b"F: 1\r", b"\n\r", b"\n" + b"G: 1\r\n" * 50], None),  # split blank line
    ],
)
def test_the_header_budget(chunks: list[bytes], refused: str | None) -> None:
    """Check the count of a request's header bytes and lines as chunks arrive: what passes a
    limit is refused as soon as it arrives, and nothing after the blank line counts."""
    from mle_challenge.serving.runtime import HeaderBudget

    budget = HeaderBudget(max_bytes=1024, max_count=11)
    reasons = [budget.feed(chunk) for chunk in chunks]
    found = next((r for r in reasons if r is not None), None)
    if refused is None:
        assert found is None
    else:
        assert found is not None and refused in found
    budget.restart()  # the next request on the connection starts from nothing
    assert budget.feed(_HEAD + b"\r\n") is None


def test_die_with_parent_ties_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Check that the parent-death signal is set (read back from the kernel) in a child."""
    import subprocess
    import sys

    code = (
        "import ctypes, signal\n"
        "from mle_challenge.serving.runtime import die_with_parent\n"
        "assert die_with_parent(signal.SIGTERM)\n"
        "libc = ctypes.CDLL(None); got = ctypes.c_int()\n"
        "libc.prctl(2, ctypes.byref(got), 0, 0, 0)\n"  # PR_GET_PDEATHSIG
        "print(got.value)\n"
    )
    if not sys.platform.startswith("linux"):
        pytest.skip("the parent-death signal is Linux's")
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == str(int(signal.SIGTERM))

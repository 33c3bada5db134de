"""End to end: the `mle-challenge data` commands, through the installed console script."""

from __future__ import annotations

import functools
import http.server
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.e2e


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mle_challenge.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A static file server on a free loopback port, stopped after the test."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path
    finally:
        server.shutdown()
        server.server_close()


def test_synth_then_clean(tmp_path: Path) -> None:
    """Check synth → clean: the summary names counts and reasons, and the table is written."""
    raw = tmp_path / "listings.csv.gz"
    assert (
        _cli("data", "synth", "--rows", "800", "--seed", "1", "--output", str(raw)).returncode == 0
    )
    out = tmp_path / "clean.parquet"
    result = _cli("data", "clean", "--listings", str(raw), "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert re.search(r"rows read:\s+800\n", result.stdout)
    assert "missing bedrooms" in result.stdout
    assert len(pd.read_parquet(out)) == int(result.stdout.split("rows kept:")[1].split()[0])


def test_synth_another_city_and_layout_then_clean(tmp_path: Path) -> None:
    """Check synth --city boston --layout 75: a 75-column file with an empty group column that
    cleans with no row dropped for a missing neighbourhood."""
    raw = tmp_path / "boston.csv"
    args = ("--rows", "300", "--city", "boston", "--layout", "75", "--output", str(raw))
    synth = _cli("data", "synth", *args)
    assert synth.returncode == 0, synth.stderr
    assert "boston, 75 columns" in synth.stdout
    frame = pd.read_csv(raw, dtype=str)
    assert frame.shape == (300, 75) and frame["neighbourhood_group_cleansed"].isna().all()
    result = _cli("data", "clean", "--listings", str(raw), "--output", str(tmp_path / "c.csv"))
    assert result.returncode == 0, result.stderr
    assert "missing neighbourhood" not in result.stdout


def test_clean_to_csv(tmp_path: Path, synthetic_csv: Path) -> None:
    """Check that a .csv output path gives a CSV table."""
    out = tmp_path / "clean.csv"
    assert (
        _cli("data", "clean", "--listings", str(synthetic_csv), "--output", str(out)).returncode
        == 0
    )
    assert "category" in pd.read_csv(out).columns


def test_clean_over_http(http_root: tuple[str, Path], synthetic_csv: Path, tmp_path: Path) -> None:
    """Check that listings are read from an http:// URL."""
    url, root = http_root
    (root / "listings.csv.gz").write_bytes(synthetic_csv.read_bytes())
    out = tmp_path / "c.parquet"
    result = _cli("data", "clean", "--listings", f"{url}/listings.csv.gz", "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert out.exists()


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("/nonexistent/listings.csv", "listings file not found: /nonexistent/listings.csv"),
        ("http://127.0.0.1:9/listings.csv", "cannot read http://127.0.0.1:9/listings.csv"),
    ],
)
def test_clean_unreadable_source(source: str, message: str, tmp_path: Path) -> None:
    """Check that a missing file or unreachable URL exits 2 with a message and no traceback."""
    result = _cli("data", "clean", "--listings", source, "--output", str(tmp_path / "x.csv"))
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_clean_missing_url_path(http_root: tuple[str, Path], tmp_path: Path) -> None:
    """Check that a 404 URL is a clear error."""
    url, _ = http_root
    result = _cli(
        "data", "clean", "--listings", f"{url}/absent.csv", "--output", str(tmp_path / "x.csv")
    )
    assert result.returncode == 2
    assert "absent.csv" in result.stderr and "Traceback" not in result.stderr


def test_clean_missing_column(tmp_path: Path) -> None:
    """Check that a file missing a required column names it and the file."""
    bad = tmp_path / "summary.csv"
    bad.write_text("id,name,price\n1,flat,$10.00\n")
    result = _cli("data", "clean", "--listings", str(bad), "--output", str(tmp_path / "x.csv"))
    assert result.returncode == 2
    assert "missing required column(s): room_type" in result.stderr
    assert str(bad) in result.stderr


@pytest.mark.parametrize("content", ["", "not,a\n\x00\x01binary"])
def test_clean_empty_or_garbage_file(tmp_path: Path, content: str) -> None:
    """Check that an empty or non-listings file gives a clear error, not a traceback."""
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    result = _cli("data", "clean", "--listings", str(bad), "--output", str(tmp_path / "x.csv"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "error:" in result.stderr


def test_synth_rejects_bad_rows(tmp_path: Path) -> None:
    """Check that --rows 0 is refused with a usage error."""
    result = _cli("data", "synth", "--rows", "0", "--output", str(tmp_path / "x.csv"))
    assert result.returncode != 0 and "--rows" in result.stderr


def _hostile_files(folder: Path, synthetic_csv: Path) -> dict[str, tuple[Path, str]]:
    """Bad data files as users meet them, each with the words its one-line error must say."""
    import gzip

    many = folder / "many-columns.csv"
    many.write_text(",".join(["a"] * 60_000) + "\n" + ",".join(["1"] * 60_000) + "\n")
    long_line = folder / "long-header.csv"
    long_line.write_bytes(b"x" * 5_000_000 + b"\n1\n")
    doubled = folder / "doubled.csv"
    header = synthetic_csv.open("rb")  # gzip by extension: read it back as text
    with gzip.open(header, "rt") as text:
        first, second = text.readline().rstrip("\n"), text.readline()
    doubled.write_text(f"{first},price\n{second.rstrip()},$5.00\n")
    truncated = folder / "truncated.csv.gz"
    truncated.write_bytes(synthetic_csv.read_bytes()[:4000])
    garbage = folder / "garbage.csv"
    garbage.write_bytes(bytes(range(256)) * 400)
    bomb = folder / "bomb.csv.gz"  # 16 MiB of empty rows after a valid header: about 40 KB
    empty_row = b"," * first.count(",") + b"\n"
    with gzip.open(bomb, "wb") as handle:
        handle.write(first.encode() + b"\n" + empty_row * ((16 << 20) // len(empty_row)))
    return {
        "many-columns": (many, "60,000 columns"),
        "long-header": (long_line, "longer than"),
        "doubled": (doubled, "more than once"),
        "truncated": (truncated, "truncated"),
        "garbage": (garbage, "not UTF-8"),
        "bomb": (bomb, "expands more than 100 times"),
    }


@pytest.mark.parametrize(
    "kind", ["many-columns", "long-header", "doubled", "truncated", "garbage", "bomb"]
)
def test_bad_files_are_one_clear_line(
    kind: str, tmp_path: Path, synthetic_csv: Path, registered: object
) -> None:
    """Check that `data clean` and `predict` refuse a hostile file with one line and exit 2,
    quickly (the header is read within limits), never with a traceback."""
    import os

    path, words = _hostile_files(tmp_path, synthetic_csv)[kind]
    model = getattr(registered, "tag")  # noqa: B009
    for command in (
        ("data", "clean", "--listings", str(path), "--output", str(tmp_path / "c.parquet")),
        ("predict", "--input", str(path), "--output", str(tmp_path / "p.csv"), "--model", model),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "mle_challenge.cli", *command],
            capture_output=True,
            text=True,
            timeout=60,  # quadratic header handling took minutes here
            env=os.environ,
            check=False,
        )
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert words in done.stderr, (command, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr

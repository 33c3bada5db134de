"""Extracting a pulled archive: the same result and the same refusals whether or not the
interpreter has tarfile's extraction filters (Debian bookworm's Python 3.11.2, the stack's
images, has none)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest

from mle_challenge.lifecycle.remote import TransferError, safe_extract

pytestmark = pytest.mark.unit


def _archive(path: Path, *members: tuple[str, bytes, int]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data, mode in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture(params=["filters", "no filters"])
def interpreter(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "no filters":  # tarfile as Python 3.11.2 has it
        original = tarfile.TarFile.extractall

        def extractall(
            self: tarfile.TarFile, path: Any = ".", members: Any = None, **kw: Any
        ) -> None:
            if "filter" in kw:
                raise TypeError("TarFile.extractall() got an unexpected keyword argument 'filter'")
            original(self, path, members, filter="fully_trusted")

        monkeypatch.delattr(tarfile, "data_filter")
        monkeypatch.setattr(tarfile.TarFile, "extractall", extractall)
    return str(request.param)


def test_a_model_archive_is_extracted_without_special_bits(
    tmp_path: Path, interpreter: str
) -> None:
    archive = _archive(tmp_path / "m.tar.gz", ("m/model.yaml", b"name: m\n", 0o6777))
    safe_extract(archive, tmp_path / "out")
    extracted = tmp_path / "out" / "m" / "model.yaml"
    assert extracted.read_bytes() == b"name: m\n"
    assert extracted.stat().st_mode & 0o7022 == 0


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/escape.txt"])
def test_a_member_outside_the_folder_is_refused(
    tmp_path: Path, interpreter: str, name: str
) -> None:
    archive = _archive(tmp_path / "bad.tar.gz", (name, b"x", 0o644))
    with pytest.raises(TransferError, match="outside its folder"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()

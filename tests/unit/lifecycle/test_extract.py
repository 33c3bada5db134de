"""Archives pulled from S3 are extracted safely on every Python the images run: Debian
bookworm's 3.11.2 (the local base image) has no tarfile filters."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from mle_challenge.lifecycle.remote import TransferError, safe_extract

pytestmark = pytest.mark.unit


def _archive(tmp_path: Path, *members: tuple[str, bytes, int, bytes]) -> Path:
    path = tmp_path / "a.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, content, mode, kind in members:
            info = tarfile.TarInfo(name)
            info.mode, info.type = mode, kind
            if kind == tarfile.SYMTYPE:
                info.linkname = "/etc/passwd"
            info.size = len(content) if kind == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(content) if kind == tarfile.REGTYPE else None)
    return path


@pytest.mark.parametrize("filters", [True, False], ids=["python-3.11.4+", "python-3.11.2"])
def test_files_come_out_without_special_modes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, filters: bool
) -> None:
    if not filters:
        monkeypatch.delattr(tarfile, "data_filter")
    archive = _archive(
        tmp_path,
        ("m", b"", 0o755, tarfile.DIRTYPE),
        ("m/model.yaml", b"name: x", 0o4777, tarfile.REGTYPE),
    )
    into = tmp_path / "out"
    into.mkdir()
    safe_extract(archive, into)
    extracted = into / "m" / "model.yaml"
    assert extracted.read_bytes() == b"name: x"
    assert extracted.stat().st_mode & 0o7000 == 0  # no setuid, setgid or sticky bit
    assert extracted.stat().st_mode & 0o002 == 0  # not writable by others


@pytest.mark.parametrize("filters", [True, False], ids=["python-3.11.4+", "python-3.11.2"])
@pytest.mark.parametrize(
    ("member", "words"),
    [
        (("../evil", b"x", 0o644, tarfile.REGTYPE), "outside its folder"),
        (("/abs", b"x", 0o644, tarfile.REGTYPE), "outside its folder"),
        (("link", b"", 0o777, tarfile.SYMTYPE), "a link or device"),
    ],
)
def test_members_out_of_the_folder_and_links_are_refused(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    filters: bool,
    member: tuple[str, bytes, int, bytes],
    words: str,
) -> None:
    if not filters:
        monkeypatch.delattr(tarfile, "data_filter")
    into = tmp_path / "out"
    into.mkdir()
    with pytest.raises(TransferError, match=words):
        safe_extract(_archive(tmp_path, member), into)
    assert not any(into.iterdir())

"""Read and write tables at a local path, an ``http(s)://`` URL or an ``s3://`` URL.

fsspec does the transport; this module turns its many failure modes into one
:class:`~mle_challenge.errors.SourceError` that says what to check.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from mle_challenge.config import get_settings
from mle_challenge.errors import SourceError

if TYPE_CHECKING:
    import pyarrow as pa
# pyarrow is imported where a file is parsed: a service following a registry on S3 imports
# this module (storage_options) for its pulls, and its image carries no pyarrow.

REMOTE_SCHEMES = ("http://", "https://", "s3://")


def is_remote(source: str) -> bool:
    """True for an ``http(s)://`` or ``s3://`` URL."""
    return source.startswith(REMOTE_SCHEMES)


def storage_options(source: str) -> dict[str, Any] | None:
    """fsspec options for ``source``: the S3 endpoint for S3-compatible stores."""
    if source.startswith("s3://"):
        endpoint = get_settings().s3_endpoint_url
        return {"client_kwargs": {"endpoint_url": endpoint}} if endpoint else {}
    if source.startswith(("http://", "https://")):
        return {}
    return None


# Inside Airbnb's header is about 1.2 KB and 75 columns: far past these, a file is not one.
MAX_HEADER_BYTES = 1 << 20
MAX_COLUMNS = 5_000


def file_sha256(source: str) -> str:
    """sha256 of the file's bytes, streamed (local path, HTTP or S3)."""
    import hashlib

    import fsspec

    digest = hashlib.sha256()
    try:
        with fsspec.open(source, "rb", **(storage_options(source) or {})) as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError as exc:
        raise SourceError(f"listings file not found: {source}. Check the path or URL.") from exc
    except Exception as exc:
        hint = "check the URL and credentials" if is_remote(source) else "check the path"
        raise SourceError(f"cannot read {source}: {exc}; {hint}.") from exc
    return digest.hexdigest()


def filesystem(source: str) -> tuple[Any, str]:
    """fsspec's filesystem for ``source`` (with the S3 endpoint) and the path within it."""
    from fsspec.core import url_to_fs

    try:
        return url_to_fs(source, **(storage_options(source) or {}))
    except (ImportError, ValueError) as exc:
        raise SourceError(f"cannot use {source}: {exc}") from exc


def source_exists(source: str) -> bool:
    """Whether ``source`` is there; a store that cannot be asked is a :class:`SourceError`
    (absent and unreachable are not the same news)."""
    with _reading(source):
        fs, path = filesystem(source)
        return bool(fs.exists(path))


def modified_at(source: str) -> datetime | None:
    """When ``source`` was last written (a local file's mtime, an S3 object's LastModified),
    in UTC; None where its store does not say (HTTP)."""
    try:
        fs, path = filesystem(source)
        when = fs.modified(path)
    except (NotImplementedError, IsADirectoryError, FileNotFoundError, OSError):
        return None
    if not isinstance(when, datetime):
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def read_csv_strings(
    source: str,
    columns: Callable[[str], bool] | None = None,
    bad_rows: list[BadRow] | None = None,
) -> pd.DataFrame:
    """Read a CSV (optionally compressed, by extension) with every cell as a string.

    Reading as strings keeps malformed values visible to validation instead of letting
    the parser coerce or reject them; ``columns`` selects columns by name while reading,
    so the 70-odd free-text columns of a detailed ``listings.csv`` never reach memory.
    The header is read first, within limits; the rest in chunks, its expansion bounded by
    ``MLE_MAX_DECOMPRESSION_RATIO``, and converted to pandas once. ``bad_rows``: as for
    :func:`read_csv_chunks`.
    """
    import pyarrow as pa

    names = csv_columns(source)
    chosen = [name for name in names if columns is None or columns(name)]
    check_unique(source, chosen)
    tables = list(_arrow_chunks(source, chosen, 1 << 62, bad_rows, None))
    return pa.concat_tables(tables).to_pandas()


@dataclass(frozen=True)
class BadRow:
    """A CSV line with the wrong number of fields: kept (not dropped) to report as a reject."""

    fields: int
    expected: int
    text: str

    @property
    def reason(self) -> str:
        return f"malformed CSV row: {self.fields} fields where the header has {self.expected}"


def read_csv_chunks(
    source: str,
    columns: Callable[[str], bool] | None = None,
    chunk_rows: int = 100_000,
    bad_rows: list[BadRow] | None = None,
    first_chunk_rows: int | None = None,
    header: Sequence[str] | None = None,
) -> Iterator[pd.DataFrame]:
    """:func:`read_csv_strings` in chunks of ``chunk_rows``, for files of any size.

    Arrow's multithreaded reader does the parsing (about four times pandas' speed; quoted
    cells may span lines, as Inside Airbnb's descriptions do). Lines with the wrong number
    of fields go to ``bad_rows`` when it is given, so the caller can report them; otherwise
    the first one stops the read with its line number. ``header``: the columns to read, when
    the caller has read the header already (it is not read again).
    """
    names = list(header) if header is not None else csv_columns(source)
    wanted = [n for n in names if columns is None or columns(n)]
    for table in _arrow_chunks(source, wanted, chunk_rows, bad_rows, first_chunk_rows):
        if table.num_rows:
            yield table.to_pandas()


def _arrow_chunks(
    source: str,
    wanted: list[str],
    chunk_rows: int,
    bad_rows: list[BadRow] | None,
    first_chunk_rows: int | None,
) -> Iterator[pa.Table]:
    """The ``wanted`` columns of the CSV at ``source`` as Arrow tables of ``chunk_rows`` rows
    (every cell a string or null); the last may be empty, and is the only one for a file with
    no rows."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    def on_bad_row(row: Any) -> str:
        if bad_rows is None:
            return "error"
        bad_rows.append(BadRow(row.actual_columns, row.expected_columns, row.text))
        return "skip"

    parse = pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_bad_row)
    convert = pacsv.ConvertOptions(
        include_columns=wanted,
        column_types=dict.fromkeys(wanted, pa.string()),
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    read = pacsv.ReadOptions(block_size=BLOCK_BYTES)
    with _reading(source), _open_binary(source) as stream:
        reader = pacsv.open_csv(stream, read, parse, convert)
        pending: list[pa.RecordBatch] = []
        buffered = 0
        # A small first chunk lets a consumer that works in stages start its later ones
        # sooner; the rest come at full size.
        size = min(chunk_rows, first_chunk_rows or chunk_rows)
        for batch in reader:
            pending.append(batch)
            buffered += batch.num_rows
            while buffered >= size:
                table = pa.Table.from_batches(pending)
                yield table.slice(0, size)
                rest = table.slice(size)
                pending, buffered = rest.to_batches(), rest.num_rows
                size = chunk_rows
        if buffered or not pending:
            yield pa.Table.from_batches(pending, schema=reader.schema)


def check_unique(source: str, columns: Sequence[str]) -> None:
    """Refuse a file that names a column it is read for more than once: which of the two
    is meant cannot be told."""
    repeated = sorted(name for name, count in Counter(columns).items() if count > 1)
    if repeated:
        raise SourceError(
            f"{source} names column(s) more than once in its header: {', '.join(repeated[:10])}."
            " Keep one column of each name."
        )


def csv_columns(source: str) -> list[str]:
    """The header of the CSV at ``source``: its first record, read from at most
    :data:`MAX_HEADER_BYTES`, with at most :data:`MAX_COLUMNS` names."""
    import csv
    import io

    with _reading(source):
        _check_found(source)
        with _open_binary(source, header_only=True) as stream:
            prefix = stream.read(MAX_HEADER_BYTES + 1)
    if not prefix.strip():
        raise SourceError(f"{source} is empty: expected a CSV with a header row.")
    if b"\n" not in prefix and len(prefix) > MAX_HEADER_BYTES:
        raise SourceError(
            f"{source}'s first line is longer than {MAX_HEADER_BYTES:,} bytes: it is not a "
            "listings CSV (Inside Airbnb's header row is about 1.2 KB)."
        )
    line_end = prefix.rfind(b"\n") + 1 or len(prefix)
    try:
        text = prefix[:line_end].decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(f"{source} is not UTF-8 text (is it a CSV?): {exc.reason}") from exc
    names = next(csv.reader(io.StringIO(text)), [])
    if len(names) > MAX_COLUMNS:
        raise SourceError(
            f"{source}'s header has {len(names):,} columns, more than the {MAX_COLUMNS:,} read: "
            "it is not a listings CSV (Inside Airbnb's has about 75)."
        )
    return names


# Real listings files expand 3 to 11 times when decompressed (Inside Airbnb's gzip files about
# 4, our synthetic ones 10); a decompression bomb hundreds of times (gzip's limit is 1,032).
# The ratio is judged only past this many bytes: a tiny file is harmless at any ratio, and the
# first few blocks say little about a whole file's.
RATIO_FLOOR = 8 << 20
BLOCK_BYTES = 1 << 20  # Arrow's default: a row longer than this is refused
_ARROW_CODECS = {".gz": "gzip", ".bz2": "bz2", ".lz4": "lz4", ".zst": "zstd"}  # as pa.input_stream


def _expansion_problem(source: str, inflated: int, compressed: int, ratio: float) -> str | None:
    """Why ``source`` must not be read on, having given ``inflated`` bytes from its first
    ``compressed``; None while it expands no more than ``ratio`` times (or is within
    :data:`RATIO_FLOOR`)."""
    if inflated <= RATIO_FLOOR or inflated <= ratio * max(compressed, 1):
        return None
    return (
        f"{source} expands more than {ratio:g} times when decompressed ({inflated:,} bytes "
        f"from its first {compressed:,}): a decompression bomb, not a listings file (Inside "
        "Airbnb's expand about 4 times). If it is genuine, raise MLE_MAX_DECOMPRESSION_RATIO."
    )


@contextmanager
def _open_binary(source: str, header_only: bool = False) -> Iterator[Any]:
    """``source`` as a binary stream, decompressed by extension (``.gz``, ``.bz2``...).

    Arrow's reader gets a native file: a plain local file as it is, else the decompressed or
    downloaded bytes spooled to a temporary file, within ``MLE_MAX_DECOMPRESSION_RATIO``. Its
    reading threads then never call Python: a Python stream under them, stopped early,
    crashed or hung the interpreter at exit. ``header_only``: the caller reads the first
    :data:`MAX_HEADER_BYTES` and no more, so the stream is not spooled.
    """
    import pyarrow as pa

    codec = _codec(source)
    if not is_remote(source) and codec is None:
        with pa.OSFile(source, "rb") as plain:
            yield plain
        return
    with _raw(source) as raw, _decompressing(raw, codec, is_remote(source)) as inflated:
        if header_only:
            yield inflated
            return
        with _spooled(source, inflated, raw.tell, codec is not None) as spool:
            yield spool


def _codec(source: str) -> str | None:
    if is_remote(source):
        from fsspec.utils import infer_compression

        return infer_compression(source)
    return _ARROW_CODECS.get(Path(source).suffix)


@contextmanager
def _raw(source: str) -> Iterator[Any]:
    """The file's own bytes: a native file when local, fsspec's when remote."""
    if not is_remote(source):
        import pyarrow as pa

        with pa.OSFile(source, "rb") as local:
            yield local
        return
    import fsspec

    with fsspec.open(source, "rb", **(storage_options(source) or {})) as remote:
        yield remote


@contextmanager
def _decompressing(raw: Any, codec: str | None, remote: bool) -> Iterator[Any]:
    """``raw`` decompressed by ``codec``: by Arrow for a local (native) file, as
    ``pa.input_stream`` did; by fsspec's codecs (which include xz) for a remote one."""
    if codec is None:
        yield raw
    elif not remote:
        import pyarrow as pa

        with pa.CompressedInputStream(raw, codec) as native:
            yield native
    else:
        from fsspec.compression import compr

        with compr[codec](raw, mode="rb") as inflated:
            yield inflated


@contextmanager
def _spooled(
    source: str, inflated: Any, compressed: Callable[[], int], bounded: bool
) -> Iterator[Any]:
    """``inflated`` copied block by block into a temporary file, opened natively; a
    decompressing stream is refused once it has expanded more than
    ``MLE_MAX_DECOMPRESSION_RATIO`` times the compressed bytes read, so a few compressed
    megabytes never become gigabytes of rows in memory and minutes of parsing."""
    import tempfile

    import pyarrow as pa

    ratio = get_settings().max_decompression_ratio
    with tempfile.NamedTemporaryFile(prefix="mle-listings-") as spool:
        total = 0
        while block := inflated.read(BLOCK_BYTES):
            total += len(block)
            if bounded and (problem := _expansion_problem(source, total, compressed(), ratio)):
                raise SourceError(problem)
            spool.write(block)
        spool.flush()
        with pa.OSFile(spool.name, "rb") as native:
            yield native


def _check_found(source: str) -> None:
    """A missing local file is named as such, before any reader's own words for it."""
    if not is_remote(source) and not Path(source).exists():
        raise SourceError(
            f"listings file not found: {source}. Give an existing path, or an http(s):// or "
            "s3:// URL."
        )


@contextmanager
def _reading(source: str) -> Iterator[None]:
    """Turn whatever reading ``source`` raises into one :class:`SourceError` that says why."""
    import pyarrow as pa

    try:
        yield
    except SourceError:
        raise
    except pd.errors.EmptyDataError as exc:
        raise SourceError(f"{source} is empty: expected a CSV with a header row.") from exc
    except pd.errors.ParserError as exc:
        raise SourceError(f"{source} is not a readable CSV file: {exc}") from exc
    except pa.ArrowInvalid as exc:
        message = str(exc).strip().splitlines()[0]
        if "Empty CSV file" in message:
            raise SourceError(f"{source} is empty: expected a CSV with a header row.") from exc
        if "straddling object" in message:  # a record longer than BLOCK_BYTES
            raise SourceError(
                f"{source} has a row longer than 1 MiB (an unclosed quote?): it is not a "
                "listings CSV, whose rows are a few KB."
            ) from exc
        if "UTF8" in message:
            raise SourceError(f"{source} is not UTF-8 text (is it a CSV?): {message}") from exc
        raise SourceError(f"{source} is not a readable CSV file: {message}") from exc
    except UnicodeDecodeError as exc:
        raise SourceError(f"{source} is not UTF-8 text (is it a CSV?): {exc.reason}") from exc
    except EOFError as exc:  # gzip's word for a compressed file cut short
        raise SourceError(
            f"{source} is truncated: its compressed data ends early ({exc}). Download it again."
        ) from exc
    except FileNotFoundError as exc:
        if is_remote(source) and exc.__cause__ is not None:  # fsspec's word for unreachable too
            raise SourceError(_remote_hint(source, exc.__cause__)) from exc
        raise SourceError(f"{source} was not found: check the path or URL.") from exc
    except PermissionError as exc:
        raise SourceError(
            f"{source} cannot be read: permission denied. Check the file's permissions or "
            "your S3 credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)."
        ) from exc
    except (OSError, ValueError, ImportError) as exc:
        if "truncated" in str(exc).lower():  # Arrow's word for a compressed file cut short
            raise SourceError(
                f"{source} is truncated: its compressed data ends early. Download it again."
            ) from exc
        raise SourceError(_remote_hint(source, exc)) from exc
    except Exception as exc:  # aiohttp / botocore raise their own types; name the source
        if is_remote(source):
            raise SourceError(_remote_hint(source, exc)) from exc
        raise


def _remote_hint(source: str, exc: BaseException) -> str:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if source.startswith("s3://"):
        return (
            f"cannot read {source}: {detail}. Check the bucket and key, AWS_ENDPOINT_URL for "
            "S3-compatible stores, and your AWS credentials."
        )
    if is_remote(source):
        return f"cannot read {source}: {detail}. Check the URL and that the server is reachable."
    return f"cannot read {source}: {detail}"


TABLE_SUFFIXES = (".parquet", ".pq", ".csv", ".csv.gz")


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """Write ``frame`` as Parquet or CSV, chosen by the path's extension."""
    name = str(path)
    if name.endswith((".parquet", ".pq")):
        frame.to_parquet(path, index=False)
    elif name.endswith((".csv", ".csv.gz")):
        frame.to_csv(path, index=False)
    else:
        raise SourceError(
            f"cannot tell the format of {name}: use one of {', '.join(TABLE_SUFFIXES)}."
        )


def read_table(path: str | Path, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Read a table written by :func:`write_table`."""
    name = str(path)
    cols = list(columns) if columns is not None else None
    if name.endswith((".parquet", ".pq")):
        return pd.read_parquet(path, columns=cols)
    if name.endswith((".csv", ".csv.gz")):
        return pd.read_csv(path, usecols=cols)
    raise SourceError(f"cannot tell the format of {name}: use one of {', '.join(TABLE_SUFFIXES)}.")

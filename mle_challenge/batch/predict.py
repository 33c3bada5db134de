"""Batch prediction: a listings file of any size → predictions, with every refused row kept.

The input is raw Inside Airbnb listings or API-shaped rows (the ``/classify`` fields and
``id``), CSV or Parquet, local, HTTP or S3. It is read in chunks, so memory does not grow with
the file. Each chunk is checked with the API's own rules (the model's categories, the area
of its training listings, count ranges); rows that fail go to a rejects file with their
reason, and the rest are predicted in one vectorised call per chunk. The output has ``id``,
``price_category``, one probability column per class and ``model``.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from mle_challenge import CATEGORIES
from mle_challenge.config import MODEL_NAME
from mle_challenge.data.sources import BadRow, check_unique
from mle_challenge.data.validate import check_rows
from mle_challenge.errors import DataValidationError, SourceError
from mle_challenge.project import Project, airbnb

_PIECE = 20_000  # rows the predicting thread walks at a time, checking how many cores it has


@dataclass
class BatchReport:
    model: str
    rows_read: int = 0
    rows_predicted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    categories: Counter[str] = field(default_factory=Counter)
    output: str = ""
    rejects: str = ""
    seconds: float = 0.0  # from the model loaded to the output complete
    logged: str = ""  # whether the run went into the prediction log

    def add_rejects(self, reasons: pd.Series, ids: pd.Series) -> None:
        for reason, group in ids.groupby(reasons):
            self.rejected[str(reason)] += len(group)
            shown = self.examples.setdefault(str(reason), [])
            shown.extend(str(i) for i in group.head(3 - len(shown)))

    def _in_class_order(self) -> list[tuple[str, int]]:
        """The categories as the classes go (Low, Mid, High, Lux), not alphabetically; names
        outside :data:`CATEGORIES` after them."""
        order = {name: at for at, name in enumerate(CATEGORIES)}
        return sorted(self.categories.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))

    def format(self) -> str:
        lines = [
            f"model: {self.model}",
            f"rows read: {self.rows_read:,}; predicted: {self.rows_predicted:,}; "
            f"rejected: {sum(self.rejected.values()):,}",
        ]
        for reason, count in self.rejected.most_common():
            lines.append(f"  rejected {count:,}: {reason} (ids {', '.join(self.examples[reason])})")
        shown = ", ".join(f"{k} {v:,}" for k, v in self._in_class_order())
        lines.append(f"predicted categories: {shown or '-'}")
        if self.seconds > 0:
            rate = self.rows_read / self.seconds
            lines.append(f"took {self.seconds:.1f} s after start-up: {rate:,.0f} rows/s")
        lines.append(f"wrote {self.output}")
        if self.rejected:
            lines.append(f"rejects (with their reason) in {self.rejects}")
        if self.logged:
            lines.append(self.logged)
        return "\n".join(lines)


def rejects_path(output: str) -> str:
    for suffix in (".csv.gz", ".parquet", ".pq", ".csv"):
        if output.endswith(suffix):
            return output[: -len(suffix)] + ".rejects.csv"
    return output + ".rejects.csv"


# --- reading ---


def _header(source: str) -> list[str]:
    if _is_parquet(source):
        import fsspec
        import pyarrow.parquet as pq

        from mle_challenge.data.sources import storage_options

        try:
            with fsspec.open(source, "rb", **(storage_options(source) or {})) as handle:
                return list(pq.ParquetFile(handle).schema_arrow.names)
        except Exception as exc:
            raise SourceError(f"cannot read {source} as Parquet: {exc}") from exc
    from mle_challenge.data.sources import csv_columns

    return csv_columns(source)


def _is_parquet(source: str) -> bool:
    return source.endswith((".parquet", ".pq"))


def _chunks(
    source: str, columns: list[str], chunk_rows: int, bad_rows: list[BadRow]
) -> Iterator[pd.DataFrame]:
    """``source``'s ``columns`` (as :func:`input_columns` chose them) in chunks."""
    from mle_challenge.data.sources import read_csv_chunks, storage_options

    if _is_parquet(source):
        import fsspec
        import pyarrow.parquet as pq

        with fsspec.open(source, "rb", **(storage_options(source) or {})) as handle:
            parquet = pq.ParquetFile(handle)
            for batch in parquet.iter_batches(batch_size=chunk_rows, columns=columns):
                yield batch.to_pandas()  # typed or text cells: the checks take either
        return
    first = chunk_rows // 4  # prediction starts on a quarter chunk: less time with one core idle
    yield from read_csv_chunks(
        source, None, chunk_rows, bad_rows, first_chunk_rows=first, header=columns
    )


class Chunk(NamedTuple):
    """One piece of the input, API-shaped, with what was refused before the API's rules."""

    rows: pd.DataFrame  # API-shaped rows (typed for raw listings, text for API rows)
    given: pd.DataFrame  # the input rows behind ``rows``, in the same order, as given
    refused: pd.DataFrame  # input rows refused by cleaning or parsing, with a ``reason``
    read: int  # input rows this chunk accounts for


def _raw_to_api(chunk: pd.DataFrame, source: str, project: Project) -> Chunk:
    """Raw listings → API-shaped typed rows, and the rows cleaning refused (with ``reason``)."""
    from mle_challenge.data.clean import AMENITY_FLAGS, clean_listings
    from mle_challenge.model.features import to_model_input

    # Only the amenity flags the project declares (cleaning names them as the notebook did:
    # TV for tv).
    declared = {name.lower() for name in project.of_kind("flag")}
    flags = [name for name in AMENITY_FLAGS if name.lower() in declared]
    result = clean_listings(chunk, source, labelled=False, flags=flags)
    assert result.reasons is not None
    bad = result.reasons.notna().to_numpy()
    refused = chunk.loc[bad].assign(reason=result.reasons[bad].to_numpy())
    api = to_model_input(result.table, project).assign(id=result.table["id"].to_numpy())
    return Chunk(api, chunk.loc[~bad].reset_index(drop=True), refused, len(chunk))


def _malformed(bad_rows: list[BadRow], columns: list[str]) -> pd.DataFrame:
    """CSV lines with the wrong number of fields, as reject rows: the line in ``raw_line``."""
    frame = pd.DataFrame({c: pd.Series([None] * len(bad_rows), dtype=object) for c in columns})
    frame["reason"] = [row.reason for row in bad_rows]
    frame["raw_line"] = [row.text for row in bad_rows]
    bad_rows.clear()
    return frame


def input_columns(source: str, project: Project | None = None) -> tuple[bool, list[str]]:
    """Whether ``source`` holds raw listings, and the columns of it that are read (the
    declared fields of ``project``, default the Airbnb project's, and the id)."""
    from mle_challenge.data.clean import RAW_COLUMNS, REQUIRED_COLUMNS

    fields = tuple((project or airbnb()).fields)
    header = _header(source)
    raw = "amenities" in header
    required = [c for c in REQUIRED_COLUMNS if c != "price"] if raw else [*fields, "id"]
    missing = [c for c in required if c not in header]
    if missing:
        raise DataValidationError(
            f"{source} is missing column(s) {', '.join(missing)}: give raw Inside Airbnb "
            "listings, or rows with the /classify fields and an id."
        )
    wanted = RAW_COLUMNS if raw else frozenset((*fields, "id"))
    chosen = [c for c in header if c in wanted]
    check_unique(source, chosen)
    return raw, chosen


def api_chunks(
    source: str,
    chunk_rows: int = 100_000,
    layout: tuple[bool, list[str]] | None = None,
    project: Project | None = None,
) -> Iterator[Chunk]:
    """``source`` as :class:`Chunk` s of API-shaped rows.

    Raw Inside Airbnb listings (told by their ``amenities`` column) are cleaned first (typed
    cells), and the rows cleaning refuses come back with a ``reason``; API-shaped rows pass
    as they are (text cells). CSV lines with the wrong number of fields are refused too.
    ``layout`` is :func:`input_columns`'s answer when the caller has it already; ``project``
    the declaration whose fields are read (default: the Airbnb project).
    """
    project = project or airbnb()
    raw, columns = layout or input_columns(source, project)
    bad_rows: list[BadRow] = []
    for chunk in _chunks(source, columns, chunk_rows, bad_rows):
        if raw:
            piece = _raw_to_api(chunk, source, project)
        else:
            piece = Chunk(chunk, chunk, chunk.iloc[:0], len(chunk))
        if bad_rows:
            count = len(bad_rows)
            malformed = _malformed(bad_rows, columns)
            piece = piece._replace(
                refused=pd.concat([piece.refused, malformed], ignore_index=True),
                read=piece.read + count,
            )
        yield piece
    if bad_rows:  # malformed lines after the last chunk
        empty, count = pd.DataFrame(columns=columns), len(bad_rows)
        yield Chunk(empty, empty, _malformed(bad_rows, columns), count)


# --- writing ---


class _Writer:
    """Appends chunks to a CSV or Parquet output; local outputs appear only when complete."""

    def __init__(self, target: str) -> None:
        from mle_challenge.data.sources import is_remote

        self.target = target
        self.remote = is_remote(target)
        self.path = (
            target if self.remote else str(Path(target).with_name(Path(target).name + ".partial"))
        )
        if not self.remote:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        self._parquet: Any = None
        self._handle: Any = None
        self._first = True

    def write(self, frame: pd.DataFrame) -> None:
        import fsspec
        import pyarrow as pa

        from mle_challenge.data.sources import storage_options

        if self._handle is None:
            # Compression follows the target's name (the ".partial" file's would say none).
            compression = fsspec.utils.infer_compression(self.target)
            options = storage_options(self.target) or {}
            self._handle = fsspec.open(self.path, "wb", compression=compression, **options).open()
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if _is_parquet(self.target):
            import pyarrow.parquet as pq

            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self._handle, table.schema)
            self._parquet.write_table(table)
        else:  # Arrow's writer: several times pandas' to_csv, quoting only where needed
            import pyarrow.csv as pacsv

            options = pacsv.WriteOptions(include_header=self._first, quoting_style="needed")
            pacsv.write_csv(table, self._handle, options)
        self._first = False

    def close(self, empty_columns: list[str]) -> None:
        if self._handle is None:
            self.write(pd.DataFrame(columns=empty_columns))
        if self._parquet is not None:
            self._parquet.close()
        self._handle.close()
        if not self.remote:
            Path(self.path).replace(self.target)

    def abort(self) -> None:
        if self._handle is not None:
            self._handle.close()
        if not self.remote:
            Path(self.path).unlink(missing_ok=True)


def predict_file(
    source: str,
    output: str,
    model: str | None = None,
    chunk_rows: int = 100_000,
    *,
    model_name: str = MODEL_NAME,
) -> BatchReport:
    """Predict every listing in ``source`` into ``output``; refused rows go to the rejects.
    ``model`` None: the production model of ``model_name`` (one name per city).

    Two stages overlap: while a worker thread walks the trees for one chunk and writes it
    (the compiled walk and Arrow's writers release the GIL), the caller's thread reads,
    cleans, checks and encodes the next, so both cores stay busy. Chunks are written in
    input order.
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    from mle_challenge.lifecycle import production, store
    from mle_challenge.lifecycle.registry import resolve_tag
    from mle_challenge.model.predictor import Predictor

    tag = model or production.production_tag(model_name)
    if tag is None:
        raise DataValidationError(
            f"no production model of {model_name} to predict with: pass --model TAG or promote one."
        )
    predictor = Predictor.load(store.verified(resolve_tag(tag, model_name)), fast_path=False)
    categories, area = predictor.categories, predictor.area
    project = predictor.project
    bounds = project.area_bounds(area.latitude, area.longitude)
    report = BatchReport(model=predictor.tag, output=output, rejects=rejects_path(output))
    columns = ["id", "price_category", *(f"p_{c}" for c in predictor.classes), "model"]
    labels = pd.CategoricalDtype(list(predictor.classes))
    writer, rejects = _Writer(output), _Writer(report.rejects)
    layout = input_columns(source, project)
    reject_columns = [*layout[1], "reason", "raw_line"]

    read_all = threading.Event()

    def predict_and_write(ids: np.ndarray, matrix: np.ndarray) -> None:
        # One core while the other thread reads; both once it is done (the last chunk).
        parts = [
            predictor.predict_encoded(matrix[at : at + _PIECE], 2 if read_all.is_set() else 1)
            for at in range(0, len(matrix), _PIECE)
        ]
        codes = np.concatenate([p.codes for p in parts])
        probabilities = np.concatenate([p.probabilities for p in parts])
        result = {"id": ids, "price_category": pd.Categorical.from_codes(codes, dtype=labels)}
        for i, name in enumerate(predictor.classes):
            result[f"p_{name}"] = probabilities[:, i]
        frame = pd.DataFrame(result).assign(model=predictor.tag)
        writer.write(frame.astype({"price_category": "str"}))
        report.rows_predicted += len(frame)
        counts = np.bincount(codes, minlength=len(predictor.classes))
        report.categories.update(dict(zip(predictor.classes, counts.tolist(), strict=True)))

    # Start-up, like loading the model: lay out the trees and load the compiled walk (about
    # 0.5 s, mostly imports, which hold the GIL: overlapping it with reading gained nothing).
    # numba compiles (or loads) one version per array layout: the chunks' column-major matrix
    # and the slices of it the worker walks piece by piece, so both now, not mid-file.
    example = predictor.encode(pd.DataFrame([predictor.example] * 3))
    for matrix in (example, example[:2]):
        predictor.predict_encoded(matrix, threads=1)
    pending: Future[None] | None = None
    started = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="predict") as pool:
            for chunk in api_chunks(source, chunk_rows, layout, project):
                report.rows_read += chunk.read
                if len(chunk.refused):
                    report.add_rejects(chunk.refused["reason"], chunk.refused["id"])
                    rejects.write(chunk.refused.reindex(columns=reject_columns))
                if chunk.rows.empty:
                    continue
                checked = check_rows(project, chunk.rows, categories, bounds)
                rows, reasons = checked.rows, checked.reasons
                bad = reasons.notna().to_numpy()
                if bad.any():
                    report.add_rejects(reasons[bad], chunk.given.loc[bad, "id"])
                    refused = chunk.given.loc[bad].assign(reason=reasons[bad].to_numpy())
                    rejects.write(refused.reindex(columns=reject_columns))
                if pending is not None:
                    pending.result()  # one chunk in flight: memory stays bounded
                    pending = None
                if not bad.all():
                    good = rows.loc[~bad]
                    ids = good["id"].to_numpy(dtype="int64")
                    pending = pool.submit(predict_and_write, ids, predictor.encode(good))
            read_all.set()
            if pending is not None:
                pending.result()
        writer.close(columns)
        if report.rejected:
            rejects.close(reject_columns)
        else:
            rejects.abort()
    except BaseException:
        writer.abort()
        rejects.abort()
        raise
    report.categories = Counter({k: v for k, v in report.categories.items() if v})
    report.seconds = time.perf_counter() - started
    report.logged = _record_run(source, report)
    return report


def _record_run(source: str, report: BatchReport) -> str:
    """Add the run to the prediction log; what happened, for the report's last line."""
    from mle_challenge.config import get_settings
    from mle_challenge.data.sources import file_sha256
    from mle_challenge.lifecycle.store import state_dir
    from mle_challenge.monitoring.log import LogError, record_batch_run, resolve_url

    url = resolve_url(get_settings().prediction_log, state_dir())
    if url is None:
        return "not logged (MLE_PREDICTION_LOG=off)"
    try:
        record_batch_run(
            url,
            input=source,
            input_sha256=file_sha256(source),
            output=report.output,
            model=report.model,
            rows=report.rows_read,
            predicted=report.rows_predicted,
            refused=sum(report.rejected.values()),
        )
    except LogError as exc:  # the predictions are written either way: say so, don't fail
        return f"NOT recorded in the prediction log: {exc}"
    return "run recorded in the prediction log"

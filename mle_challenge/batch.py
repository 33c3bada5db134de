"""Batch prediction: a listings file of any size → predictions, with every refused row kept.

The input is raw Inside Airbnb listings or API-shaped rows (the ``/classify`` fields and
``id``), CSV or Parquet, local, HTTP or S3. It is read in chunks, so memory does not grow with
the file. Each chunk is checked with the API's own rules (the model's categories, the NYC
bounding box, count ranges); rows that fail go to a rejects file with their reason, and the
rest are predicted in one vectorised call per chunk. The output has ``id``,
``price_category``, one probability column per class and ``model``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mle_challenge.errors import DataValidationError, SourceError
from mle_challenge.features import API_FEATURES, CATEGORICAL
from mle_challenge.schema import LATITUDE_RANGE, LONGITUDE_RANGE

FLAGS = ("tv", "elevator", "internet")
COUNTS = ("beds", "bedrooms", "bathrooms")
_TRUE, _FALSE = {"1", "true", "1.0"}, {"0", "false", "0.0"}


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

    def add_rejects(self, reasons: pd.Series, ids: pd.Series) -> None:
        for reason, group in ids.groupby(reasons):
            self.rejected[str(reason)] += len(group)
            shown = self.examples.setdefault(str(reason), [])
            shown.extend(str(i) for i in group.head(3 - len(shown)))

    def format(self) -> str:
        lines = [
            f"model: {self.model}",
            f"rows read: {self.rows_read:,}; predicted: {self.rows_predicted:,}; "
            f"rejected: {sum(self.rejected.values()):,}",
        ]
        for reason, count in self.rejected.most_common():
            lines.append(f"  rejected {count:,}: {reason} (ids {', '.join(self.examples[reason])})")
        shown = ", ".join(f"{k} {v:,}" for k, v in sorted(self.categories.items()))
        lines.append(f"predicted categories: {shown or '-'}")
        lines.append(f"wrote {self.output}")
        if self.rejected:
            lines.append(f"rejects (with their reason) in {self.rejects}")
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

        from mle_challenge.sources import storage_options

        try:
            with fsspec.open(source, "rb", **(storage_options(source) or {})) as handle:
                return list(pq.ParquetFile(handle).schema_arrow.names)
        except Exception as exc:
            raise SourceError(f"cannot read {source} as Parquet: {exc}") from exc
    from mle_challenge.sources import read_csv_chunks

    for chunk in read_csv_chunks(source, None, chunk_rows=1):
        return list(chunk.columns)
    raise SourceError(f"{source} has no rows: nothing to predict.")


def _is_parquet(source: str) -> bool:
    return source.endswith((".parquet", ".pq"))


def _chunks(source: str, raw: bool, chunk_rows: int) -> Iterator[pd.DataFrame]:
    from mle_challenge.data import RAW_COLUMNS
    from mle_challenge.sources import read_csv_chunks, storage_options

    wanted = RAW_COLUMNS if raw else frozenset((*API_FEATURES, "id"))
    if _is_parquet(source):
        import fsspec
        import pyarrow.parquet as pq

        with fsspec.open(source, "rb", **(storage_options(source) or {})) as handle:
            parquet = pq.ParquetFile(handle)
            columns = [c for c in parquet.schema_arrow.names if c in wanted]
            for batch in parquet.iter_batches(batch_size=chunk_rows, columns=columns):
                frame = batch.to_pandas()
                # Cells as text, as from a CSV: the checks parse and report them the same way.
                yield frame.astype("string").astype(object).where(frame.notna(), None)
        return
    yield from read_csv_chunks(source, lambda name: name in wanted, chunk_rows)


# --- checking rows with the API's rules ---


def _first_reason(checks: list[tuple[str, Any]], index: pd.Index) -> pd.Series:
    reason = pd.Series(pd.NA, index=index, dtype="string")
    for name, mask in checks:
        reason = reason.mask(reason.isna() & np.asarray(mask, dtype=bool), name)
    return reason


def check_rows(
    frame: pd.DataFrame, categories: dict[str, list[str]]
) -> tuple[pd.DataFrame, pd.Series]:
    """API-shaped rows (text cells) → typed model input and each row's first problem (or NA)."""
    out = pd.DataFrame(index=frame.index)
    checks: list[tuple[str, Any]] = []
    ids = pd.to_numeric(frame["id"], errors="coerce")
    checks.append(("missing id", frame["id"].isna()))
    checks.append(("id is not a whole number", ids.isna() & frame["id"].notna()))
    checks.append(("id is not a whole number", ids.notna() & (ids % 1 != 0)))
    checks.append(("duplicate id", ids.duplicated(keep="first") & ids.notna()))
    out["id"] = ids
    for column in CATEGORICAL:
        text = frame[column].astype("string").str.strip()
        known = ", ".join(categories[column])
        checks.append((f"missing {column}", text.isna()))
        checks.append(
            (f"{column} not one of: {known}", text.notna() & ~text.isin(categories[column]))
        )
        out[column] = text
    number = {c: pd.to_numeric(frame[c], errors="coerce") for c in ("accommodates", *COUNTS)}
    for column in ("latitude", "longitude"):
        number[column] = pd.to_numeric(frame[column], errors="coerce")
    checks.append(("missing accommodates", frame["accommodates"].isna()))
    for column in ("accommodates", *COUNTS, "latitude", "longitude"):
        bad = number[column].isna() & frame[column].notna()
        bad |= ~np.isfinite(number[column].fillna(0))
        checks.append((f"{column} is not a number", bad))
    checks.append(
        (
            "accommodates not a whole number in [1, 50]",
            ~number["accommodates"].between(1, 50) | (number["accommodates"] % 1 != 0),
        )
    )
    for column in COUNTS:
        checks.append(
            (
                f"{column} out of range [0, 50]",
                number[column].notna() & ~number[column].between(0, 50),
            )
        )
    for column, (low, high) in (("latitude", LATITUDE_RANGE), ("longitude", LONGITUDE_RANGE)):
        checks.append((f"missing {column}", frame[column].isna()))
        checks.append(
            (
                f"{column} outside New York City [{low}, {high}]",
                number[column].notna() & ~number[column].between(low, high),
            )
        )
    for column, values in number.items():
        out[column] = values.astype(float)
    for flag in FLAGS:
        text = frame[flag].astype("string").str.strip().str.lower()
        checks.append((f"{flag} is not true, false, 1 or 0", ~text.isin(_TRUE | _FALSE)))
        out[flag] = text.isin(_TRUE).astype(int)
    return out.loc[:, [*API_FEATURES, "id"]], _first_reason(checks, frame.index)


def _raw_to_api(chunk: pd.DataFrame, source: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Raw listings → API-shaped text rows, and the rows cleaning refused (with ``reason``)."""
    from mle_challenge.data import clean_listings
    from mle_challenge.features import to_model_input

    result = clean_listings(chunk, source, labelled=False)
    assert result.reasons is not None
    refused = chunk.loc[result.reasons.notna().to_numpy()].copy()
    refused["reason"] = result.reasons.dropna().to_numpy()
    api = to_model_input(result.table).assign(id=result.table["id"].to_numpy())
    return api.astype("string").astype(object).where(api.notna(), None), refused


def api_chunks(
    source: str, chunk_rows: int = 100_000
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame, int]]:
    """``source`` as chunks of API-shaped text rows: ``(rows, refused by cleaning, rows read)``.

    Raw Inside Airbnb listings (told by their ``amenities`` column) are cleaned first, and
    the rows cleaning refuses come back with a ``reason``; API-shaped rows pass as they are.
    """
    from mle_challenge.data import REQUIRED_COLUMNS

    header = _header(source)
    raw = "amenities" in header
    required = [c for c in REQUIRED_COLUMNS if c != "price"] if raw else [*API_FEATURES, "id"]
    missing = [c for c in required if c not in header]
    if missing:
        raise DataValidationError(
            f"{source} is missing column(s) {', '.join(missing)}: give raw Inside Airbnb "
            "listings, or rows with the /classify fields and an id."
        )
    for chunk in _chunks(source, raw, chunk_rows):
        if raw:
            rows, refused = _raw_to_api(chunk, source)
            yield rows, refused, len(chunk)
        else:
            yield chunk, chunk.iloc[:0].assign(reason=pd.Series(dtype="string")), len(chunk)


# --- writing ---


class _Writer:
    """Appends chunks to a CSV or Parquet output; local outputs appear only when complete."""

    def __init__(self, target: str) -> None:
        from mle_challenge.sources import is_remote

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

        from mle_challenge.sources import storage_options

        if self._handle is None:
            opener = fsspec.open(
                self.path, "wb", compression="infer", **(storage_options(self.target) or {})
            )
            self._handle = opener.open()
        if _is_parquet(self.target):
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self._handle, table.schema)
            self._parquet.write_table(table)
        else:
            self._handle.write(frame.to_csv(index=False, header=self._first).encode())
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
    source: str, output: str, model: str | None = None, chunk_rows: int = 100_000
) -> BatchReport:
    """Predict every listing in ``source`` into ``output``; refused rows go to the rejects."""
    from mle_challenge import lifecycle
    from mle_challenge.predict import Predictor
    from mle_challenge.registry import resolve_tag

    tag = model or lifecycle.production_tag()
    if tag is None:
        raise DataValidationError(
            "no production model to predict with: pass --model TAG or promote one."
        )
    predictor = Predictor.load(lifecycle.verified(resolve_tag(tag)))
    categories = predictor.categories
    report = BatchReport(model=predictor.tag, output=output, rejects=rejects_path(output))
    columns = ["id", "price_category", *(f"p_{c}" for c in predictor.classes), "model"]
    writer, rejects = _Writer(output), _Writer(report.rejects)
    try:
        for chunk, refused, read in api_chunks(source, chunk_rows):
            report.rows_read += read
            if len(refused):
                report.add_rejects(refused["reason"], refused["id"])
                rejects.write(refused)
            rows, reasons = check_rows(chunk, categories)
            bad = reasons.notna()
            if bad.any():
                report.add_rejects(reasons[bad], chunk.loc[bad, "id"])
                rejects.write(chunk.loc[bad].assign(reason=reasons[bad]))
            good = rows.loc[~bad]
            if good.empty:
                continue
            predictions = predictor.predict_frame(good)
            result = pd.DataFrame(
                {"id": good["id"].astype("int64").to_numpy(), "price_category": predictions.labels}
            )
            for i, name in enumerate(predictor.classes):
                result[f"p_{name}"] = predictions.probabilities[:, i]
            result["model"] = predictor.tag
            writer.write(result)
            report.rows_predicted += len(result)
            report.categories.update(predictions.labels)
        writer.close(columns)
        if report.rejected:
            rejects.close(["reason"])
        else:
            rejects.abort()
    except BaseException:
        writer.abort()
        rejects.abort()
        raise
    return report

"""Generic text → typed parsing of table columns, and the first reason a row is refused.

Each parser takes raw cells (text, or already typed) and returns values, NaN or NA where a cell
is missing or unparseable, so the caller decides what a bad cell costs. They run on Arrow
strings (RE2 regexes, Arrow casts): no Python loop over rows, so cleaning keeps up with batch
prediction (about 2 µs a row instead of 12). Used by cleaning (:mod:`.clean`), the actuals
(:mod:`.actuals`) and the declared-field checks (:mod:`.validate`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def arrow_text(raw: pd.Series) -> pa.Array:
    """``raw`` as an Arrow string array (nulls where missing), without a Python loop."""
    values = raw.astype("string[pyarrow]").array
    return pa.array(values, type=pa.large_string()) if len(values) else pa.array([], pa.string())


def parse_number(raw: pd.Series) -> pd.Series:
    """Text → float64; NaN where missing or not a number (as ``pd.to_numeric`` decides)."""
    if pd.api.types.is_numeric_dtype(raw.dtype):
        return raw.astype("float64")
    try:  # Arrow's cast is many times faster, but all or nothing: any bad cell falls back.
        values = pc.cast(arrow_text(raw), pa.float64()).to_numpy(zero_copy_only=False)
        return pd.Series(values, index=raw.index, dtype="float64")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pd.to_numeric(raw, errors="coerce").astype("float64")


# A listing id as text: an optional sign, digits, and at most a zero fraction ("8.0", as a
# float column writes it). Anything else (empty, "abc", "7.5", "1e3") is no id.
_ID_RE = r"^\s*(?P<sign>[+-]?)0*(?P<digits>\d+?)(?:\.0*)?\s*$"
_INT64_MAX = str(np.iinfo(np.int64).max)


def parse_id(raw: pd.Series) -> pd.Series:
    """Text → listing ids: int64 when every cell is one, else nullable Int64 with NA where a
    cell is missing, not a whole number, or outside int64 (``99999999999999999999999``).

    Recent ids have 19 digits: they never go through float64, which would round them, and one
    bad cell leaves the others exact.
    """
    if pd.api.types.is_integer_dtype(raw.dtype) and not raw.hasnans:
        return raw.astype("int64")
    if pd.api.types.is_numeric_dtype(raw.dtype):
        number = raw.astype("float64")
        whole = (number % 1 == 0) & (number.abs() < 2.0**63)
        return number.where(whole).astype("Int64")
    text = arrow_text(raw)
    try:
        return pd.Series(pc.cast(text, pa.int64()).to_numpy(), index=raw.index, dtype="int64")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, ValueError):
        pass  # a missing or bad cell somewhere (to_numpy refuses nulls): cell by cell below
    found = pc.extract_regex(text, _ID_RE)
    digits, negative = (
        pc.struct_field(found, "digits"),
        pc.equal(pc.struct_field(found, "sign"), "-"),
    )
    length = pc.utf8_length(digits)
    fits = pc.or_(
        pc.less(length, len(_INT64_MAX)),
        pc.and_(pc.equal(length, len(_INT64_MAX)), pc.less_equal(digits, _INT64_MAX)),
    )
    magnitude = pc.cast(pc.if_else(fits, digits, pa.scalar(None, digits.type)), pa.int64())
    ids = pc.if_else(negative, pc.negate(magnitude), magnitude)
    return pd.Series(ids.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get), index=raw.index)


def extract_group(raw: pd.Series, pattern: str, group: str) -> pd.Series:
    """The named ``group`` of ``pattern`` (RE2 syntax) matched in each cell; NA where none."""
    found = pc.struct_field(pc.extract_regex(arrow_text(raw), pattern), group)
    return pd.Series(found.to_pandas(types_mapper=pd.ArrowDtype), index=raw.index).astype("string")


def first_reasons(checks: Sequence[tuple[str, Any]], index: pd.Index) -> pd.Series:
    """For each row, the first reason whose mask is True; NA where the row is fine.

    Masks may hold NA (counted as False). One integer array carries the answer until the
    end, so only refused rows ever get a string.
    """
    first = np.zeros(len(index), dtype=np.intp)
    for number, (_, mask) in enumerate(checks, start=1):
        hit = pd.Series(mask, copy=False).fillna(False).to_numpy(dtype=bool)
        first[(first == 0) & hit] = number
    names = np.array([None, *(name for name, _ in checks)], dtype=object)
    return pd.Series(names[first], index=index, dtype="string")


def missing_or_bad(raw: pd.Series, parsed: pd.Series, name: str) -> list[tuple[str, pd.Series]]:
    """The two checks of one parsed column, for :func:`first_reasons`: an empty cell is
    "missing", a filled one that did not parse is "unparseable"."""
    missing = raw.isna()
    return [(f"missing {name}", missing), (f"unparseable {name}", parsed.isna() & ~missing)]

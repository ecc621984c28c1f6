"""Columns in and frames out, for pandas, polars and pyarrow, without a Python object per row.

Every column is turned into a numpy buffer with the frame library's own vectorised code
(``to_numpy``, ``factorize``, ``search_sorted``, ``index_in``), and results are built back into a
frame of the caller's library. Bad input raises :class:`crmkit.ValidationError` naming the
column and the problem.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ._crmkit import ValidationError

__all__ = [
    "library",
    "column",
    "customer_codes",
    "timestamps",
    "numbers",
    "instant_micros",
    "make_frame",
    "to_arrow",
    "wrap_like",
]


def library(frame: Any) -> str:
    """``"pandas"``, ``"polars"`` or ``"pyarrow"`` for a frame (or a series/array) of that library.

    >>> import pandas as pd
    >>> library(pd.DataFrame({"a": [1]}))
    'pandas'
    """
    root = type(frame).__module__.split(".")[0]
    if root in ("pandas", "polars", "pyarrow"):
        return root
    raise ValidationError(
        f"expected a pandas or polars DataFrame or a pyarrow Table, got {type(frame).__name__}"
    )


def _names(frame: Any) -> List[str]:
    lib = library(frame)
    if lib == "pandas":
        return [str(c) for c in frame.columns]
    if lib == "polars":
        return list(frame.columns)
    return list(frame.column_names)


def column(frame: Any, name: str) -> Any:
    """The column ``name`` of ``frame``, or a ValidationError listing the columns there are."""
    names = _names(frame)
    if name not in names:
        shown = ", ".join(repr(n) for n in names[:20])
        raise ValidationError(f"column `{name}`: missing; the frame has {shown}")
    lib = library(frame)
    if lib == "pyarrow":
        return frame.column(name)
    return frame[name]


def _first_null(col: Any, lib: str) -> Optional[int]:
    if lib == "pandas":
        if isinstance(col.dtype, np.dtype) and col.dtype.kind in "iubfM":
            # Integers and bools cannot be missing; NaN and NaT are found (with their row) by
            # the Rust side, without a pass here.
            return None
        mask = col.isna().to_numpy()
    elif lib == "polars":
        if col.null_count() == 0:
            return None
        mask = col.is_null().to_numpy()
    else:
        if col.null_count == 0:
            return None
        import pyarrow.compute as pc

        mask = pc.is_null(col).to_numpy(zero_copy_only=False)
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


def _missing(name: str, row: int, what: str) -> ValidationError:
    kind = "null/NaT" if what == "timestamp" else "null/NaN"
    return ValidationError(f"column `{name}`, row {row}: missing {what} ({kind})")


def customer_codes(col: Any, name: str) -> Tuple[np.ndarray, Any]:
    """int64 codes of a customer column, and the values to map codes back (``None`` when the
    codes are the values themselves, i.e. an integer column)."""
    lib = library(col)
    row = _first_null(col, lib)
    if row is not None:
        raise _missing(name, row, "customer")
    if lib == "pandas":
        import pandas as pd

        kind = col.dtype.kind
        if kind in "iu":
            return col.to_numpy(dtype=np.int64), None
        if kind == "f":
            values = col.to_numpy(dtype=np.float64)
            nan = np.flatnonzero(np.isnan(values))
            if nan.size:
                raise _missing(name, int(nan[0]), "customer")
            if not np.all(np.mod(values, 1) == 0):
                raise ValidationError(
                    f"column `{name}`: float customer ids with a fraction; expected integers or strings"
                )
            return values.astype(np.int64), None
        if kind == "b":
            raise ValidationError(f"column `{name}`: bool is not a customer id dtype")
        codes, uniques = pd.factorize(col, sort=True)
        return codes.astype(np.int64, copy=False), uniques
    if lib == "polars":
        import polars as pl

        if col.dtype.is_integer():
            return col.cast(pl.Int64).to_numpy(), None
        if col.dtype == pl.Boolean or col.dtype.is_float():
            raise ValidationError(
                f"column `{name}`: {col.dtype} is not a customer id dtype; use integers or strings"
            )
        uniques = col.unique().sort()
        codes = uniques.search_sorted(col, side="left")
        return codes.cast(pl.Int64).to_numpy(), uniques
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_integer(col.type):
        return pc.cast(col, pa.int64()).to_numpy(), None
    if pa.types.is_floating(col.type) or pa.types.is_boolean(col.type):
        raise ValidationError(
            f"column `{name}`: {col.type} is not a customer id dtype; use integers or strings"
        )
    uniques = pc.unique(col)
    uniques = uniques.take(pc.array_sort_indices(uniques))
    codes = pc.index_in(col, value_set=uniques)
    return pc.cast(codes, pa.int64()).to_numpy(), uniques


def take(uniques: Any, codes: np.ndarray) -> Any:
    """The customer values of ``codes`` (``uniques`` from :func:`customer_codes`)."""
    if uniques is None:
        return codes
    lib = type(uniques).__module__.split(".")[0]
    if lib == "pandas":
        return uniques.take(codes)
    if lib == "polars":
        return uniques.gather(codes)
    import pyarrow as pa

    return uniques.take(pa.array(codes))


def timestamps(col: Any, name: str) -> Tuple[np.ndarray, str, Optional[str]]:
    """int64 ticks of a datetime or date column, their unit (``ns``, ``us``, ``ms``, ``s`` or
    ``D``) and the time zone (``None`` for naive timestamps and dates). Aware values are UTC
    instants."""
    lib = library(col)
    row = _first_null(col, lib)
    if row is not None:
        raise _missing(name, row, "timestamp")
    if lib == "pandas":
        import pandas as pd

        dtype = col.dtype
        if isinstance(dtype, pd.DatetimeTZDtype):
            # The UTC instants, without a copy.
            return np.asarray(col.array.asi8), str(getattr(dtype, "unit", "ns")), str(dtype.tz)
        if dtype.kind == "M":
            tz = None
            values = col.to_numpy()
        else:
            raise ValidationError(
                f"column `{name}`: dtype {dtype} is not a datetime; convert it first "
                f"(e.g. df[{name!r}] = pandas.to_datetime(df[{name!r}]))"
            )
        unit = np.datetime_data(values.dtype)[0]
        return values.view(np.int64), unit, tz
    if lib == "polars":
        import polars as pl

        dtype = col.dtype
        if dtype == pl.Date:
            return col.to_physical().cast(pl.Int64).to_numpy(), "D", None
        if isinstance(dtype, pl.Datetime):
            return col.to_physical().to_numpy(), dtype.time_unit, dtype.time_zone
        raise ValidationError(
            f"column `{name}`: dtype {dtype} is not a datetime; convert it first "
            f"(e.g. pl.col({name!r}).str.to_datetime())"
        )
    import pyarrow as pa
    import pyarrow.compute as pc

    t = col.type
    if pa.types.is_date32(t):
        return pc.cast(col, pa.int32()).to_numpy().astype(np.int64), "D", None
    if pa.types.is_date64(t):
        return pc.cast(col, pa.int64()).to_numpy(), "ms", None
    if pa.types.is_timestamp(t):
        return pc.cast(col, pa.int64()).to_numpy(), t.unit, t.tz
    raise ValidationError(f"column `{name}`: type {t} is not a timestamp or a date")


def numbers(col: Any, name: str, what: str = "amount") -> np.ndarray:
    """A numeric column as float64 (nulls and NaN are errors naming the row)."""
    lib = library(col)
    row = _first_null(col, lib)
    if row is not None:
        raise _missing(name, row, what)
    if lib == "pandas":
        kind = col.dtype.kind
        if kind in "iuf":
            return col.to_numpy(dtype=np.float64)
        if kind == "O":
            import pandas as pd

            try:
                return pd.to_numeric(col, errors="raise").to_numpy(dtype=np.float64)
            except (ValueError, TypeError) as e:
                raise ValidationError(f"column `{name}`: not numeric ({e})") from None
        raise ValidationError(f"column `{name}`: dtype {col.dtype} is not numeric")
    if lib == "polars":
        import polars as pl

        if col.dtype.is_numeric():
            return col.cast(pl.Float64).to_numpy()
        raise ValidationError(f"column `{name}`: dtype {col.dtype} is not numeric")
    import pyarrow as pa
    import pyarrow.compute as pc

    t = col.type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return pc.cast(col, pa.float64()).to_numpy()
    raise ValidationError(f"column `{name}`: type {t} is not numeric")


def array(values: Any, name: str) -> np.ndarray:
    """A 1-d float64 numpy array from an array-like (numpy, list, pandas/polars series, arrow)."""
    lib = type(values).__module__.split(".")[0]
    if lib in ("pandas", "polars", "pyarrow") and not np.isscalar(values):
        return numbers(values, name, "value")
    out = np.ascontiguousarray(np.asarray(values, dtype=np.float64))
    if out.ndim == 0:
        out = out.reshape(1)
    if out.ndim != 1:
        raise ValidationError(f"`{name}`: expected a 1-d array, got shape {out.shape}")
    return out


def instant_micros(value: Any, name: str, column_tz: Optional[str], column: str) -> int:
    """µs since the epoch (UTC) of ``value`` (str, date, datetime, pandas Timestamp,
    numpy datetime64). A naive datetime against a timezone-aware column, or an aware one
    against a naive column, is an error naming both."""
    aware_column = column_tz is not None
    if isinstance(value, np.datetime64):
        value = value.astype("datetime64[us]").astype(_dt.datetime)
        if isinstance(value, _dt.datetime):
            value = value.replace(tzinfo=_dt.timezone.utc) if aware_column else value
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        try:
            parsed: Any = _dt.datetime.fromisoformat(text)
        except ValueError:
            try:
                parsed = _dt.datetime.strptime(text, "%Y%m%d")
            except ValueError:
                raise ValidationError(
                    f"{name}: {value!r} is not an ISO 8601 date or date-time"
                ) from None
        if parsed.tzinfo is None and aware_column:
            # A date (or wall time) without an offset for an aware column: in UTC.
            parsed = parsed.replace(tzinfo=_dt.timezone.utc)
        value = parsed
    if isinstance(value, _dt.datetime):
        naive = value.tzinfo is None or value.utcoffset() is None
        if naive and aware_column:
            raise ValidationError(
                f"{name}: naive datetime {value} but column `{column}` is timezone-aware "
                f"({column_tz}); give {name} a time zone"
            )
        if not naive and not aware_column:
            raise ValidationError(
                f"{name}: timezone-aware datetime {value} but column `{column}` holds naive "
                f"timestamps; pass a naive {name} or localize the column"
            )
        if naive:
            value = value.replace(tzinfo=_dt.timezone.utc)
        delta = value - _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if isinstance(value, _dt.date):
        return (value - _dt.date(1970, 1, 1)).days * 86_400_000_000
    raise ValidationError(
        f"{name}: expected a date, a datetime or an ISO 8601 string, got {type(value).__name__}"
    )


def to_micros(ticks: np.ndarray, unit: str) -> np.ndarray:
    """int64 ticks in ``unit`` as µs (floor)."""
    factor = {"ns": None, "us": 1, "ms": 1000, "s": 1_000_000, "D": 86_400_000_000}[unit]
    if factor is None:
        return np.floor_divide(ticks, 1000)
    return ticks * factor


def max_micros(ticks: np.ndarray, unit: str) -> int:
    """The latest tick as µs."""
    return int(to_micros(np.asarray([ticks.max()]), unit)[0])


def make_frame(lib: str, data: Dict[str, Any], index: Optional[str] = None) -> Any:
    """A frame of library ``lib`` from columns; with pandas, ``index`` names the column used as
    the index (lifetimes' layout)."""
    if lib == "pandas":
        import pandas as pd

        if index is not None:
            idx = pd.Index(data[index], name=index)
            rest = {k: v for k, v in data.items() if k != index}
            return pd.DataFrame(rest, index=idx)
        return pd.DataFrame(data)
    if lib == "polars":
        import polars as pl

        return pl.DataFrame(data)
    import pyarrow as pa

    return pa.table(data)


def wrap_like(template: Any, values: np.ndarray, name: Optional[str] = None) -> Any:
    """``values`` as a series of ``template``'s library (keeping a pandas index), or as is."""
    lib = type(template).__module__.split(".")[0]
    if lib == "pandas" and hasattr(template, "index"):
        import pandas as pd

        return pd.Series(values, index=template.index, name=name)
    if lib == "polars":
        import polars as pl

        return pl.Series(name or "", values)
    return values


def to_arrow(frame: Any) -> Any:
    """A pyarrow Table of a pandas DataFrame (for the CRM imports, which read Arrow)."""
    lib = library(frame)
    if lib != "pandas":
        return frame
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover - depends on the environment
        raise ValidationError(
            "importing a pandas DataFrame needs pyarrow (pip install 'crmkit[pandas]')"
        ) from None
    return pa.Table.from_pandas(frame, preserve_index=False)


def select(frame: Any, names: Sequence[str]) -> Any:
    """The frame restricted to ``names`` (each must exist)."""
    for n in names:
        column(frame, n)
    lib = library(frame)
    if lib == "pyarrow":
        return frame.select(list(names))
    return frame[list(names)]

"""Batches: turn uploaded CSV text, or rows of values, into a feature matrix and target vector, or say what is wrong.

A batch is UTF-8 text (a byte-order mark is allowed) whose first line names the columns:
every feature of the dataset and its target, in any order; other columns are ignored (their
cells are not read, though every row must have as many cells as the header).  Each further
non-blank line is one row, and its cells in the dataset's columns are finite decimal numbers
of magnitude at most ``MAX_ABS_VALUE``.  The fast path hands the
body to numpy's C reader; when that fails, or a value is not finite, a careful pass
finds the first offending cell and reports it by file, row, line and column.

Rows of values (``parse_rows``, e.g. a JSON body's ``[{column: number}, ...]``) are checked
value by value, and a problem is reported by source, row and column.

Why ``MAX_ABS_VALUE`` is 1e75: the models are trained from sums of squares and products of
the values (``moments``), and descent multiplies those by weights and gradients.  At
|value| <= 1e75 a square is at most 1e150, so the sums stay finite for any number of rows
(float64 reaches 1.8e308) with 1e150 of headroom for those products; every mode then trains,
standardized or not.  A value beyond it would overflow them and no later batch could train,
so such a batch is refused whole.
"""
from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Mapping, Sequence

import numpy as np

#: A decimal number as people write them: sign, digits, optional point, optional exponent.
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
#: Largest magnitude a value may have (see the module docstring).
MAX_ABS_VALUE = 1e75


def _too_large(text: str) -> str:
    """The problem with a value beyond ``MAX_ABS_VALUE`` (``text`` as written, shortened when long)."""
    shown = text if len(text) <= 40 else f"{float(text):.6g}"
    return (f"{shown} is beyond the limit of ±{MAX_ABS_VALUE:g} (larger values overflow the model's "
            "sums of squares)")


class BatchError(ValueError):
    """A batch that cannot be accepted; the message names its source and, where known, row and column.

    ``row`` is the 1-based data row (None for the header or the whole batch), ``line`` the
    line of a CSV file it is on, ``column`` the column's name, ``problem`` what is wrong.
    """

    def __init__(self, source: str, problem: str, *, row: int | None, line: int | None, column: str | None) -> None:
        where = [source]
        if line == 1:
            where.append("header")
        elif row is not None:
            where.append(f"row {row}" if line is None else f"row {row} (line {line})")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {problem}")
        self.source, self.problem, self.row, self.line, self.column = source, problem, row, line, column


class CsvError(BatchError):
    """A problem in CSV text, at a line (1 is the header; data row n is on line n + 1)."""

    def __init__(self, source: str, problem: str, *, line: int | None = None, column: str | None = None) -> None:
        row = line - 1 if line is not None and line > 1 else None
        super().__init__(source, problem, row=row, line=line, column=column)


class RowsError(BatchError):
    """A problem in rows of values (a JSON body), at a row: they have no lines."""

    def __init__(self, source: str, problem: str, *, row: int | None = None, column: str | None = None) -> None:
        super().__init__(source, problem, row=row, line=None, column=column)


def _decode(content: str | bytes, source: str) -> str:
    """Decode bytes as UTF-8 (dropping a byte-order mark), naming the line of the first bad byte."""
    if isinstance(content, str):
        return content[1:] if content.startswith("\ufeff") else content
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content.count(b"\n", 0, exc.start) + 1
        raise CsvError(
            source,
            f"not UTF-8 text: byte 0x{content[exc.start]:02x} at offset {exc.start} cannot be decoded "
            "(save the file as UTF-8)",
            line=line,
        ) from None


def _header(text: str, source: str, features: Sequence[str], target: str) -> tuple[list[str], str]:
    """Check the header line; return the column names in file order and the body after it.

    Columns the dataset does not have are ignored, but named when a needed one is missing
    (a misspelt name is the usual reason).
    """
    first, _, body = text.partition("\n")
    if not first.strip():
        expected = ", ".join([*features, target])
        problem = "empty file: expected" if not text.strip() else "the first line is blank: it must be"
        raise CsvError(source, f"{problem} a header line naming the columns {expected}", line=1)
    names = [name.strip() for name in next(csv.reader([first.rstrip("\r")]))]
    seen: set[str] = set()
    for name in names:
        if not name:
            raise CsvError(source, "a column has an empty name", line=1)
        if name in seen:
            raise CsvError(source, f"column {name!r} appears twice", line=1)
        seen.add(name)
    wanted = [*features, target]
    missing = [name for name in wanted if name not in seen]
    unknown = [name for name in names if name not in wanted]
    if missing:
        parts = ["missing column(s) " + ", ".join(map(repr, missing))]
        if unknown:
            parts.append("unknown column(s) " + ", ".join(map(repr, unknown)))
        raise CsvError(source, "; ".join(parts) + f" (expected {', '.join(map(repr, wanted))})", line=1)
    return names, body


def _first_bad_cell(body: str, source: str, names: list[str], used: set[str]) -> CsvError | None:
    """Walk the body cell by cell and describe the first ragged row or bad value in a ``used`` column."""
    width = len(names)
    for offset, raw in enumerate(body.split("\n")):
        line = offset + 2
        row = raw.rstrip("\r")
        if not row.strip():
            continue
        cells = row.split(",")
        if len(cells) != width:
            return CsvError(source, f"has {len(cells)} values, the header has {width} columns", line=line)
        for name, cell in zip(names, cells):
            if name not in used:
                continue
            text = cell.strip()
            if not text:
                return CsvError(source, "empty value", line=line, column=name)
            if not _NUMBER.fullmatch(text):
                return CsvError(source, f"{text[:40]!r} is not a number", line=line, column=name)
            if not math.isfinite(float(text)):
                return CsvError(source, f"{text[:40]!r} overflows a 64-bit float", line=line, column=name)
            if abs(float(text)) > MAX_ABS_VALUE:
                return CsvError(source, _too_large(text), line=line, column=name)
    return None


def _bad_cell(bad: np.ndarray, body: str, source: str, names: list[str], positions: list[int]) -> CsvError:
    """Name the first value the fast reader accepted that is not finite or over the limit (``bad`` marks them).

    ``bad`` has the shape of the data the reader returned: its ``positions`` columns.
    """
    bad_row, bad_col = (int(i) for i in np.argwhere(bad)[0])
    numbered = [(offset + 2, raw) for offset, raw in enumerate(body.split("\n")) if raw.strip()]
    line, raw = numbered[bad_row]
    position = positions[bad_col]
    value = raw.rstrip("\r").split(",")[position].strip()
    problem = _too_large(value) if math.isfinite(float(value)) else f"{value[:40]!r} is not a finite number"
    return CsvError(source, problem, line=line, column=names[position])


def parse_batch(
    content: str | bytes, features: Sequence[str], target: str, source: str = "batch.csv"
) -> tuple[np.ndarray, np.ndarray]:
    """Parse a CSV batch into ``(X, y)``: X is rows x features (in the dataset's order), y the target."""
    text = _decode(content, source)
    names, body = _header(text, source, features, target)
    if not body.strip():
        raise CsvError(source, "no data rows after the header")
    wanted = {*features, target}
    positions = [i for i, name in enumerate(names) if name in wanted]
    try:
        data = np.loadtxt(
            io.StringIO(body), delimiter=",", dtype=np.float64, ndmin=2, comments=None, usecols=positions
        )
    except ValueError:
        data = None
    # The reader skips cells past the used columns, so count commas for rows of the wrong width.
    if data is None or body.count(",") != data.shape[0] * (len(names) - 1):
        problem = _first_bad_cell(body, source, names, wanted)
        if problem is None:  # the careful pass accepts what the C reader refused: trust neither
            raise CsvError(source, "could not be read as comma-separated numbers")
        raise problem
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(data) <= MAX_ABS_VALUE)  # NaN compares false: bad too
    if bad.any():
        raise _bad_cell(bad, body, source, names, positions)
    index = {names[position]: i for i, position in enumerate(positions)}
    X = np.ascontiguousarray(data[:, [index[name] for name in features]])
    y = np.ascontiguousarray(data[:, index[target]])
    return X, y


def _row_value(row: Mapping[str, object], number: int, column: str, source: str) -> float:
    """Row ``number``'s value in ``column`` as a finite float, or the RowsError saying why not."""
    if column not in row:
        raise RowsError(source, "missing value", row=number, column=column)
    value = row[column]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RowsError(source, f"{str(value)[:40]!r} is not a number", row=number, column=column)
    try:
        number_value = float(value)
    except OverflowError:  # an integer beyond the float range
        number_value = math.inf
    if not math.isfinite(number_value):
        raise RowsError(source, f"{str(value)[:40]!r} is not a finite 64-bit float", row=number, column=column)
    if abs(number_value) > MAX_ABS_VALUE:
        raise RowsError(source, _too_large(str(value)), row=number, column=column)
    return number_value


def parse_rows(
    rows: Sequence[object], features: Sequence[str], target: str, source: str = "rows.json"
) -> tuple[np.ndarray, np.ndarray]:
    """Check rows of values, each a mapping {column: number} (other keys ignored); ``(X, y)`` as ``parse_batch``."""
    if not rows:
        raise RowsError(source, "no rows")
    columns = [*features, target]
    data = np.empty((len(rows), len(columns)), dtype=np.float64)
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping):
            raise RowsError(source, "each row must be an object {column: number}", row=number)
        data[number - 1] = [_row_value(row, number, column, source) for column in columns]
    return np.ascontiguousarray(data[:, : len(features)]), np.ascontiguousarray(data[:, len(features)])

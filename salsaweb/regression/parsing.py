"""Batches: turn uploaded CSV text, or rows of values, into a feature matrix and target vector, or say what is wrong.

A batch is UTF-8 text (a byte-order mark is allowed) in the CSV of RFC 4180: lines end in
LF, CRLF or CR, and a value in double quotes may hold commas, quotes (doubled) and line
ends.  The first record names the columns: every feature of the dataset and its target, in
any order; other columns are ignored (their cells are not converted, though every row must
have as many cells as the header).  Each further non-blank record is one row, and its cells
in the dataset's columns are finite decimal numbers of magnitude at most ``MAX_ABS_VALUE``
(spaces and tabs around them allowed).  The header is read here; the body goes to pyarrow's
CSV reader (C++, columnar).  When it refuses the body, or a value is not finite or over the
limit, a careful pass walks the records and reports the first offending one by file, row,
line and column; nothing of the fast path's error is needed, and no field length is limited.

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

import math
import re
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

#: A decimal number as people write them: sign, digits, optional point, optional exponent.
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
#: The words for NaN and infinity that the fast reader converts (case-insensitive, optional sign).
_NOT_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)
#: What the fast reader trims around a number, and what a blank record is made of.
_PADDING = " \t"
_BLANK = b" \t\r\n\x0b\x0c"
#: A line end: LF, CRLF or CR.
_LINE_END = re.compile(rb"\r\n|\r|\n")
#: A cell that opens with a quote: the quoted text (quotes doubled inside), then anything up to the next comma.
_QUOTED = re.compile(rb'"([^"]*(?:""[^"]*)*)"([^,\r\n]*)')
#: A cell without an opening quote.
_PLAIN = re.compile(rb"[^,\r\n]*")
#: Largest magnitude a value may have (see the module docstring).
MAX_ABS_VALUE = 1e75
#: The fast reader's block: big enough to amortise, small enough to stay in cache (one longer record
#: makes it read the body again as one block).
_BLOCK_BYTES = 1 << 20


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
    """A problem in CSV text, at a line (1 is the header) and its row (the record's number after the header,
    blank records counted; ``line - 1`` unless a quoted value spans lines)."""

    def __init__(self, source: str, problem: str, *, line: int | None = None, column: str | None = None,
                 row: int | None = None) -> None:
        if row is None and line is not None and line > 1:
            row = line - 1
        super().__init__(source, problem, row=row, line=line, column=column)


class RowsError(BatchError):
    """A problem in rows of values (a JSON body), at a row: they have no lines."""

    def __init__(self, source: str, problem: str, *, row: int | None = None, column: str | None = None) -> None:
        super().__init__(source, problem, row=row, line=None, column=column)


def _line_ends(data: bytes, start: int = 0, stop: int | None = None) -> int:
    """How many line ends (LF, CRLF or CR) ``data[start:stop]`` holds."""
    return data.count(b"\n", start, stop) + data.count(b"\r", start, stop) - data.count(b"\r\n", start, stop)


def _utf8(content: str | bytes, source: str) -> tuple[bytes, int]:
    """The batch as UTF-8 bytes and the offset after its byte-order mark, naming the line of a bad byte."""
    if isinstance(content, str):
        try:
            content = content.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate: no text a file could hold
            line = content.count("\n", 0, exc.start) + content.count("\r", 0, exc.start) \
                - content.count("\r\n", 0, exc.start) + 1
            raise CsvError(source, f"not UTF-8 text: character U+{ord(content[exc.start]):04X} at offset "
                           f"{exc.start} cannot be encoded", line=line) from None
    if not content.isascii():  # ASCII is UTF-8; only other text needs the (slower) check
        try:
            content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CsvError(
                source,
                f"not UTF-8 text: byte 0x{content[exc.start]:02x} at offset {exc.start} cannot be decoded "
                "(save the file as UTF-8)",
                line=_line_ends(content, 0, exc.start) + 1,
            ) from None
    return content, 3 if content.startswith(b"\xef\xbb\xbf") else 0


def _record(data: bytes, pos: int, source: str, line: int, row: int | None = None) -> tuple[list[bytes], int]:
    """The cells of the record at offset ``pos`` (on ``line``, data row ``row``; quotes as RFC 4180) and the
    offset after its line end."""
    cells = []
    while True:
        if data.startswith(b'"', pos):
            match = _QUOTED.match(data, pos)
            if match is None:
                raise CsvError(source, "a quoted value is never closed (a '\"' without its closing '\"')",
                               line=line, row=row)
            cells.append(match[1].replace(b'""', b'"') + match[2])
        else:
            match = _PLAIN.match(data, pos)
            cells.append(match[0])
        pos = match.end()
        if not data.startswith(b",", pos):
            break
        pos += 1
    end = _LINE_END.match(data, pos)
    return cells, end.end() if end else len(data)


def _header(data: bytes, start: int, source: str, features: Sequence[str], target: str) -> tuple[list[str], int, int]:
    """Check the header record; return the column names in file order, the body's offset and its first line.

    Columns the dataset does not have are ignored, but named when a needed one is missing
    (a misspelt name is the usual reason).
    """
    cells, body = _record(data, start, source, 1)
    if len(cells) == 1 and not cells[0].strip(_BLANK):
        expected = ", ".join([*features, target])
        problem = "empty file: expected" if not data[start:].strip(_BLANK) else "the first line is blank: it must be"
        raise CsvError(source, f"{problem} a header line naming the columns {expected}", line=1)
    names = [cell.decode("utf-8").strip() for cell in cells]
    seen: set[str] = set()
    for name in names:
        if not name:
            raise CsvError(source, "a column has an empty name", line=1)
        if name in seen:
            raise CsvError(source, f"column {name[:200]!r} appears twice", line=1)
        seen.add(name)
    wanted = [*features, target]
    missing = [name for name in wanted if name not in seen]
    unknown = [name[:200] for name in names if name not in wanted]
    if missing:
        parts = ["missing column(s) " + ", ".join(map(repr, missing))]
        if unknown:
            parts.append("unknown column(s) " + ", ".join(map(repr, unknown)))
        raise CsvError(source, "; ".join(parts) + f" (expected {', '.join(map(repr, wanted))})", line=1)
    return names, body, 1 + _line_ends(data, start, body)


def _records(data: bytes, pos: int, line: int, source: str) -> Iterator[tuple[int, int, list[bytes] | None]]:
    """Each record of the body from offset ``pos`` (on ``line``): its row, first line and cells (None if blank)."""
    row = 0
    while pos < len(data):
        row += 1
        end = _LINE_END.search(data, pos)
        stop = end.start() if end else len(data)
        if data.find(b'"', pos, stop) < 0:  # the usual record: one line, no quotes
            text = data[pos:stop]
            yield row, line, text.split(b",") if text.strip(_BLANK) else None
            pos, line = end.end() if end else len(data), line + 1
        else:
            cells, after = _record(data, pos, source, line, row)
            yield row, line, cells
            pos, line = after, line + _line_ends(data, pos, after)


def _cell_problem(cell: bytes) -> str | None:
    """What is wrong with a cell of a used column, or None for a number within the limit."""
    text = cell.decode("utf-8").strip(_PADDING)
    if not text:
        return "empty value"
    if _NOT_FINITE.fullmatch(text):
        return f"{text[:40]!r} is not a finite number"
    if not _NUMBER.fullmatch(text):
        return f"{text[:40]!r} is not a number"
    value = float(text)
    if not math.isfinite(value):
        return f"{text[:40]!r} is not a finite number"
    if abs(value) > MAX_ABS_VALUE:
        return _too_large(text)
    return None


def _first_problem(data: bytes, body: int, line: int, source: str, names: list[str], used: set[str],
                   trusted: int = 0) -> CsvError | None:
    """Walk the body record by record and describe the first ragged record or bad value in a ``used`` column.

    The first ``trusted`` non-blank records are not checked (the fast reader converted them to values
    within the limit), so finding the record of a bad value costs a walk, not a check of every cell.
    """
    width = len(names)
    for row, at, cells in _records(data, body, line, source):
        if cells is None:
            continue
        if trusted:
            trusted -= 1
            continue
        if len(cells) != width:
            return CsvError(source, f"has {len(cells)} values, the header has {width} columns", line=at, row=row)
        for name, cell in zip(names, cells):
            if name in used:
                problem = _cell_problem(cell)
                if problem is not None:
                    return CsvError(source, problem, line=at, row=row, column=name)
    return None


def _blank_row(row: pa_csv.InvalidRow) -> str:
    """The fast reader's handler of a record whose width differs from the header's: skip it if it is blank."""
    return "skip" if not row.text.strip(_BLANK.decode()) else "error"


def _read_columns(data: bytes, body: int, width: int, positions: list[int], block: int) -> pa.Table | None:
    """The body's ``positions`` columns as float64 columns by the fast reader, or None when it refuses the body.

    Looking for line ends inside quoted values makes it a quarter slower, so it does that only when the
    body has a quote at all.
    """
    names = [f"c{i}" for i in range(width)]
    quoted = data.find(b'"', body) >= 0
    used = [names[i] for i in positions]
    try:
        return pa_csv.read_csv(
            pa.BufferReader(pa.py_buffer(data).slice(body)),
            read_options=pa_csv.ReadOptions(column_names=names, block_size=block),
            parse_options=pa_csv.ParseOptions(newlines_in_values=quoted, invalid_row_handler=_blank_row),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.float64() for name in used}, include_columns=used, null_values=[],
                strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except pa.ArrowInvalid:
        return None


def _first_bad(X: np.ndarray, y: np.ndarray) -> int | None:
    """The first row with a value that is not finite or beyond the limit, or None if there is none."""
    with np.errstate(invalid="ignore"):
        if np.abs(X).max() <= MAX_ABS_VALUE and np.abs(y).max() <= MAX_ABS_VALUE:  # NaN compares false
            return None
        return int(np.argmax(~(np.abs(X) <= MAX_ABS_VALUE).all(axis=1) | ~(np.abs(y) <= MAX_ABS_VALUE)))


def _matrix(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)``: the table's columns but the last side by side in a C-ordered matrix, and the last; one copy."""
    X, y = np.empty((table.num_rows, table.num_columns - 1)), np.empty(table.num_rows)
    for j, column in enumerate(table.columns):
        start = 0
        for chunk in column.chunks:
            values = chunk.to_numpy()
            if j < X.shape[1]:
                X[start:start + len(values), j] = values
            else:
                y[start:start + len(values)] = values
            start += len(values)
    return X, y


def parse_batch(
    content: str | bytes, features: Sequence[str], target: str, source: str = "batch.csv"
) -> tuple[np.ndarray, np.ndarray]:
    """Parse a CSV batch into ``(X, y)``: X is rows x features (in the dataset's order), y the target."""
    data, start = _utf8(content, source)
    names, body, line = _header(data, start, source, features, target)
    if body == len(data):
        raise CsvError(source, "no data rows after the header")
    index = {name: i for i, name in enumerate(names)}
    positions = [index[name] for name in (*features, target)]
    used = {*features, target}
    table = _read_columns(data, body, len(names), positions, _BLOCK_BYTES)
    if table is None and len(data) - body > _BLOCK_BYTES:
        problem = _first_problem(data, body, line, source, names, used)
        if problem is not None:
            raise problem
        # Nothing wrong, so a record is longer than a block: read the body as one block.
        table = _read_columns(data, body, len(names), positions, len(data) - body + 1)
    if table is None:
        raise _first_problem(data, body, line, source, names, used) or CsvError(
            source, "could not be read as comma-separated numbers")
    if table.num_rows == 0:
        raise CsvError(source, "no data rows after the header")
    X, y = _matrix(table)
    bad = _first_bad(X, y)
    if bad is not None:
        raise _first_problem(data, body, line, source, names, used, trusted=bad) or CsvError(
            source, "could not be read as comma-separated numbers")
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

"""CSV batches: accepted forms, and an error naming file, row and column for everything else."""
from __future__ import annotations

import numpy as np
import pytest

from salsaweb.regression.parsing import MAX_ABS_VALUE, CsvError, RowsError, parse_batch, parse_rows

FEATURES = ["a", "b"]


def parse(content: str | bytes):
    return parse_batch(content, FEATURES, "y", source="upload.csv")


def test_columns_in_any_order_become_feature_order_and_target() -> None:
    X, y = parse("y,b,a\n1,2,3\n4,5.5,-6e-1\n")
    np.testing.assert_array_equal(X, [[3, 2], [-0.6, 5.5]])
    np.testing.assert_array_equal(y, [1, 4])
    assert X.flags.c_contiguous and X.dtype == np.float64


@pytest.mark.parametrize(
    "content",
    [
        "\ufeffa,b,y\r\n1,2,3\r\n",  # byte-order mark and CRLF line ends
        "a, b ,y\n 1 , 2,3\n\n",  # spaces around names and values, trailing blank line
        b"a,b,y\n1,2,3",  # bytes, no final newline
        "\ufeffa,b,y\n1,2,3\n".encode("utf-8"),
        "a,b,y\r1,2,3\r",  # CR-only line ends (old Macs, some exports)
        b"a,b,y\r1,2,3",
        "a,b,y\r\r1,2,3\r\n\n",  # blank lines of every line end
        '"a","b","y"\n"1","2","3"\n',  # everything quoted (RFC 4180)
        "a,b,y\n 1\t,\"2\" ,3\n",  # spaces and tabs around values, quoted or not
    ],
)
def test_common_variations_are_accepted(content) -> None:
    X, y = parse(content)
    np.testing.assert_array_equal(X, [[1, 2]])
    np.testing.assert_array_equal(y, [3])


def test_other_columns_are_ignored_unread() -> None:
    X, y = parse("city,b,note,y,a\nOslo,2,n/a,3,1\nRome,5,,6,4\n")
    np.testing.assert_array_equal(X, [[1, 2], [4, 5]])
    np.testing.assert_array_equal(y, [3, 6])


def test_quoted_cells_may_hold_commas_quotes_and_line_ends() -> None:
    X, y = parse('note,a,"b",y\n"Oslo, ""north""",1,2,3\n"two\r\nlines\nhere",4,5,6\n')
    np.testing.assert_array_equal(X, [[1, 2], [4, 5]])
    np.testing.assert_array_equal(y, [3, 6])


@pytest.mark.parametrize("length", [131_073, 2_000_000])
def test_header_and_cells_longer_than_any_field_limit_are_read(length) -> None:
    # The csv module refuses fields over 131,072 characters; a block of the fast reader is 1 MiB.
    long = "n" * length
    X, y = parse(f"a,b,y,{long}\n1,2,3,{long}\n4,5,6,x\n")
    np.testing.assert_array_equal(X, [[1, 2], [4, 5]])
    np.testing.assert_array_equal(y, [3, 6])
    X, y = parse(f"a,b,y\n1,2.{'0' * length}1,3\n")
    assert X.tolist() == [[1, 2]]


def test_a_long_header_name_is_named_shortened_when_columns_are_missing() -> None:
    with pytest.raises(CsvError) as caught:
        parse("a," + "q" * 200_000 + "\n1,2\n")
    assert caught.value.line == 1
    assert caught.value.problem.startswith("missing column(s) 'b', 'y'; unknown column(s) 'qqq")
    assert len(str(caught.value)) < 400


def test_cr_only_lines_are_numbered_in_errors() -> None:
    with pytest.raises(CsvError) as caught:
        parse("a,b,y\r1,2,3\r\r4,x,6\r")
    assert (caught.value.row, caught.value.line, caught.value.column) == (3, 4, "b")


def test_a_quoted_value_spanning_lines_keeps_rows_and_lines_apart() -> None:
    with pytest.raises(CsvError) as caught:
        parse('note,a,b,y\n"one\ntwo",1,2,3\nx,4,5,oops\n')
    assert (caught.value.row, caught.value.line, caught.value.column) == (2, 4, "y")
    assert str(caught.value).startswith("upload.csv, row 2 (line 4), column 'y': 'oops' is not a number")


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        ('a,b,y\n1,"2,3\n', 2, "upload.csv, row 1 (line 2): a quoted value is never closed"),
        ('a,"b,y\n1,2,3\n', 1, "upload.csv, header: a quoted value is never closed"),
        ("a,b,y\n1,2,3\n\x0b1,2,3\n", 3, "upload.csv, row 2 (line 3), column 'a': '\\x0b1' is not a number"),
        ("a,b,y\n1,2,Infinity\n", 2, "upload.csv, row 1 (line 2), column 'y': 'Infinity' is not a finite number"),
        ("a,b,y\n1,2,3\n\r\n  ,,\n", 4, "upload.csv, row 3 (line 4), column 'a': empty value"),
        ("a;b;y\n1;2;3\n", 1, "upload.csv, header: missing column(s) 'a', 'b', 'y'; unknown column(s) 'a;b;y'"),
        ("a,b,y\n1,2,\ud800\n", 2, "upload.csv, row 1 (line 2): not UTF-8 text: character U+D800 at offset 10"),
    ],
)
def test_malformed_csv_is_refused_naming_line_and_problem(content, line, message) -> None:
    with pytest.raises(CsvError) as caught:
        parse(content)
    assert caught.value.line == line
    assert str(caught.value).startswith(message)


def test_a_batch_of_several_reader_blocks_matches_the_values_written() -> None:
    # 15,000 rows of 4 values: over 1 MiB, so the fast reader reads it in more than one block.
    values = np.random.default_rng(1).standard_normal((15_000, 4)) * 1e3
    text = "id,a,b,y\n" + "\n".join(",".join(repr(float(v)) for v in row) for row in values) + "\n"
    X, y = parse(text.encode())
    np.testing.assert_array_equal(X, values[:, 1:3])
    np.testing.assert_array_equal(y, values[:, 3])
    with pytest.raises(CsvError) as caught:
        parse(text.encode() + b"1,2,3,1e80\n")
    assert (caught.value.row, caught.value.column) == (15_001, "y")


def test_one_row_is_a_batch() -> None:
    X, y = parse("a,b,y\n1,2,3\n")
    assert X.shape == (1, 2) and y.shape == (1,)


def test_exact_values_round_trip() -> None:
    values = np.random.default_rng(0).standard_normal((5, 3))
    text = "a,b,y\n" + "\n".join(",".join(repr(float(v)) for v in row) for row in values)
    X, y = parse(text)
    np.testing.assert_array_equal(np.column_stack([X, y]), values)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "upload.csv, header: empty file: expected a header line naming the columns a, b, y"),
        ("\n1,2,3\n", "upload.csv, header: the first line is blank: it must be a header line naming"),
        ("a,b,y\n", "upload.csv: no data rows after the header"),
        ("a,b,y\n\n  \n", "upload.csv: no data rows after the header"),
        ("a,y\n1,2\n", "upload.csv, header: missing column(s) 'b' (expected 'a', 'b', 'y')"),
        ("A,b,y\n1,2,3\n", "upload.csv, header: missing column(s) 'a'; unknown column(s) 'A'"),
        ("a,b,c,y\n1,2,3,4\n5,6,7\n", "upload.csv, row 2 (line 3): has 3 values, the header has 4 columns"),
        ("a,b,c,y\n1,2,3,4\n5,6,7,8,9\n", "upload.csv, row 2 (line 3): has 5 values, the header has 4 columns"),
        ("id,a,b,y\n1,2,3,nan\n", "upload.csv, row 1 (line 2), column 'y': 'nan' is not a finite number"),
        ("a,b\n1,2\n", "missing column(s) 'y'"),
        ("a,a,b,y\n1,1,2,3\n", "upload.csv, header: column 'a' appears twice"),
        ("a,,b,y\n1,1,2,3\n", "upload.csv, header: a column has an empty name"),
        ("a,b,y\n1,2,3\n4,x5,6\n", "upload.csv, row 2 (line 3), column 'b': 'x5' is not a number"),
        ("a,b,y\n1,2,3\n4,,6\n", "upload.csv, row 2 (line 3), column 'b': empty value"),
        ("a,b,y\n1,2,3\n4,5\n", "upload.csv, row 2 (line 3): has 2 values, the header has 3 columns"),
        ("a,b,y\n1,2,3,4\n", "upload.csv, row 1 (line 2): has 4 values, the header has 3 columns"),
        ("a,b,y\n1,2,3\n4,nan,6\n", "upload.csv, row 2 (line 3), column 'b': 'nan' is not a finite number"),
        ("a,b,y\n1,2,3\n\n4,5,-inf\n", "upload.csv, row 3 (line 4), column 'y': '-inf' is not a finite number"),
        ("a,b,y\n1,2,1e999\n", "upload.csv, row 1 (line 2), column 'y': '1e999' is not a finite number"),
        ("a,b,y\n1,2,3\n1_000,2,3\n", "upload.csv, row 2 (line 3), column 'a': '1_000' is not a number"),
        (b"a,b,y\n1,2,3\n\xe9,1,2\n", "upload.csv, row 2 (line 3): not UTF-8 text: byte 0xe9 at offset 12"),
    ],
)
def test_errors_name_file_row_and_column(content, message) -> None:
    with pytest.raises(CsvError) as caught:
        parse(content)
    assert message in str(caught.value)


def test_error_carries_its_location() -> None:
    with pytest.raises(CsvError) as caught:
        parse("a,b,y\n1,2,3\n4,oops,6\n")
    assert (caught.value.source, caught.value.line, caught.value.column) == ("upload.csv", 3, "b")
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("content", "line", "column", "shown"),
    [
        ("a,b,y\n1,2,3\n4,1e200,6\n", 3, "b", "1e200"),  # the fast reader's path
        ("a,b,y\n1,2,-2e75\n", 2, "y", "-2e75"),
        ("a,b,y\n1,1e200,3\n4,x,6\n", 2, "b", "1e200"),  # the careful pass: the first problem in file order
        ("a,b,y\n1," + "9" * 80 + ",3\n", 2, "b", "1e+80"),  # a long value is shown shortened
    ],
)
def test_values_beyond_the_limit_are_refused_naming_row_column_and_value(content, line, column, shown) -> None:
    with pytest.raises(CsvError) as error:
        parse(content)
    problem = error.value
    assert (problem.source, problem.line, problem.row, problem.column) == ("upload.csv", line, line - 1, column)
    assert problem.problem == f"{shown} is beyond the limit of ±1e+75 (larger values overflow the model's sums of squares)"


def test_values_at_the_limit_are_accepted() -> None:
    X, y = parse("a,b,y\n1e75,-1e75,0\n")
    assert X.tolist() == [[1e75, -1e75]] and MAX_ABS_VALUE == 1e75


def test_json_rows_beyond_the_limit_are_refused() -> None:
    with pytest.raises(RowsError) as error:
        parse_rows([{"a": 1, "b": 2, "y": 3}, {"a": 1e200, "b": 2, "y": 3}], FEATURES, "y")
    assert (error.value.row, error.value.column) == (2, "a")
    assert error.value.problem.startswith("1e+200 is beyond the limit")
    with pytest.raises(RowsError, match=r"1e\+100 is beyond"):
        parse_rows([{"a": 10**100, "b": 2, "y": 3}], FEATURES, "y")

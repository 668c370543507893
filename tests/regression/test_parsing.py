"""CSV batches: accepted forms, and an error naming file, row and column for everything else."""
from __future__ import annotations

import numpy as np
import pytest

from salsaweb.regression.parsing import CsvError, parse_batch

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
        ("a,b,y\n\"1\",2,3\n", "upload.csv, row 1 (line 2), column 'a': '\"1\"' is not a number"),
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

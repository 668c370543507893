"""The value-equality rule behind early cutoff, and immutability of stored arrays (spec: semantics 3, "Also").

The rule (runtime/values.py): same type, same structure, same bits, except that every NaN
equals every NaN; so -0.0 != 0.0 and 1 != 1.0 != True.  It is observed through the public
API: setting an input to an equal value returns False and starts no revision.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from runtime import declare_input, derived
from tests.execution_log import assert_log, log


@declare_input
def value(rt):
    """Any value."""


@declare_input
def matrix(rt) -> np.ndarray:
    """An array input."""


@derived
def tally(rt) -> dict:
    log.add("tally")
    return {word: len(word) for word in value(rt)}


@derived
def first_word(rt) -> str:
    log.add("first_word")
    return next(iter(tally(rt)))


@derived
def scaled(rt) -> np.ndarray:
    log.add("scaled")
    return matrix(rt) * 2


@derived
def bundle(rt) -> dict:
    log.add("bundle")
    m = matrix(rt)
    return {"rows": [m[0] + 0], "pair": (m.T.copy(), m.sum(axis=0))}


def _nan_with_payload() -> float:
    """A NaN whose bits differ from ``float('nan')``."""
    return float(np.frombuffer(np.array([0x7FF8000000000123], dtype=np.uint64).tobytes(), dtype=np.float64)[0])


EQUAL = {
    "same float": (1.5, 1.5),
    "nan and nan": (math.nan, float("nan")),
    "nans with different bits": (math.nan, _nan_with_payload()),
    "negative nan": (math.nan, -math.nan),
    "zero and zero": (0.0, 0.0),
    "equal arrays": (np.arange(6.0).reshape(2, 3), np.arange(6.0).reshape(2, 3)),
    "arrays with nan": (np.array([1.0, np.nan]), np.array([1.0, np.nan])),
    "complex arrays": (np.array([1 + 2j, np.nan]), np.array([1 + 2j, np.nan])),
    "numpy scalars with nan": (np.float32("nan"), np.float32("nan")),
    "tuple of arrays": ((np.ones(2), "x"), (np.ones(2), "x")),
    "list of arrays": ([np.zeros(3), 1], [np.zeros(3), 1]),
    "dict of arrays": ({"w": np.eye(2), "b": 0.5}, {"w": np.eye(2), "b": 0.5}),
    "nested nan": ({"k": [(math.nan,)]}, {"k": [(math.nan,)]}),
    "strings": ("abc", "abc"),
    "none": (None, None),
}

DIFFERENT = {
    "signed zeros": (0.0, -0.0),
    "int and float": (1, 1.0),
    "int and bool": (1, True),
    "float and bool": (1.0, True),
    "array dtype": (np.array([1, 2]), np.array([1.0, 2.0])),
    "array shape": (np.arange(4.0), np.arange(4.0).reshape(2, 2)),
    "array contents": (np.array([1.0, 2.0]), np.array([1.0, 2.5])),
    "array signed zero": (np.array([0.0]), np.array([-0.0])),
    "array nan vs number": (np.array([np.nan]), np.array([0.0])),
    "float32 vs float64": (np.float32(1.0), np.float64(1.0)),
    "list vs tuple": ([1], (1,)),
    "tuple length": ((1, 2), (1, 2, 3)),
    "dict value type": ({"a": 1}, {"a": 1.0}),
    "dict keys": ({"a": 1}, {"b": 1}),
    "nested signed zero": ({"k": [(0.0,)]}, {"k": [(-0.0,)]}),
    "array inside tuple": ((np.ones(2),), (np.zeros(2),)),
    "none and zero": (None, 0),
    "dict key int and float": ({1: "a"}, {1.0: "a"}),
    "dict key int and bool": ({1: "a"}, {True: "a"}),
    "dict key signed zeros": ({0.0: "a"}, {-0.0: "a"}),
    "dict order": ({"a": 1, "b": 2}, {"b": 2, "a": 1}),
}


@pytest.mark.parametrize("first, second", EQUAL.values(), ids=EQUAL.keys())
def test_equal_value_set_does_not_bump_revision(rt, first, second):
    value.set(rt, first)
    before = rt.revision
    assert value.set(rt, second) is False
    assert rt.revision == before


@pytest.mark.parametrize("first, second", DIFFERENT.values(), ids=DIFFERENT.keys())
def test_different_value_set_bumps_revision(rt, first, second):
    value.set(rt, first)
    before = rt.revision
    assert value.set(rt, second) is True
    assert rt.revision == before + 1
    assert value.set(rt, first) is True
    assert rt.revision == before + 2


def test_reordered_dict_result_is_a_change_for_dependents(rt):
    value.set(rt, ("ab", "cd"))
    assert first_word(rt) == "ab"
    value.set(rt, ("cd", "ab"))
    assert first_word(rt) == "cd"
    assert_log(["first_word", "tally", "tally", "first_word"])


def test_input_array_is_copied_on_set(rt):
    original = np.array([1.0, 2.0])
    matrix.set(rt, original)
    original[0] = 99.0
    assert matrix(rt)[0] == 1.0
    assert matrix.set(rt, original) is True


def test_input_arrays_inside_containers_are_copied_on_set(rt):
    inner = np.array([1.0])
    value.set(rt, {"w": [inner]})
    inner[0] = 5.0
    assert value(rt)["w"][0][0] == 1.0


def test_input_array_read_back_is_read_only(rt):
    matrix.set(rt, np.ones((2, 2)))
    with pytest.raises(ValueError, match="read-only"):
        matrix(rt)[0, 0] = 3.0


def test_array_returned_by_derived_function_is_read_only(rt):
    matrix.set(rt, np.ones((2, 2)))
    result = scaled(rt)
    with pytest.raises(ValueError, match="read-only"):
        result[0, 0] = 3.0
    assert scaled(rt)[0, 0] == 2.0
    assert_log(["scaled"])


def test_arrays_nested_in_a_derived_result_are_read_only(rt):
    matrix.set(rt, np.arange(4.0).reshape(2, 2))
    result = bundle(rt)
    for array in (result["rows"][0], result["pair"][0], result["pair"][1]):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = -1.0

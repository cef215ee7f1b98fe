"""Values crossing the sandbox boundary: exact types only, strict comparison."""

import math

import pytest

from sandboxes.values import UnserializableValue, decode, encode, strictly_equal


@pytest.mark.parametrize("value", [0, -5, 2**100, 1.5, float("inf"), 1 + 2j, "é", b"\x00\xff", True, None,
                                   [1, [2, (3,)]], (1, "a"), {1: [2]}, {3, 1}, frozenset({"x"}), {"k": {"n": None}}])
def test_round_trip(value):
    assert strictly_equal(decode(encode(value)), value)


def test_nan_round_trip():
    assert math.isnan(decode(encode(float("nan"))))


def test_subclasses_and_objects_cannot_cross():
    class Int(int):
        pass

    class Always:
        def __eq__(self, other):
            return True

    for value in (Int(3), Always(), [1, Always()], {"k": Int(1)}, object(), lambda: 1):
        with pytest.raises(UnserializableValue):
            encode(value)


def test_strict_equality():
    assert not strictly_equal(True, 1) and not strictly_equal(1, 1.0) and not strictly_equal((1,), [1])
    assert strictly_equal(0.1 + 0.2, 0.3) and not strictly_equal(0.3001, 0.3)
    assert not strictly_equal({"a": 1}, {"a": 1, "b": 2})


def test_size_caps():
    nested = []
    for _ in range(100):
        nested = [nested]
    with pytest.raises(UnserializableValue):
        encode(nested)

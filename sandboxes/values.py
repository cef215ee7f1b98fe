"""Values that cross the sandbox boundary: exact builtin types only, compared type-strictly.

The sandboxed program returns values; they are serialised inside the sandbox and rebuilt as
plain builtins outside. Anything that is not *exactly* int, float, complex, str, bytes, bool,
None, list, tuple, dict, set or frozenset (an int subclass, an object whose __eq__ always returns
True, a custom class) cannot be serialised, so it can never be compared as a pass.
"""

from __future__ import annotations

import math
from typing import Any

MAX_DEPTH = 64
MAX_ITEMS = 1_000_000


class UnserializableValue(TypeError):
    """A value of a type that may not cross the sandbox boundary."""


def encode(value: Any, depth: int = 0, budget: list[int] | None = None) -> Any:
    """JSON-ready tagged tree of `value`; exact builtin types only (runs inside the sandbox)."""
    budget = budget if budget is not None else [MAX_ITEMS]
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_DEPTH:
        raise UnserializableValue("value too large or too deep")
    kind = type(value)
    if value is None or kind is bool or kind is str:
        return value
    if kind is int:
        return {"int": str(value)}
    if kind is float:
        return {"float": repr(value)}
    if kind is complex:
        return {"complex": [repr(value.real), repr(value.imag)]}
    if kind is bytes:
        return {"bytes": value.hex()}
    if kind in (list, tuple, set, frozenset):
        items = [encode(item, depth + 1, budget) for item in value]
        if kind in (set, frozenset):
            items.sort(key=repr)
        return {kind.__name__: items}
    if kind is dict:
        return {"dict": [[encode(k, depth + 1, budget), encode(v, depth + 1, budget)] for k, v in value.items()]}
    raise UnserializableValue(f"a {kind.__module__}.{kind.__qualname__} cannot leave the sandbox; return builtin values")


def decode(tree: Any) -> Any:
    """Rebuild plain builtin values from `encode`'s output (runs outside the sandbox)."""
    if tree is None or isinstance(tree, (bool, str)):
        return tree
    if not isinstance(tree, dict) or len(tree) != 1:
        raise ValueError(f"malformed value from the sandbox: {str(tree)[:80]}")
    (kind, payload), = tree.items()
    if kind == "int":
        return int(payload)
    if kind == "float":
        return float(payload)
    if kind == "complex":
        return complex(float(payload[0]), float(payload[1]))
    if kind == "bytes":
        return bytes.fromhex(payload)
    if kind in ("list", "tuple", "set", "frozenset"):
        items = [decode(item) for item in payload]
        return {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}[kind](items)
    if kind == "dict":
        return {decode(k): decode(v) for k, v in payload}
    raise ValueError(f"unknown value kind {kind!r} from the sandbox")


def strictly_equal(got: Any, expected: Any, *, rel_tol: float = 1e-9, abs_tol: float = 1e-9) -> bool:
    """Equality with exact types at every level (True is not 1, 1.0 is not 1); floats within tolerance."""
    if type(got) is not type(expected):
        return False
    if isinstance(expected, float):
        if math.isnan(expected):
            return math.isnan(got)
        return math.isclose(got, expected, rel_tol=rel_tol, abs_tol=abs_tol)
    if isinstance(expected, complex):
        return strictly_equal(got.real, expected.real, rel_tol=rel_tol, abs_tol=abs_tol) and strictly_equal(
            got.imag, expected.imag, rel_tol=rel_tol, abs_tol=abs_tol)
    if isinstance(expected, (list, tuple)):
        return len(got) == len(expected) and all(
            strictly_equal(g, e, rel_tol=rel_tol, abs_tol=abs_tol) for g, e in zip(got, expected))
    if isinstance(expected, dict):
        return got.keys() == expected.keys() and all(
            strictly_equal(got[k], expected[k], rel_tol=rel_tol, abs_tol=abs_tol) for k in expected)
    return got == expected

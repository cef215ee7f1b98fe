"""Find a verifier by name: built-in, `package.module:attr`, `path/to/file.py:attr`, or an entry point.

Resolution order for a bare name: built-ins first, then installed packages' `grpo.verifiers`
entry points, so a plugin cannot silently replace a built-in.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable

from rewards.base import SHAPES, BatchedVerifier, VerifierError, as_batched, unfillable_parameters

ENTRY_POINT_GROUP = "grpo.verifiers"
BUILTINS: dict[str, Callable[..., Any]] = {}


def register(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a built-in verifier under `name` (used by the modules of this package)."""

    def decorate(target: Callable[..., Any]) -> Callable[..., Any]:
        BUILTINS[name] = target
        return target

    return decorate


def available() -> dict[str, str]:
    """Every verifier a recipe can name without a path, with where it comes from."""
    _load_builtins()
    found = {name: "built-in" for name in BUILTINS}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(point.name, f"entry point {point.value}")
    return found


def resolve(name: str) -> Callable[..., Any]:
    """The object a verifier name refers to (function or class), or a VerifierError saying why not."""
    _load_builtins()
    if ":" in name:
        try:
            return load_attribute(name)
        except (ImportError, FileNotFoundError, AttributeError) as err:
            raise VerifierError(f"verifier {name!r}: {err}") from None
    if name in BUILTINS:
        return BUILTINS[name]
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name == name:
            try:
                return point.load()
            except Exception as err:  # a broken plugin must not look like a missing one
                raise VerifierError(f"verifier {name!r}: entry point {point.value} failed to load: {err}") from err
    raise VerifierError(
        f"unknown verifier {name!r}; built-ins and installed plugins: {sorted(available())}. "
        "Name your own as 'package.module:function' or 'path/to/file.py:function'"
    )


def build(name: str, kwargs: dict[str, Any]) -> BatchedVerifier:
    """Resolve and instantiate: a class gets `kwargs` in its constructor, a function at each call."""
    target = resolve(name)
    if inspect.isclass(target):
        try:
            instance = target(**kwargs)
        except (TypeError, ValueError, RuntimeError) as err:  # IsolationError is a RuntimeError
            raise VerifierError(f"verifier {name!r} with kwargs {kwargs}: {err}") from None
        return as_batched(instance, {})
    if not callable(target):
        raise VerifierError(f"verifier {name!r} is a {type(target).__name__}, not a function or class")
    check_signature(name, target, kwargs)
    return as_batched(target, kwargs)


def check_signature(name: str, target: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    """At recipe load: a function's kwargs exist and its signature is one of the accepted shapes."""
    if inspect.isclass(target) or not callable(target):
        return
    _check_kwargs(name, target, kwargs)
    _check_shape(name, target, kwargs)


def _check_shape(name: str, fn: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    """A function that fits none of the accepted signatures is refused here, with the list, instead
    of failing with a TypeError on every sample."""
    missing = unfillable_parameters(fn, kwargs)
    if missing:
        shapes = "\n  ".join(SHAPES)
        raise VerifierError(
            f"verifier {name!r}: its signature {inspect.signature(fn)} matches none of the accepted shapes "
            f"(parameters {missing} would get no value):\n  {shapes}"
        )


def _check_kwargs(name: str, fn: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    unknown = sorted(set(kwargs) - set(parameters))
    if unknown:
        raise VerifierError(
            f"verifier {name!r} takes no argument(s) {unknown}; its parameters are {list(parameters)[1:]}"
        )


def load_attribute(spec: str) -> Any:
    """`package.module:attr` or `path/to/file.py:attr` -> the attribute (verifiers, environments).

    Raises ImportError, FileNotFoundError or AttributeError with a message fit for a recipe error."""
    target, _, attr = spec.rpartition(":")
    if target.endswith(".py"):
        module = _load_file(target)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as err:
            raise ImportError(f"cannot import {target!r} ({err}); is it installed?") from None
    if not hasattr(module, attr):
        raise AttributeError(f"{target} has no attribute {attr!r}")
    return getattr(module, attr)


def _load_file(file_name: str) -> Any:
    path = Path(file_name).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"file {file_name!r} does not exist (relative to {Path.cwd()})")
    module_name = f"grpo_user_plugin_{abs(hash(str(path)))}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def _load_builtins() -> None:
    # importing the modules runs their @register decorators
    import rewards.builtin  # noqa: F401

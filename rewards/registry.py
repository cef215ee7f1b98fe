"""Find a verifier by name: built-in, `package.module:attr`, `path/to/file.py:attr`, or an entry point.

Resolution order for a bare name: built-ins first, then installed packages' `grpo.verifiers`
entry points, so a plugin cannot silently replace a built-in.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from rewards.base import SHAPES, BatchedVerifier, VerifierError, as_batched, unfillable_parameters
from rewards.plugins import Plugins, PluginNotFound, unknown_kwargs

ENTRY_POINT_GROUP = "grpo.verifiers"
PLUGINS = Plugins(ENTRY_POINT_GROUP, ("rewards.builtin",))
register = PLUGINS.register  # built-in verifiers: @register("name")
available = PLUGINS.available


def resolve(name: str) -> Callable[..., Any]:
    """The object a verifier name refers to (function or class), or a VerifierError saying why not."""
    try:
        return PLUGINS.find(name, example="function")
    except PluginNotFound as err:
        raise VerifierError(f"unknown verifier {name!r}; {err}" if err.unknown else f"verifier {name!r}: {err}") from None


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
    unknown, parameters = unknown_kwargs(fn, kwargs)
    if unknown:
        raise VerifierError(f"verifier {name!r} takes no argument(s) {unknown}; its parameters are {parameters[1:]}")

"""Find an environment by name: built-in, `package.module:attr`, `path/to/file.py:attr`, or an
installed package's `grpo.envs` entry point (built-ins first, so a plugin cannot replace one)."""

from __future__ import annotations

import inspect
from typing import Any, Callable

from rewards.plugins import Plugins, PluginNotFound, unknown_kwargs

ENTRY_POINT_GROUP = "grpo.envs"
PLUGINS = Plugins(ENTRY_POINT_GROUP, ("grpo.envs.python_tool", "grpo.envs.functions"))
register_env = PLUGINS.register  # built-in environments: @register_env("name")
available = PLUGINS.available


class EnvError(ValueError):
    """An environment that cannot be found or built; the message says why and how to fix it."""


def resolve(name: str) -> Callable[..., Any]:
    try:
        return PLUGINS.find(name, example="Class")
    except PluginNotFound as err:
        raise EnvError(f"unknown environment; {err}" if err.unknown else str(err)) from None


def build_env(name: str, kwargs: dict[str, Any], *, check_only: bool = False) -> Callable[[], Any]:
    """A factory making one environment per episode. `check_only`: validate name and kwargs
    against the constructor's signature without building one (recipe load)."""
    target = resolve(name)
    if not callable(target):
        raise EnvError(f"{name!r} is a {type(target).__name__}, not a class or factory function")
    _check_kwargs(target, kwargs)
    if inspect.isclass(target):
        missing = [m for m in ("reset", "step") if not callable(getattr(target, m, None))]
        if missing:
            raise EnvError(f"{target.__name__} has no {' or '.join(missing)}() method; an environment needs "
                           "reset(row) -> str | None and step(turn) -> Step | str | None")
    if check_only:
        return target

    def factory() -> Any:
        return target(**kwargs)

    return factory


def stop_strings(factory: Callable[[], Any]) -> tuple[str, ...]:
    probe = factory()
    return tuple(getattr(probe, "stop", ()) or ())


def _check_kwargs(target: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    unknown, parameters = unknown_kwargs(target, kwargs)
    if unknown:
        raise EnvError(f"takes no argument(s) {unknown} in env.kwargs; its parameters are {parameters}")

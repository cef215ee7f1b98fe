"""Finding a plugin by name: the one lookup verifiers (rewards.registry) and environments
(grpo.envs.registry) share.

A name is a built-in registered by this codebase, an installed package's entry point, or a path:
`package.module:attr` / `path/to/file.py:attr`. Built-ins are looked up before entry points, so a
plugin cannot silently replace one.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable


class PluginNotFound(LookupError):
    """The message says why. `unknown`: no plugin has that name (else one was found but broken)."""

    def __init__(self, message: str, unknown: bool = False):
        super().__init__(message)
        self.unknown = unknown


class Plugins:
    """Built-ins registered with `register(name)` (their modules imported on first lookup), then the
    entry points of `group`, then paths."""

    def __init__(self, group: str, builtin_modules: tuple[str, ...]):
        self.group, self.builtin_modules = group, builtin_modules
        self.builtins: dict[str, Callable[..., Any]] = {}

    def register(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def decorate(target: Callable[..., Any]) -> Callable[..., Any]:
            self.builtins[name] = target
            return target

        return decorate

    def available(self) -> dict[str, str]:
        """Every name usable without a path, with where it comes from."""
        self._load_builtins()
        found = {name: "built-in" for name in self.builtins}
        for point in entry_points(group=self.group):
            found.setdefault(point.name, f"entry point {point.value}")
        return found

    def find(self, name: str, *, example: str) -> Any:
        """The object `name` refers to, or PluginNotFound. `example`: what to call a path's
        attribute in the "name your own" hint ('function', 'Class')."""
        self._load_builtins()
        if ":" in name:
            try:
                return load_attribute(name)
            except (ImportError, FileNotFoundError, AttributeError) as err:
                raise PluginNotFound(str(err)) from None
        if name in self.builtins:
            return self.builtins[name]
        for point in entry_points(group=self.group):
            if point.name == name:
                try:
                    return point.load()
                except Exception as err:  # a broken plugin must not look like a missing one
                    raise PluginNotFound(f"entry point {point.value} failed to load: {err}") from err
        raise PluginNotFound(
            f"built-ins and installed plugins: {sorted(self.available())}. Name your own as "
            f"'package.module:{example}' or 'path/to/file.py:{example}'", unknown=True,
        )

    def _load_builtins(self) -> None:
        for module in self.builtin_modules:
            importlib.import_module(module)  # running their register() decorators


def unknown_kwargs(target: Callable[..., Any], kwargs: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(the kwargs `target` does not accept, its parameter names); nothing is unknown to a target
    taking **kwargs or one whose signature cannot be read."""
    try:
        parameters = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return [], []
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return [], list(parameters)
    return sorted(set(kwargs) - set(parameters)), list(parameters)


def load_attribute(spec: str) -> Any:
    """`package.module:attr` or `path/to/file.py:attr` -> the attribute.

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

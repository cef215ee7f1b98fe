"""What runs inside the sandbox, after isolation and privilege drop: load the untrusted code,
then either serve function calls (returning strictly serialised values) or run it as a script.

Nothing here decides pass or fail: expected values never enter the sandbox.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from sandboxes import _wire
from sandboxes.values import UnserializableValue, decode, encode

REQUEST_FD, RESPONSE_FD = 3, 4


def _compile(code: str | bytes) -> Any:
    return compile(code, "<solution>", "exec", dont_inherit=True)


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"[:500]


def serve_functions(code: str | bytes) -> None:
    """Load `code` (its __name__ is not '__main__', so script-only blocks stay quiet), report the
    callables it defines, then answer call requests until the client hangs up."""
    send, recv, flush = _wire.send, _wire.recv, sys.stdout.flush
    namespace: dict[str, Any] = {"__name__": "solution", "__builtins__": __builtins__}
    try:
        exec(_compile(code), namespace)
    except BaseException as err:  # SystemExit and KeyboardInterrupt at load time also mean "no solution"
        send(RESPONSE_FD, ["load_failed", _describe(err)])
        return
    names = sorted(name for name, value in namespace.items() if callable(value) and not name.startswith("__"))
    send(RESPONSE_FD, ["loaded", names])
    while True:
        try:
            _, sequence, name, args, kwargs = recv(REQUEST_FD)
        except EOFError:
            return
        try:
            result = namespace[name](*decode(args), **decode(kwargs))
            reply = ["return", sequence, encode(result)]
        except UnserializableValue as err:
            reply = ["unserializable", sequence, str(err)]
        except BaseException as err:  # the solution's own exceptions, SystemExit included
            reply = ["raise", sequence, type(err).__name__, str(err)[:500]]
        try:
            flush()
        except BaseException:
            pass
        send(RESPONSE_FD, reply)


def run_script(code: str | bytes) -> int:
    """Run `code` as __main__ (stdin/stdout are the test's files); the exit status is the program's."""
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
    status = 0
    try:
        exec(_compile(code), namespace)
    except SystemExit as err:
        status = err.code if isinstance(err.code, int) else (0 if err.code is None else 1)
    except BaseException as err:
        print(_describe(err), file=sys.stderr)
        status = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    return status


def main(mode: str, code: str | bytes) -> None:
    if mode == "functions":
        serve_functions(code)
        os._exit(0)
    os._exit(run_script(code) & 0xFF)

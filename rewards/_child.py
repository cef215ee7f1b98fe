"""The verifier child process (see rewards/runner.py): build verifiers, answer scoring requests.

Started as `python -m rewards._child FD`, FD being its end of a socket pair.
"""

from __future__ import annotations

import sys
import traceback
from multiprocessing.connection import Connection

from rewards.registry import build


def main(fd: int) -> None:
    connection = Connection(fd)
    specs = connection.recv()
    try:
        verifiers = [build(spec["name"], spec.get("kwargs", {})) for spec in specs]
    except Exception as err:  # reported to the parent, which raises it as a configuration error
        connection.send(("error", f"{type(err).__name__}: {err}"))
        return
    connection.send(("ready", None))
    while True:
        try:
            _, index, samples = connection.recv()
        except EOFError:
            return
        try:
            connection.send(("ok", verifiers[index](samples)))
        except Exception as err:
            connection.send(("raised", "".join(traceback.format_exception_only(type(err), err)).strip()))


if __name__ == "__main__":
    main(int(sys.argv[1]))

"""What a job-level runtime_env costs each actor's start (why grpo.cluster passes none unless a
joined cluster needs the driver's PYTHONPATH): with one, Ray starts every worker through a
separate set-up process before the worker itself.

    python benchmarks/actor_start.py [--actors 5]

Each mode runs in its own process with its own local cluster (2 CPUs); an actor counts as started
when its first method call returns. Prints one row per mode: median and range over the actors.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = """
import json, sys, time
import ray
env = {"env_vars": {"GRPO_ACTOR_START_PROBE": "1"}} if sys.argv[1] == "env_vars" else None
ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", **({"runtime_env": env} if env else {}))

@ray.remote(num_cpus=0)
class Probe:
    def ping(self):
        return 1

time.sleep(3)  # the cluster's own start-up settles first
seconds = []
for _ in range(int(sys.argv[2])):
    started = time.time()
    actor = Probe.remote()
    ray.get(actor.ping.remote())
    seconds.append(time.time() - started)
    ray.kill(actor)
print(json.dumps(seconds))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actors", type=int, default=5, help="actors started one after another per mode")
    args = parser.parse_args()
    env = {**os.environ, "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled")}
    print(f"{'runtime_env':<12} {'median s':>9} {'min s':>7} {'max s':>7}")
    for mode in ("none", "env_vars"):
        done = subprocess.run([sys.executable, "-c", CHILD, mode, str(args.actors)], capture_output=True, text=True,
                              env=env, check=True)
        seconds = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{mode:<12} {statistics.median(seconds):>9.2f} {min(seconds):>7.2f} {max(seconds):>7.2f}")


if __name__ == "__main__":
    main()

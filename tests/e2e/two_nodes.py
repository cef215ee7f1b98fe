"""A two-node Ray cluster on one machine (two raylets, distinct custom resources), the learner pinned
to one node and the rollout worker to the other, training a few steps. Run by tests/e2e/test_scale.py
in its own process (a Ray driver connects to one cluster at a time):

    python -m tests.e2e.two_nodes OUTPUT_DIR
"""

import json
import sys
from pathlib import Path

from ray.cluster_utils import Cluster

from grpo.config import load_recipe
from grpo.trainer import train
from tests.conftest import ROOT, TINY_BASE


def main(output: Path) -> None:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "resources": {"node_a": 1}})
    cluster.add_node(num_cpus=1, resources={"node_b": 1})
    cluster.wait_for_nodes()
    try:
        recipe = load_recipe(ROOT / "recipes" / "quickstart.yaml", [
            f"output_dir={output}", "name=two-nodes", f"model.path={TINY_BASE}", f"cluster.address={cluster.address}",
            "cluster.learner_resources={node_a: 0.5}", "cluster.rollout_resources={node_b: 0.5}", "rollout.colocate=false",
            "rollout.prompts_per_step=4", "rollout.group_size=4", "trainer.steps=3", "trainer.threads=1",
            "eval.at_start=false", "eval.num_prompts=8", "logging.progress=false",
        ])
        train(recipe)
        nodes = {node.node_id: name for node, name in zip(cluster.list_all_nodes(), ("node_a", "node_b"))}
        (output / "nodes.json").write_text(json.dumps(nodes))
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]))

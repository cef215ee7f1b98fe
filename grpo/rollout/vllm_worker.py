"""Methods mixed into every vLLM GPU worker (`worker_extension_cls`), reached by collective_rpc.

They let a rollout worker join the trainer's NCCL group and receive bucketed weights. vLLM
imports this class by name inside its worker, so the module must not import vLLM at load time.
"""

from __future__ import annotations

import torch

from grpo.rollout.weight_sync import Bucket, receive_buckets


class GRPOWorkerExtension:
    """`self` is vLLM's GPU worker: it has `device` and `model_runner.model`."""

    def grpo_join_sync_group(self, address: str, port: int, rank: int, world_size: int) -> None:
        from vllm.distributed.weight_transfer.nccl_common import stateless_init_process_group

        self._grpo_comm = stateless_init_process_group(address, port, rank, world_size, self.device)

    def grpo_receive_buckets(self, plan: list[Bucket]) -> int:
        """Receive every bucket, then load it. The whole call runs between two scheduler steps of
        this engine (collective_rpc is never interleaved with generation), so no request sees a
        half-updated model."""
        comm = self._grpo_comm
        model = self.model_runner.model
        received = receive_buckets(
            plan, lambda tensor, src: comm.broadcast(tensor, src=src), self.device,
            lambda pairs: model.load_weights(pairs),
        )
        torch.cuda.synchronize(self.device)
        return received

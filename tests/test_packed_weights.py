import pickle
import warnings

import numpy as np
import pytest
import torch

from grpo.rollout.packed_weights import ALIGN, PackedWeights, pack


def _state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return {
        "embed.weight": torch.randn(7, 5),
        "layer.bias": torch.randn(3, dtype=torch.bfloat16),
        "rope.inv_freq": torch.arange(4, dtype=torch.float64),
        "positions": torch.arange(6, dtype=torch.int64).view(2, 3),
        "scale": torch.tensor(2.5),
    }


def test_round_trip_keeps_every_value_dtype_and_shape():
    state = _state()
    tensors = pack(state).tensors()
    assert list(tensors) == list(state)
    for name, tensor in state.items():
        assert tensors[name].dtype == tensor.dtype and tensors[name].shape == tensor.shape, name
        assert torch.equal(tensors[name], tensor), name


def test_cast_applies_to_floating_tensors_only():
    state = _state()
    tensors = pack(state, torch.bfloat16).tensors()
    for name, tensor in state.items():
        expected = tensor.to(torch.bfloat16) if tensor.is_floating_point() else tensor
        assert tensors[name].dtype == expected.dtype and torch.equal(tensors[name], expected), name


def test_layout_aligns_every_tensor_and_sizes_the_buffer_by_hand():
    packed = pack(_state())
    # 7*5*4 = 140 -> 192; 3*2 = 6 -> 64; 4*8 = 32 -> 64; 6*8 = 48 -> 64; 4 -> 64
    assert [e.offset for e in packed.entries] == [0, 192, 256, 320, 384]
    assert packed.nbytes == 448 and all(e.offset % ALIGN == 0 for e in packed.entries)


def test_views_share_the_buffer():
    packed = PackedWeights.allocate([("w", torch.float32, (2, 2))])
    packed.view("w").copy_(torch.ones(2, 2))
    assert packed.buffer[:16].view(np.float32).tolist() == [1.0] * 4


def test_pickle_and_a_read_only_buffer_still_give_the_tensors_without_warnings():
    state = _state()
    copy = pickle.loads(pickle.dumps(pack(state)))
    copy.buffer.setflags(write=False)  # what a Ray worker reads from shared memory
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tensors = copy.tensors()
    assert all(torch.equal(tensors[n], t) for n, t in state.items())


def test_ray_hands_workers_the_buffer_from_shared_memory(ray_cluster):
    import ray

    state = _state()
    received = ray.get(ray.put(pack(state)))
    assert not received.buffer.flags.writeable  # zero-copy: a view of the object store, not a copy
    assert all(torch.equal(received.tensors()[n], t) for n, t in state.items())


def test_unknown_dtype_is_named():
    from grpo.rollout.packed_weights import Entry

    packed = PackedWeights([Entry("w", "float128", (1,), 0)], np.zeros(64, dtype=np.uint8))
    with pytest.raises(ValueError, match="float128"):
        packed.tensors()

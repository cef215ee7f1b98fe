"""model.liger_kernel: which Liger patch is applied, with which kernels, and the errors a user sees
where it cannot run. Liger's kernels need a GPU; here a stand-in module records the call."""

import sys
import types

import pytest
import torch

from grpo import liger
from grpo.config import ModelConfig, RecipeError
from grpo.policy import load_model
from tests.conftest import TINY_BASE


class Shell(torch.nn.Module):
    def __init__(self, model_type):
        super().__init__()
        self.config = types.SimpleNamespace(model_type=model_type)


@pytest.fixture
def fake_liger(monkeypatch):
    calls = []

    def apply_liger_kernel_to_qwen2(rope=True, rms_norm=True, swiglu=True, model=None):  # no loss kernels here
        calls.append({"rope": rope, "rms_norm": rms_norm, "swiglu": swiglu, "model": model})

    patch = types.ModuleType("liger_kernel.transformers.monkey_patch")
    patch.MODEL_TYPE_TO_APPLY_LIGER_FN = {"qwen2": apply_liger_kernel_to_qwen2, "llama": apply_liger_kernel_to_qwen2}
    for name in ("liger_kernel", "liger_kernel.transformers"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "liger_kernel.transformers.monkey_patch", patch)
    return calls


def test_the_architectures_patch_gets_the_norm_activation_and_rope_kernels_only(fake_liger):
    model = Shell("qwen2")
    chosen = liger.apply(model, torch.device("cuda"))
    # the patch function takes no loss arguments: they are dropped, never passed as True
    assert chosen == {"rope": True, "rms_norm": True, "swiglu": True}
    assert fake_liger == [{"rope": True, "rms_norm": True, "swiglu": True, "model": model}]


def test_an_architecture_liger_lacks_is_refused_with_the_ones_it_has(fake_liger):
    with pytest.raises(RecipeError, match=r"no kernels for model type 'gpt2' \(it has: llama, qwen2\)"):
        liger.apply(Shell("gpt2"), torch.device("cuda"))
    assert fake_liger == []


def test_a_cpu_run_is_refused_before_any_patch(fake_liger):
    with pytest.raises(RecipeError, match="Triton GPU kernels and this model runs on cpu; set model.liger_kernel=false"):
        liger.apply(Shell("qwen2"), torch.device("cpu"))
    assert fake_liger == []


def test_a_missing_package_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "liger_kernel", None)  # import fails as if not installed
    with pytest.raises(RecipeError, match=r"needs the liger-kernel package: pip install 'grpo\[liger\]'"):
        liger.apply(Shell("qwen2"), torch.device("cuda"))


def test_the_recipe_field_reaches_the_loader(fake_liger):
    config = ModelConfig(path=str(TINY_BASE), dtype="float32", liger_kernel=True)
    with pytest.raises(RecipeError, match="model.liger_kernel"):
        load_model(config, torch.device("cpu"))
    # loaded on the host for a GPU (a sharded learner): the patch is applied to the loaded model
    model = load_model(config, torch.device("cpu"), run_device=torch.device("cuda"))
    assert len(fake_liger) == 1 and fake_liger[0]["model"] is model
    assert load_model(ModelConfig(path=str(TINY_BASE), dtype="float32"), torch.device("cpu")) is not None
    assert len(fake_liger) == 1  # off by default


def rotate(x):  # stands in for the modeling module's apply_rotary_pos_emb
    return x * 2


class Norm(torch.nn.Module):
    def forward(self, x):
        return x + 1


class Policy(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.config = types.SimpleNamespace(model_type="qwen2")
        self.norm = Norm()

    def forward(self, x):
        return rotate(self.norm(x))


def test_patched_code_runs_eagerly_but_the_original_under_torch_compile(monkeypatch):
    """Liger's patch binds new forwards on modules and swaps module functions; dynamo cannot trace
    its Triton launchers, so a compiled call must take the originals and an eager one Liger's."""
    this = sys.modules[__name__]
    monkeypatch.setattr(this, "rotate", rotate)  # restored after the test

    def apply_liger_kernel_to_qwen2(rope=True, rms_norm=True, swiglu=True, model=None):
        model.norm.forward = (lambda x: x + 100)  # as Liger's _bind_method_to_module
        this.rotate = lambda x: x * 3  # as Liger's module-level rotary swap

    patch = types.ModuleType("liger_kernel.transformers.monkey_patch")
    patch.MODEL_TYPE_TO_APPLY_LIGER_FN = {"qwen2": apply_liger_kernel_to_qwen2}
    for name in ("liger_kernel", "liger_kernel.transformers"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "liger_kernel.transformers.monkey_patch", patch)
    model = Policy()
    liger.apply(model, torch.device("cuda"))
    x = torch.ones(2)
    assert model(x).tolist() == [303.0, 303.0]  # (1 + 100) * 3: Liger's code
    torch._dynamo.reset()
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    assert compiled(x).tolist() == [4.0, 4.0]  # (1 + 1) * 2: the originals, traced without a break
    assert model(x).tolist() == [303.0, 303.0]

"""The Moebius network's fast paths against the plain formulas they replace.

The golden fixtures pin the whole network; these tests pin each shortcut on its
own, with random weights and non-trivial BatchNorm statistics: the guided step
that runs the condition-free first layers once, the guidance-1 step that runs
only the conditional half, the derived weights kept during a sampling loop
(and dropped after it), the four-phase upsampler and the local position lambda.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import pytest
import torch
import torch.nn.functional as functional
from moebius_configs import SMALL_CONFIG

from inpaint_studio.engines.moebius import fused, lambda_layers
from inpaint_studio.engines.moebius.blocks import Upsample, frozen_weights
from inpaint_studio.engines.moebius.inputs import MoebiusInputError
from inpaint_studio.engines.moebius.network import build_model
from inpaint_studio.engines.moebius.sampler import (
    denoise,
    guidance_ids,
    guided_prediction,
)


def _randomised(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random BatchNorm statistics and affine parameters, so that folding them into convs is exercised."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                n = module.num_features
                module.running_mean.copy_(0.2 * torch.randn(n, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(n, generator=generator))
                module.weight.copy_(1 + 0.2 * torch.randn(n, generator=generator))
                module.bias.copy_(0.2 * torch.randn(n, generator=generator))
    return model


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    return _randomised(build_model(SMALL_CONFIG))


def _latents(batch: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, 9, 8, 8, generator=torch.Generator().manual_seed(seed))


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape
    return (a - b).abs().max().item()


# ---------------------------------------------------------------- guided step


@pytest.mark.parametrize("batch", [1, 3])
def test_guided_noise_equals_forward_on_both_halves(small, batch):
    latents = _latents(batch)
    ids = guidance_ids(batch)
    with torch.no_grad():
        expected = small(latents.repeat(2, 1, 1, 1), torch.tensor([500]), ids)
        uncond, cond = small.guided_noise(latents, torch.tensor([500]), *ids.chunk(2))
    assert _max_diff(uncond, expected[:batch]) < 1e-5
    assert _max_diff(cond, expected[batch:]) < 1e-5
    assert _max_diff(uncond, cond) > 1e-3  # the halves differ: the prompts reached the output


def test_guided_noise_checks_its_ids(small):
    latents = _latents(2)
    uncond, cond = guidance_ids(2).chunk(2)
    with pytest.raises(MoebiusInputError, match="cond_ids"):
        small.guided_noise(latents, 10, uncond, cond[:1])
    with pytest.raises(MoebiusInputError, match="uncond_ids must lie"):
        small.guided_noise(latents, 10, uncond + 20, cond)


@contextlib.contextmanager
def recorded_halves(model: torch.nn.Module) -> Iterator[list]:
    """Within the block, every UNet call notes its thread, condition rows, thread count, autocast and inference mode."""
    rows: list = []

    def note(_module, inputs):
        rows.append(
            (
                threading.current_thread().name,
                inputs[2].shape[0],
                torch.get_num_threads(),
                torch.is_autocast_enabled("cpu"),
                torch.is_inference_mode_enabled(),
            )
        )

    handle = model.diff_model.register_forward_pre_hook(note)
    try:
        yield rows
    finally:
        handle.remove()


def test_on_a_cpu_the_guided_halves_run_side_by_side_in_two_threads(small):
    assert torch.get_num_threads() >= 2, "the test machine has two cores"
    latents, ids = _latents(2), guidance_ids(2)
    with recorded_halves(small) as rows, torch.inference_mode():
        together = guided_prediction(small, latents, torch.tensor([300]), ids, 2.5)
        uncond, cond = small.guided_noise(latents, torch.tensor([300]), *ids.chunk(2))
    assert _max_diff(together, uncond + 2.5 * (cond - uncond)) < 1e-5
    halves, batched = rows[:2], rows[2]
    assert len({thread for thread, *_ in halves}) == 2 and all(t.startswith("moebius-half") for t, *_ in halves)
    assert [r[1:] for r in halves] == [(2, torch.get_num_threads() // 2, False, True)] * 2
    assert batched[0] == threading.current_thread().name and batched[1] == 4


def test_the_side_by_side_halves_keep_autocast_and_the_callers_thread_counts(small):
    latents, ids = _latents(1), guidance_ids(1)
    threads = torch.get_num_threads()
    with recorded_halves(small) as rows, torch.inference_mode():
        reference = guided_prediction(small, latents, torch.tensor([300]), ids, 2.5)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            halved = guided_prediction(small, latents, torch.tensor([300]), ids, 2.5)
    assert [autocast for *_, autocast, _ in rows[2:]] == [True, True]
    assert halved.dtype == torch.float32 and 0 < _max_diff(halved, reference) < 0.06 * reference.abs().max().item()
    # The workers' thread counts are their own: the caller's and a new thread's are as they were.
    assert torch.get_num_threads() == threads
    seen = []
    worker = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    worker.start()
    worker.join()
    assert seen == [threads]


def test_an_error_in_one_half_is_raised_after_both_halves_ended(small):
    latents, ids = _latents(1), guidance_ids(1)
    ended = []

    def fail_on_the_unconditional_half(_module, inputs):  # inputs: latents, timestep, token ids
        if int(inputs[2][0, 0]) >= 10:  # the unconditional prompt's rows (guidance_ids)
            raise RuntimeError("cancelled")

    first = small.register_forward_pre_hook(fail_on_the_unconditional_half)
    last = small.register_forward_hook(lambda *_: time.sleep(0.2) or ended.append(1))
    try:
        with torch.inference_mode(), pytest.raises(RuntimeError, match="cancelled"):
            guided_prediction(small, latents, torch.tensor([300]), ids, 2.5)
        assert ended == [1]  # the conditional half had ended (slowly) before the error came back
    finally:
        first.remove()
        last.remove()


def test_with_one_thread_the_halves_run_as_one_batch(small):
    latents, ids = _latents(1), guidance_ids(1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with recorded_halves(small) as rows, torch.inference_mode():
            guided_prediction(small, latents, torch.tensor([300]), ids, 2.5)
    finally:
        torch.set_num_threads(threads)
    assert [(thread, count) for thread, count, *_ in rows] == [(threading.current_thread().name, 2)]


def test_guidance_one_runs_only_the_conditional_half(small):
    latents = _latents(2)
    ids = guidance_ids(2)
    rows = []
    handle = small.diff_model.register_forward_pre_hook(lambda module, inputs: rows.append(inputs[2].shape[0]))
    try:
        with torch.no_grad():
            fast = guided_prediction(small, latents, torch.tensor([300]), ids, 1.0)
            uncond, cond = small.guided_noise(latents, torch.tensor([300]), *ids.chunk(2))
    finally:
        handle.remove()
    assert rows == [2, 4]  # the guidance-1 call ran 2 condition rows, the guided one 4
    assert _max_diff(fast, uncond + 1.0 * (cond - uncond)) < 1e-6


def test_denoise_at_guidance_one_matches_the_guided_formula(small):
    generator = torch.Generator().manual_seed(2)
    inputs = {
        "clean_latents": torch.randn(1, 4, 8, 8, generator=generator),
        "masked_latents": torch.randn(1, 4, 8, 8, generator=generator),
        "latent_mask": (torch.rand(1, 1, 8, 8, generator=generator) > 0.5).float(),
        "noise": torch.randn(1, 4, 8, 8, generator=generator),
        "offset_noise": torch.randn(1, 4, 1, 1, generator=generator),
    }
    fast = denoise(small, **inputs, num_steps=4, guidance=1.0)
    # A guidance a hair above 1 takes the two-half path; ê then differs by ~1e-12 · (e_c − e_u).
    guided = denoise(small, **inputs, num_steps=4, guidance=1.0 + 1e-12)
    assert _max_diff(fast, guided) < 1e-6


# ---------------------------------------------------------------- derived weights


def test_weights_loaded_after_a_call_are_used(small):
    """Folded BatchNorms and upsampler kernels are never kept beyond a sampling loop."""
    model = build_model(SMALL_CONFIG)
    latents, ids = _latents(1), guidance_ids(1)[1:]
    with torch.no_grad():
        before = model(latents, 500, ids)
        with frozen_weights(model):
            model(latents, 500, ids)
        model.load_state_dict(small.state_dict())
        after = model(latents, 500, ids)
        expected = small(latents, 500, ids)
    assert _max_diff(after, expected) == 0.0
    assert _max_diff(before, expected) > 1e-3
    assert not any("_derived" in module.__dict__ for module in model.modules())


def test_frozen_weights_reuses_derived_weights_until_the_block_ends(small):
    model = build_model(SMALL_CONFIG)
    model.load_state_dict(small.state_dict())
    upsampler = model.diff_model.up_blocks[0].upsamplers[0]
    built = []
    original = upsampler._phase_weights
    upsampler._phase_weights = lambda: built.append(1) or original()
    latents, ids = _latents(1), guidance_ids(1)[1:]
    with torch.no_grad():
        with frozen_weights(model):
            with frozen_weights(model):  # nested: shares the outer block's values
                model(latents, 500, ids)
            model(latents, 500, ids)
            assert len(built) == 1
        model(latents, 500, ids)
    assert len(built) == 2


def test_denoise_leaves_no_derived_weights_behind(small):
    inputs = {name: torch.randn(1, 4, 8, 8) for name in ("clean_latents", "masked_latents", "noise")}
    denoise(small, **inputs, latent_mask=torch.ones(1, 1, 8, 8), offset_noise=None, num_steps=2)
    assert not any("_derived" in module.__dict__ for module in small.modules())


# ---------------------------------------------------------------- layers


@pytest.mark.parametrize("channels_last", [False, True])
def test_upsampler_phases_equal_nearest_upsampling_then_conv(channels_last):
    torch.manual_seed(3)
    layer = Upsample(8)
    x = torch.randn(2, 8, 5, 7)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        expected = layer.conv(functional.interpolate(x, scale_factor=2.0, mode="nearest"))
        got = layer(x)
    assert _max_diff(got, expected) < 1e-5


def _reference_self_lambda(layer: lambda_layers.LocalSelfLambda, tokens: torch.Tensor, side: int) -> torch.Tensor:
    """SPEC §5.5 as written: BatchNorm modules, the Conv3d position lambda, einsums."""
    b, n, channels = tokens.shape
    grid = tokens.transpose(1, 2).reshape(b, channels, side, side)
    heads, dk, dv = layer.heads, layer.dim_k, layer.dim_v
    queries = layer.norm_q(layer.to_q(grid)).reshape(b, heads, dk, n)
    keys = layer.to_k(grid).reshape(b, 1, dk, n).softmax(dim=-1)
    values = layer.norm_v(layer.to_v(grid)).reshape(b, 1, dv, n)
    content = torch.einsum("bukn,buvn->bkv", keys, values)
    position = layer.pos_conv(values.reshape(b, 1, dv, side, side)).reshape(b, dk, dv, n)
    y = torch.einsum("bhkn,bkv->bhvn", queries, content) + torch.einsum("bhkn,bkvn->bhvn", queries, position)
    return y.reshape(b, heads * dv, n).transpose(1, 2)


@pytest.mark.parametrize("side", [5, 16])
@pytest.mark.parametrize("budget", [lambda_layers.WINDOW_BUDGET, 1])  # 1: one image row per product
def test_local_position_lambda_equals_the_convolution(monkeypatch, side, budget):
    monkeypatch.setattr(lambda_layers, "WINDOW_BUDGET", budget)
    torch.manual_seed(4)
    layer = _randomised(lambda_layers.LocalSelfLambda(16, 4).eval())
    tokens = torch.randn(2, side * side, 16)
    with torch.no_grad():
        got = layer(tokens, side, side)
        expected = _reference_self_lambda(layer, tokens, side)
    assert _max_diff(got, expected) < 2e-5 * expected.abs().max().item()


def test_self_lambda_in_train_mode_uses_batch_statistics():
    torch.manual_seed(5)
    layer = lambda_layers.LocalSelfLambda(16, 4).train()
    tokens = torch.randn(2, 36, 16)
    reference = lambda_layers.LocalSelfLambda(16, 4).train()
    reference.load_state_dict(layer.state_dict())
    got = layer(tokens, 6, 6)
    expected = _reference_self_lambda(reference, tokens, 6)
    assert _max_diff(got, expected) < 1e-4
    assert torch.equal(layer.norm_q.running_mean, reference.norm_q.running_mean)
    assert layer.norm_q.num_batches_tracked.item() == 1


# ---------------------------------------------------------------- fused linear + SiLU


def test_the_fused_linear_silu_is_the_plain_formula_in_bfloat16():
    assert fused.fused_linear_silu_works()  # oneDNN is part of the CPU build the project installs
    generator = torch.Generator().manual_seed(4)
    x = torch.randn(2, 50, 32, generator=generator)
    weight, bias = 0.2 * torch.randn(48, 32, generator=generator), torch.randn(48, generator=generator)
    expected = functional.silu(functional.linear(x, weight, bias))
    got = fused.linear_silu(x.bfloat16(), weight.bfloat16(), bias.bfloat16())
    assert got.dtype == torch.bfloat16 and got.shape == expected.shape
    assert _max_diff(got.float(), expected) < 0.02 * expected.abs().max().item()
    assert _max_diff(fused.linear_silu(x, weight, bias), expected) < 1e-5  # float32: the plain path


def test_without_the_fused_operator_the_plain_formula_runs(monkeypatch):
    def missing(*_args):
        raise RuntimeError("no such operator")

    monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise", missing)
    assert not fused.fused_linear_silu_works.__wrapped__()
    monkeypatch.setattr(fused, "fused_linear_silu_works", lambda: False)
    x, weight = torch.randn(3, 8).bfloat16(), torch.randn(4, 8).bfloat16()
    assert torch.equal(fused.linear_silu(x, weight, None), functional.silu(functional.linear(x, weight)))

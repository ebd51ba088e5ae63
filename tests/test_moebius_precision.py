"""Moebius in bfloat16: which precision a fill runs in, what stays in float32, how far it lands from float32.

The models are the small random ones of moebius_fixtures (the engine's real
path, 512x512 crops); on a CPU without native bfloat16 the bfloat16 fills are
emulated by PyTorch, slower but the same arithmetic.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import gradient_photo
from diffusers.models.upsampling import Upsample2D
from moebius_configs import SMALL_CONFIG
from moebius_fixtures import ENGINE_CONFIG, install_moebius, write_vae

from inpaint_studio.engines import devices
from inpaint_studio.engines.base import EngineContext
from inpaint_studio.engines.moebius import runtime as moebius_runtime
from inpaint_studio.engines.moebius import vae as vae_ops
from inpaint_studio.engines.moebius.blocks import frozen_weights
from inpaint_studio.engines.moebius.network import build_model
from inpaint_studio.engines.moebius.sampler import guidance_ids, guided_prediction
from inpaint_studio.engines.moebius_engine import MoebiusEngine
from inpaint_studio.engines.pipeline import inpaint_image
from inpaint_studio.engines.registry import create_engine
from inpaint_studio.models.store import ModelStore
from inpaint_studio.worker.provenance import fill_provenance


@pytest.fixture(autouse=True)
def small_network(monkeypatch):
    monkeypatch.setattr(moebius_runtime, "unet_config", lambda: ENGINE_CONFIG)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> ModelStore:
    folder = tmp_path_factory.mktemp("moebius")
    store = ModelStore(folder / "models")
    install_moebius(store, folder / "downloads")
    return store


def photo_and_mask() -> tuple[np.ndarray, np.ndarray]:
    image = gradient_photo(512, 512, seed=3)
    mask = np.zeros((512, 512), np.uint8)
    mask[150:380, 130:400] = 255
    return image, mask


# ---------------------------------------------------------------- which precision runs


def test_precision_is_a_setting_auto_by_default_and_recorded_in_the_provenance():
    params = MoebiusEngine.resolve_params()
    assert params["precision"] == "auto"
    assert MoebiusEngine.resolve_params({"precision": "bfloat16"})["precision"] == "bfloat16"
    with pytest.raises(Exception, match="precision"):
        MoebiusEngine.resolve_params({"precision": "float16"})
    assert fill_provenance(MoebiusEngine, {"precision": "float32"}, "cpu")["params"]["precision"] == "float32"


@pytest.mark.parametrize("native", [True, False])
def test_auto_is_bfloat16_on_a_cpu_that_computes_it_else_float32(monkeypatch, native):
    monkeypatch.setattr(moebius_runtime, "cpu_computes_bfloat16", lambda: native)
    resolve = moebius_runtime.resolve_precision
    assert resolve("auto", "cpu") == ("bfloat16" if native else "float32")
    assert resolve("float32", "cpu") == "float32"
    assert resolve("bfloat16", "cpu") == "bfloat16"  # asked for: honoured, emulated where not native
    assert resolve("auto", "mps") == resolve("bfloat16", "mps") == "float32"


@pytest.mark.parametrize("bf16_gpu", [True, False])
def test_cuda_keeps_its_autocast_unless_float32_is_asked(monkeypatch, bf16_gpu):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: bf16_gpu)
    resolve = moebius_runtime.resolve_precision
    assert resolve("auto", "cuda") == ("bfloat16" if bf16_gpu else "float16")
    assert resolve("bfloat16", "cuda") == "bfloat16"
    assert resolve("float32", "cuda") == "float32"


def test_native_bfloat16_is_read_from_torch_or_else_from_cpuinfo(tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert "avx512_bf16" in devices._cpuinfo_flags(cpuinfo)
    assert devices._cpuinfo_flags(tmp_path / "absent") == set()

    def detect() -> bool:
        devices.cpu_computes_bfloat16.cache_clear()
        return devices.cpu_computes_bfloat16()

    try:
        monkeypatch.setattr(devices.platform, "machine", lambda: "x86_64")
        monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: True)
        for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
            monkeypatch.setattr(torch.cpu, name, lambda: False)
        assert detect() is False
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
        assert detect() is True
        # A torch without the probes: the flags decide.
        monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported")
        monkeypatch.setattr(devices, "_cpuinfo_flags", lambda: {"avx512f", "amx_bf16"})
        assert detect() is True
        monkeypatch.setattr(devices, "_cpuinfo_flags", lambda: {"avx512f"})
        assert detect() is False
        monkeypatch.setattr(devices, "_cpuinfo_flags", lambda: {"avx512_bf16"})
        monkeypatch.setattr(devices.platform, "machine", lambda: "arm64")  # Apple silicon's CPU: no fast path
        assert detect() is False
    finally:
        monkeypatch.undo()
        devices.cpu_computes_bfloat16.cache_clear()


# ---------------------------------------------------------------- what stays float32


def test_under_autocast_the_unet_ends_and_the_guidance_stay_float32():
    torch.manual_seed(0)
    model = build_model(SMALL_CONFIG)
    latents, timestep, ids = torch.randn(1, 9, 8, 8), torch.tensor([500]), guidance_ids(1)
    unet = model.diff_model
    with torch.inference_mode():
        reference = guided_prediction(model, latents, timestep, ids, 2.5)
        with torch.autocast("cpu", dtype=torch.bfloat16), frozen_weights(model, torch.bfloat16):
            eps = guided_prediction(model, latents, timestep, ids, 2.5)
            kept = {name: m.__dict__["_derived"] for name, m in model.named_modules() if m.__dict__.get("_derived")}
    assert eps.dtype == torch.float32
    # bfloat16 keeps 8 bits: a few per cent of the largest value at most, under 1 % on average.
    error, scale = (eps - reference).abs(), reference.abs().max().item()
    assert error.max().item() < 0.06 * scale and error.mean().item() < 0.01 * scale
    # Derived weights are kept in bfloat16, except those of the layers that read latents and write the noise.
    dtypes = {name: {t.dtype for value in cache.values() for t in _tensors(value)} for name, cache in kept.items()}
    assert dtypes.pop("diff_model.conv_in") == dtypes.pop("diff_model.conv_out") == {torch.float32}
    assert dtypes and all(found == {torch.bfloat16} for found in dtypes.values())
    assert unet.conv_out(torch.randn(1, 16, 8, 8).bfloat16()).dtype == torch.float32
    assert not any("_derived" in module.__dict__ or "_derived_dtype" in module.__dict__ for module in model.modules())


def _tensors(value):
    if value is None:  # a layer without a bias
        return []
    return [value] if isinstance(value, torch.Tensor) else [t for item in value for t in _tensors(item)]


def test_the_bfloat16_vae_answers_in_float32_close_to_float32_and_restores_its_layers(tmp_path):
    vae = vae_ops.load_vae(write_vae(tmp_path / "vae"))
    images = torch.rand(1, 3, 64, 64) * 2 - 1
    latents = torch.randn(1, 4, 8, 8)
    with torch.inference_mode():
        mean, std = vae_ops.encode_moments(vae, images)
        mean16, std16 = vae_ops.encode_moments(vae, images, torch.bfloat16)
        decoded = vae_ops.decode(vae, latents)
        decoded16 = vae_ops.decode(vae, latents, None, torch.bfloat16)
    assert mean16.dtype == std16.dtype == decoded16.dtype == torch.float32
    assert (mean16 - mean).abs().max().item() < 0.02 * mean.abs().max().item()
    assert (std16 - std).abs().max().item() < 0.02 * std.abs().max().item()
    assert 0 < (decoded16 - decoded).abs().max().item() < 0.05
    assert not any("forward" in vars(module) for module in vae.modules())


def test_phase_upsamplers_equal_diffusers_upsampling():
    torch.manual_seed(1)
    upsampler = Upsample2D(16, use_conv=True).eval()
    x = torch.randn(2, 16, 6, 5).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        expected = upsampler(x)
        with vae_ops._phase_upsamplers(upsampler):
            assert "forward" in vars(upsampler)
            got = upsampler(x)
    assert "forward" not in vars(upsampler)
    assert (got - expected).abs().max().item() < 1e-5


# ---------------------------------------------------------------- whole fills


def test_a_bfloat16_fill_lands_a_few_levels_from_the_float32_fill(store):
    image, mask = photo_and_mask()
    engine = create_engine("moebius", "cpu", model_store=store)
    params = {"steps": 4, "seed": 7}
    float32 = inpaint_image(engine, image, mask, {**params, "precision": "float32"})
    assert engine._runtime.precision == "float32"
    bfloat16 = inpaint_image(engine, image, mask, {**params, "precision": "bfloat16"})
    assert engine._runtime.precision == "bfloat16"
    difference = np.abs(bfloat16.astype(int) - float32.astype(int))[mask > 0]
    assert 0 < difference.max() <= 8 and difference.mean() < 1.0, (difference.max(), difference.mean())
    assert np.array_equal(bfloat16[mask == 0][:1000], image[mask == 0][:1000])  # far from the hole: the photo


def test_bfloat16_on_a_cpu_without_it_is_honoured_and_said(store, monkeypatch):
    monkeypatch.setattr(moebius_runtime, "cpu_computes_bfloat16", lambda: False)
    image, mask = photo_and_mask()
    engine = create_engine("moebius", "cpu", model_store=store)
    context = EngineContext()
    engine.inpaint(image, mask, engine.resolve_params({"steps": 2, "precision": "bfloat16"}), context)
    assert engine._runtime.precision == context.report.precision == "bfloat16"
    assert context.report.notices == [moebius_runtime.EMULATED_BF16_NOTICE]
    context = EngineContext()
    engine.inpaint(image, mask, engine.resolve_params({"steps": 2}), context)
    assert engine._runtime.precision == context.report.precision == "float32" and context.report.notices == []
    # What ran, not "auto", goes into the fill's provenance (the worker passes the report's precision).
    provenance = fill_provenance(MoebiusEngine, {"steps": 2}, "cpu", context.report.precision)
    assert provenance["params"]["precision"] == "auto" and provenance["precision"] == "float32"


# ---------------------------------------------------------------- derived weights kept between fills


def _derived_caches(model: torch.nn.Module) -> dict[str, dict]:
    return {name: module.__dict__["_derived"] for name, module in model.named_modules() if "_derived" in module.__dict__}


def test_bfloat16_fills_keep_the_derived_weights_and_float32_fills_drop_them(store, monkeypatch):
    monkeypatch.setattr(moebius_runtime, "cpu_computes_bfloat16", lambda: True)
    image, mask = photo_and_mask()
    engine = create_engine("moebius", "cpu", model_store=store)
    bf16 = engine.resolve_params({"steps": 2, "precision": "bfloat16", "seed": 5})
    first = engine.inpaint(image, mask, bf16, EngineContext())
    unet = engine._runtime.unet
    kept = {name: dict(cache) for name, cache in _derived_caches(unet).items()}
    assert kept and {t.dtype for cache in kept.values() for value in cache.values() for t in _tensors(value)} == {
        torch.bfloat16,
        torch.float32,  # conv_in and conv_out's
    }
    again = engine.inpaint(image, mask, bf16, EngineContext())
    assert np.array_equal(again, first)
    after = _derived_caches(unet)
    assert all(after[name][key] is value for name, cache in kept.items() for key, value in cache.items())  # not rebuilt

    float32 = engine.resolve_params({"steps": 2, "precision": "float32", "seed": 5})
    result = engine.inpaint(image, mask, float32, EngineContext())
    assert not _derived_caches(unet)  # the bfloat16 ones are not used for (or kept after) a float32 fill
    fresh = create_engine("moebius", "cpu", model_store=store).inpaint(image, mask, float32, EngineContext())
    assert np.array_equal(result, fresh)
    engine.inpaint(image, mask, bf16, EngineContext())
    assert _derived_caches(unet)
    engine.unload()
    assert not _derived_caches(unet)

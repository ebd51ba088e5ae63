"""The Moebius network against the reference's golden fixtures (../shared/moebius, SPEC.md).

The full-size model is checked on the meta device against the manifest of the
official checkpoint (names, shapes, dtypes, parameter count), so the real
weights will load with strict=True. The two tiny models load their fixture
weights strictly and must reproduce the reference's noise predictions and its
intermediate activations to float32 rounding.
"""

from __future__ import annotations

import json

import pytest
import torch
from conftest import SHARED
from moebius_configs import SMALL_CONFIG
from safetensors.torch import load_file

from inpaint_studio.core.errors import EngineError
from inpaint_studio.engines.moebius.config import official_config
from inpaint_studio.engines.moebius.inputs import MoebiusConfigError, MoebiusInputError
from inpaint_studio.engines.moebius.network import build_model

FIXTURES = SHARED / "moebius"
NOISE_ATOL = 2e-5
DEBUG_ATOL = 2e-4
CASES = {"tiny": 4, "tiny_s12": 2}


def _need_fixtures() -> None:
    if not (FIXTURES / "tiny_config.json").is_file():
        pytest.skip("../shared/moebius is not available")


@pytest.fixture(scope="module")
def models() -> dict[str, torch.nn.Module]:
    """The tiny fixture models with their golden weights, loaded strictly (once per module)."""
    _need_fixtures()
    loaded = {}
    for name in CASES:
        model = build_model(json.loads((FIXTURES / f"{name}_config.json").read_text()))
        model.load_state_dict(load_file(FIXTURES / f"{name}_state_dict.safetensors"), strict=True)
        loaded[name] = model
    return loaded


@pytest.fixture(scope="module")
def cases() -> dict[str, dict[str, torch.Tensor]]:
    _need_fixtures()
    return {name: load_file(FIXTURES / f"{name}_cases.safetensors") for name in CASES}


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape
    return (a - b).abs().max().item()


# ---------------------------------------------------------------- full-size architecture


@pytest.mark.shared
def test_full_size_model_has_exactly_the_official_state_dict():
    _need_fixtures()
    manifest = json.loads((FIXTURES / "manifest_full.json").read_text())
    with torch.device("meta"):
        model = build_model(official_config())
    got = {name: (list(t.shape), str(t.dtype).removeprefix("torch.")) for name, t in model.state_dict().items()}
    expected = {e["name"]: (e["shape"], e["dtype"]) for e in manifest["entries"]}
    assert sorted(set(expected) - set(got)) == []
    assert sorted(set(got) - set(expected)) == []
    assert {name: got[name] for name in expected if got[name] != expected[name]} == {}
    assert sum(p.numel() for p in model.parameters()) == manifest["total_params"]
    for part, count in manifest["params_by_part"].items():
        assert sum(p.numel() for n, p in model.named_parameters() if n.startswith(part + ".")) == count, part
    batchnorms = {
        name: (module.num_features, module.eps)
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm)
    }
    assert batchnorms == {b["module"]: (b["num_features"], b["eps"]) for b in manifest["batchnorm_modules"]}


@pytest.mark.shared
def test_manifest_config_in_yaml_layout_builds_the_same_model():
    _need_fixtures()
    manifest = json.loads((FIXTURES / "manifest_full.json").read_text())
    with torch.device("meta"):
        shapes = {n: t.shape for n, t in build_model(manifest["config"]).state_dict().items()}
    assert len(shapes) == manifest["num_entries"]


def test_build_model_returns_eval_mode():
    assert not build_model(SMALL_CONFIG).training


# ---------------------------------------------------------------- golden outputs


@pytest.mark.shared
@pytest.mark.parametrize("name,index", [(name, i) for name, count in CASES.items() for i in range(count)])
def test_noise_prediction_matches_reference(models, cases, name, index):
    case = {key.split(".", 1)[1]: value for key, value in cases[name].items() if key.startswith(f"case{index}.")}
    with torch.no_grad():
        eps = models[name](case["latent_model_input"], case["timesteps"], case["input_ids"])
    assert _max_diff(eps, case["noise_pred"]) < NOISE_ATOL
    uncond, cond = eps.chunk(2)
    assert _max_diff(uncond + 2.5 * (cond - uncond), case["noise_pred_cfg2.5"]) < NOISE_ATOL


def _capture(model: torch.nn.Module) -> tuple[dict[str, torch.Tensor], list]:
    """Forward hooks that record the activations the fixtures name `debug.*`."""
    unet = model.diff_model
    block = unet.down_blocks[0].attentions[0].transformer_blocks[0]
    seen: dict[str, torch.Tensor] = {}

    def keep(key, take=lambda inputs, output: output):
        return lambda module, inputs, output: seen.__setitem__(key, take(inputs, output))

    points = {
        "time_proj": unet.time_proj,
        "time_embedding": unet.time_embedding,
        "encoder_hid_proj": unet.encoder_hid_proj,
        "conv_in": unet.conv_in,
        "down0.resnet0": unet.down_blocks[0].resnets[0],
        "down0.attn0": unet.down_blocks[0].attentions[0],
        "down0.attn0.tb0.attn1": block.attn1,
        "down0.attn0.tb0.attn2": block.attn2,
        "down0.attn0.tb0.ff": block.ff,
        "conv_norm_out": unet.conv_norm_out,
    }
    handles = [module.register_forward_hook(keep(key)) for key, module in points.items()]
    handles += [
        block.attn1.register_forward_hook(keep("down0.attn0.tb0.attn1.in", lambda inputs, _: inputs[0])),
        block.attn2.register_forward_hook(keep("down0.attn0.tb0.attn2.in", lambda inputs, _: inputs[0])),
    ]
    blocks = list(unet.down_blocks) + list(unet.up_blocks)
    for i, module in enumerate(blocks):
        take = (lambda inputs, output: output[0]) if i < len(unet.down_blocks) else (lambda inputs, output: output)
        handles.append(module.register_forward_hook(keep(f"block_output{i}", take)))
    return seen, handles


@pytest.mark.shared
@pytest.mark.parametrize("name", list(CASES))
def test_intermediate_activations_match_reference(models, cases, name):
    """Localises a mismatch: every debug tensor of case 0 is reproduced."""
    golden = cases[name]
    seen, handles = _capture(models[name])
    try:
        with torch.no_grad():
            models[name](golden["case0.latent_model_input"], golden["case0.timesteps"], golden["case0.input_ids"])
    finally:
        for handle in handles:
            handle.remove()
    keys = sorted(k.removeprefix("case0.debug.") for k in golden if k.startswith("case0.debug."))
    assert sorted(seen) == keys
    diffs = {key: _max_diff(seen[key], golden[f"case0.debug.{key}"]) for key in keys}
    assert {key: d for key, d in diffs.items() if d >= DEBUG_ATOL} == {}


def test_batch_rows_are_independent():
    """Eval-mode BatchNorm: a row's prediction does not depend on the other rows."""
    torch.manual_seed(0)
    model = build_model(SMALL_CONFIG)
    latents = torch.randn(3, 9, 8, 8)
    ids = torch.arange(10).repeat(3, 1)
    with torch.no_grad():
        together = model(latents, torch.tensor([500]), ids)
        alone = model(latents[1:2], 500, ids[1:2])
    assert together.shape == (3, 4, 8, 8)
    assert _max_diff(together[1:2], alone) < 1e-5


# ---------------------------------------------------------------- refused inputs


@pytest.mark.parametrize(
    "latent_shape,ids_shape,timesteps,words",
    [
        ((1, 9, 4, 16), (1, 10), [10], "square latents of 8x8"),  # same area, not square
        ((1, 9, 16, 16), (1, 10), [10], "square latents of 8x8"),
        ((1, 4, 8, 8), (1, 10), [10], "[batch, 9, 8, 8]"),
        ((9, 8, 8), (1, 10), [10], "[batch, 9, 8, 8]"),
        ((2, 9, 8, 8), (2, 9), [10], "input_ids of shape [2, 10]"),
        ((2, 9, 8, 8), (1, 10), [10], "input_ids of shape [2, 10]"),
        ((2, 9, 8, 8), (2, 10), [10, 20, 30], "one timestep or one per batch row"),
    ],
)
def test_wrong_shapes_are_refused_with_a_sentence(latent_shape, ids_shape, timesteps, words):
    model = build_model(SMALL_CONFIG)
    with pytest.raises(MoebiusInputError) as caught:
        model(torch.zeros(latent_shape), torch.tensor(timesteps), torch.zeros(ids_shape, dtype=torch.int64))
    assert isinstance(caught.value, EngineError) and isinstance(caught.value, ValueError)
    assert words in str(caught.value)
    assert str(caught.value).startswith("Moebius") or str(caught.value).startswith("This Moebius")


def test_bad_ids_and_dtypes_are_refused():
    model = build_model(SMALL_CONFIG)
    latents = torch.zeros(1, 9, 8, 8)
    with pytest.raises(MoebiusInputError, match="0..19"):
        model(latents, 1, torch.full((1, 10), 20))
    with pytest.raises(MoebiusInputError, match="integers"):
        model(latents, 1, torch.zeros(1, 10))
    with pytest.raises(MoebiusInputError, match="floating-point"):
        model(latents.long(), 1, torch.zeros(1, 10, dtype=torch.int64))


@pytest.mark.parametrize(
    "change,words",
    [
        ({"sample_size": 10}, "divisible by 4"),
        ({"mid_block_type": "UNetMidBlock2DCrossAttn"}, "mid_block_type"),
        ({"block_out_channels": [16, 24, 30]}, "divisible"),
        ({"up_block_types": ["UpBlock2D"] * 3}, "DWMixTFUpBlock2D"),
    ],
)
def test_unsupported_configs_are_refused(change, words):
    config = json.loads(json.dumps(SMALL_CONFIG))
    config["unet_constructor_args"].update(change)
    with pytest.raises(MoebiusConfigError, match=words):
        build_model(config)

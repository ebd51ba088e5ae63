"""The Moebius engine end to end with small random models of the real architecture.

The reference pipeline of SPEC §9 is written out once here with diffusers'
own posterior sampling and the global torch generator, as the reference
script does it; the engine, driven through the shared pipeline like every
fill, must give the same picture.
"""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest
import torch
from conftest import gradient_photo
from moebius_fixtures import ENGINE_CONFIG, install_moebius, write_vae
from PIL import Image, ImageFilter

from inpaint_studio.core.errors import EngineNotReadyError, JobCancelled, ModelError
from inpaint_studio.core.jobs import CancelToken
from inpaint_studio.engines.base import EngineContext
from inpaint_studio.engines.moebius import runtime as moebius_runtime
from inpaint_studio.engines.moebius.network import build_model
from inpaint_studio.engines.moebius.sampler import denoise
from inpaint_studio.engines.moebius.vae import (
    LatentWindow,
    decode,
    decode_window_for,
    load_vae,
)
from inpaint_studio.engines.moebius_engine import MoebiusEngine
from inpaint_studio.engines.pipeline import inpaint_image, inpaint_patches
from inpaint_studio.engines.registry import create_engine
from inpaint_studio.models.store import ModelStore
from inpaint_studio.worker import EngineWorker, FillRequest, JobFinished, JobPreview


@pytest.fixture(autouse=True)
def small_network(monkeypatch):
    monkeypatch.setattr(moebius_runtime, "unet_config", lambda: ENGINE_CONFIG)


@pytest.fixture
def store(tmp_path) -> ModelStore:
    store = ModelStore(tmp_path / "models")
    install_moebius(store, tmp_path / "downloads", variants=("pretrained", "ffhq"))
    return store


def photo_and_mask(size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    image = gradient_photo(size, size, seed=3)
    mask = np.zeros((size, size), np.uint8)
    mask[150:380, 130:400] = 255  # large enough that the crop is the whole photo
    return image, mask


def reference_fill(store: ModelStore, image, mask, seed: int, steps: int, guidance: float) -> np.ndarray:
    """SPEC §9.2-9.8 for one 512x512 image, with the reference's randomness."""
    vae = load_vae(store.folder("moebius-vae"))
    unet = build_model(ENGINE_CONFIG)
    unet.load_state_dict(torch.load(store.file_path("moebius-pretrained"), weights_only=True))
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255 * 2 - 1
    m = (torch.from_numpy(mask).float() / 255 >= 0.5).float()[None, None]
    sf = vae.config.scaling_factor
    with torch.no_grad():
        torch.manual_seed(seed)
        z0 = vae.encode(x).latent_dist.sample() * sf
        zm = vae.encode(x * (1 - m)).latent_dist.sample() * sf
        noise = torch.randn(z0.shape)
        offset = torch.randn(1, 4, 1, 1)
        m_lat = torch.nn.functional.interpolate(m, size=(64, 64), mode="nearest")
        final = denoise(
            unet, clean_latents=z0, masked_latents=zm, latent_mask=m_lat, noise=noise, offset_noise=offset,
            num_steps=steps, guidance=guidance,
        )
        decoded = vae.decode(final / sf).sample
    generated = (((decoded[0] + 1) / 2).clamp(0, 1) * 255).to(torch.uint8).permute(1, 2, 0).numpy()
    blurred = Image.fromarray(np.where(mask > 127, 255, 0).astype(np.uint8)).convert("RGB").filter(ImageFilter.GaussianBlur(3))
    w = np.asarray(blurred, np.float64) / 255
    out = generated / 255.0 * w + (1 - w) * (image / 255.0)
    return (out * 255).astype(np.uint8)


def test_a_fill_follows_the_reference_pipeline(store):
    image, mask = photo_and_mask()
    engine = create_engine("moebius", "cpu", model_store=store)
    params = {"steps": 4, "guidance": 2.5, "seed": 7, "precision": "float32"}  # bfloat16: test_moebius_precision.py
    result = inpaint_image(engine, image, mask, params)
    expected = reference_fill(store, image, mask, seed=7, steps=4, guidance=2.5)
    difference = np.abs(result.astype(int) - expected.astype(int))
    assert difference.max() <= 1, difference.max()
    assert np.abs(result.astype(int) - image.astype(int))[mask > 0].mean() > 5  # the hole really changed


def test_pixels_beyond_the_blurred_mask_are_untouched_in_a_larger_photo(store):
    image = gradient_photo(700, 900, seed=1)
    mask = np.zeros((700, 900), np.uint8)
    mask[300:360, 400:470] = 255
    result = inpaint_image(create_engine("moebius", "cpu", model_store=store), image, mask, {"steps": 2})
    changed = np.any(result != image, axis=2)
    ys, xs = np.nonzero(changed)
    # The crop was scaled up to 512; the blurred weights reach a few pixels past the mask only.
    assert ys.min() >= 300 - 12 and ys.max() < 360 + 12 and xs.min() >= 400 - 12 and xs.max() < 470 + 12
    assert changed[300:360, 400:470].mean() > 0.9


def test_same_seed_same_fill_other_seed_other_fill(store):
    image, mask = photo_and_mask()
    engine = create_engine("moebius", "cpu", model_store=store)
    first = inpaint_image(engine, image, mask, {"steps": 2, "seed": 1})
    again = inpaint_image(engine, image, mask, {"steps": 2, "seed": 1})
    other = inpaint_image(engine, image, mask, {"steps": 2, "seed": 2})
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_try_again_skips_the_encode_and_fills_as_a_first_fill_would(store, monkeypatch):
    image, mask = photo_and_mask()
    encoded = []
    real_encode = moebius_runtime.vae_ops.encode_moments
    monkeypatch.setattr(
        moebius_runtime.vae_ops, "encode_moments", lambda vae, x, *rest: encoded.append(x.shape[0]) or real_encode(vae, x, *rest)
    )
    engine = create_engine("moebius", "cpu", model_store=store)
    first = inpaint_image(engine, image, mask, {"steps": 2, "seed": 1})
    assert len(encoded) == 2  # the photo and the photo with the hole
    again = inpaint_image(engine, image, mask, {"steps": 2, "seed": 2})  # Try Again: another seed
    assert len(encoded) == 2 and engine._runtime.encoded.hits == 2
    assert not np.array_equal(first, again)
    # What the cache gave is what encoding gives: the same seed in a fresh engine fills the same.
    cold = inpaint_image(create_engine("moebius", "cpu", model_store=store), image, mask, {"steps": 2, "seed": 2})
    assert np.array_equal(again, cold) and len(encoded) == 4
    other_mask = mask.copy()
    other_mask[100:140, 100:140] = 255
    inpaint_image(engine, image, other_mask, {"steps": 2, "seed": 2})
    assert len(encoded) == 5  # another hole in the same crop: its masked photo is encoded, the photo is not


def test_the_encode_cache_keeps_the_last_images_only():
    from inpaint_studio.engines.moebius.encode_cache import EncodeCache

    cache, calls = EncodeCache(entries=2), []

    def encode(image):
        calls.append(float(image.mean()))
        return image[:, :1] * 2, image[:, :1] + 1

    images = [torch.full((1, 3, 8, 8), float(value)) for value in range(3)]
    mean, std = cache.moments(torch.cat(images[:2]), torch.float32, encode)
    assert mean.shape == (2, 1, 8, 8) and torch.equal(mean[1], images[1][0, :1] * 2) and torch.equal(std[0], images[0][0, :1] + 1)
    cache.moments(images[1], torch.float32, encode)  # a hit, and now the most recent
    cache.moments(images[2], torch.float32, encode)  # evicts image 0
    cache.moments(images[1], torch.bfloat16, encode)  # another precision is another entry
    assert calls == [0.0, 1.0, 2.0, 1.0]
    cache.moments(images[0], torch.float32, encode)
    assert calls[-1] == 0.0 and cache.hits == 1


def test_the_variant_chooses_the_weights(store):
    image, mask = photo_and_mask()
    engine = create_engine("moebius", "cpu", model_store=store)
    pretrained = inpaint_image(engine, image, mask, {"steps": 2})
    ffhq = inpaint_image(engine, image, mask, {"steps": 2, "variant": "ffhq"})
    assert not np.array_equal(pretrained, ffhq)
    assert MoebiusEngine.required_models({"variant": "ffhq"}) == ("moebius-ffhq", "moebius-vae")


def test_missing_weights_say_what_to_download(tmp_path):
    store = ModelStore(tmp_path / "empty")
    engine = create_engine("moebius", "cpu", model_store=store)
    assert "moebius-pretrained" in engine.readiness() and "moebius-vae" in engine.readiness()
    assert engine.missing_models({"variant": "places2"}) == ["moebius-places2", "moebius-vae"]
    image, mask = photo_and_mask()
    with pytest.raises(EngineNotReadyError, match="models download moebius-pretrained"):
        inpaint_image(engine, image, mask, {"steps": 1})


def test_damaged_or_foreign_weights_are_refused_with_the_file_named(tmp_path):
    store = ModelStore(tmp_path / "models")
    install_moebius(store, tmp_path / "downloads")
    unet_file = store.file_path("moebius-pretrained")
    damaged = bytearray(unet_file.read_bytes())
    damaged[:4000] = bytes(4000)  # same size, so the store still counts it as installed
    unet_file.write_bytes(bytes(damaged))
    image, mask = photo_and_mask()
    with pytest.raises(ModelError, match="diffusion_pytorch_model.bin"):
        inpaint_image(create_engine("moebius", "cpu", model_store=store), image, mask, {"steps": 1})

    store.import_file("moebius-pretrained", _foreign_weights(tmp_path / "foreign.bin"))
    with pytest.raises(ModelError, match="do not fit the network") as refused:
        inpaint_image(create_engine("moebius", "cpu", model_store=store), image, mask, {"steps": 1})
    # What differs, not only torch's first line ("Error(s) in loading state_dict for MoebiusModel:").
    message = str(refused.value)
    assert "missing from the file" in message and "not in the network (some.other.weight)" in message


def _foreign_weights(path):
    torch.save({"some.other.weight": torch.zeros(3)}, path)
    return path


def test_a_vae_saved_with_old_attention_names_loads(tmp_path):
    renames = {"to_q.": "query.", "to_k.": "key.", "to_v.": "value.", "to_out.0.": "proj_attn."}

    def old_names(state):
        renamed = {}
        for key, value in state.items():
            for new, old in renames.items():
                key = key.replace(f".{new}", f".{old}") if ".attentions." in key else key
            renamed[key] = value
        return renamed

    current = load_vae(write_vae(tmp_path / "new"))
    old = load_vae(write_vae(tmp_path / "old", state_transform=old_names))
    assert any("query" in k for k in torch.load(tmp_path / "old" / "diffusion_pytorch_model.bin", weights_only=True))
    for (name, a), (_, b) in zip(current.state_dict().items(), old.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_cancel_stops_between_steps(store):
    image, mask = photo_and_mask()
    engine = create_engine("moebius", "cpu", model_store=store)
    token = CancelToken()
    fractions = []

    def progress(fraction):
        fractions.append(fraction)
        if len(fractions) == 5:  # start, encodes, then two steps
            token.cancel()

    with pytest.raises(JobCancelled):
        inpaint_patches(engine, image, mask, {"steps": 20}, progress=progress, cancel=token)
    assert len(fractions) == 5


def test_progress_rises_per_step_and_previews_show_the_crop(store):
    image = gradient_photo(600, 800, seed=2)
    mask = np.zeros((600, 800), np.uint8)
    mask[200:300, 300:420] = 255
    previews, fractions = [], []
    engine = create_engine("moebius", "cpu", model_store=store)
    patches = inpaint_patches(engine, image, mask, {"steps": 5}, progress=fractions.append, preview=previews.append)
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert len(previews) == 4  # one per UNet evaluation (5-step grid, strength 0.99)
    (final,) = patches
    for preview in previews:
        assert (preview.x, preview.y, preview.rgb.shape) == (final.x, final.y, final.rgb.shape)
        assert np.array_equal(preview.alpha, final.alpha)


def test_the_worker_sends_previews_then_the_result(store):
    image, mask = photo_and_mask()
    messages = []
    done = threading.Event()

    def on_message(message):
        messages.append(message)
        if isinstance(message, JobFinished):
            done.set()

    worker = EngineWorker(on_message, model_store=store)
    try:
        worker.submit(FillRequest.snapshot(image, mask, "moebius", params={"steps": 3}))
        assert done.wait(120)
    finally:
        worker.shutdown()
    kinds = [type(m).__name__ for m in messages]
    assert kinds.count("JobPreview") == 2 and kinds[-1] == "JobFinished"
    assert all(isinstance(m, JobPreview) for m in messages if type(m).__name__ == "JobPreview")


def test_fast_preset_skips_work_and_keeps_the_photo_outside_its_window(store, monkeypatch):
    image, mask = photo_and_mask()
    mask[:] = 0
    mask[200:260, 220:300] = 255
    steps_run = []
    real_denoise = moebius_runtime.denoise

    def counting_denoise(*args, **kwargs):
        steps_run.append(kwargs["num_steps"])
        return real_denoise(*args, **kwargs)

    encoded_batches = []
    real_encode = moebius_runtime.vae_ops.encode_moments
    monkeypatch.setattr(moebius_runtime, "denoise", counting_denoise)
    monkeypatch.setattr(
        moebius_runtime.vae_ops,
        "encode_moments",
        lambda vae, x, *rest: encoded_batches.append(x.shape[0]) or real_encode(vae, x, *rest),
    )
    engine = create_engine("moebius", "cpu", model_store=store)
    engine.inpaint(image, mask, engine.resolve_params({"preset": "fast"}), EngineContext())
    fast = engine._runtime.fill(image, mask, engine.resolve_params({"preset": "fast"}), EngineContext())
    exact = engine._runtime.fill(image, mask, engine.resolve_params({}), EngineContext())
    assert steps_run == [4, 4, 20]
    # The fast preset (strength 1) encodes the masked photo only, once for the same crop (encode_cache.py);
    # the exact one also needs the photo.
    assert encoded_batches == [1, 1]
    window = decode_window_for(torch.from_numpy(mask[::8, ::8] > 0), 8)
    rows, cols = window.pixels
    outside = np.ones(mask.shape, bool)
    outside[rows, cols] = False
    assert np.array_equal(fast[outside], image[outside])
    assert not np.array_equal(exact[outside], image[outside])


def test_decode_window_covers_the_mask_plus_margin():
    cells = torch.zeros(64, 64, dtype=torch.bool)
    cells[10:20, 30:33] = True
    assert decode_window_for(cells, 4) == LatentWindow(6, 24, 26, 37)
    assert decode_window_for(cells, 40) == LatentWindow(0, 60, 0, 64)
    assert LatentWindow(0, 64, 0, 64).covers_all(64)


def test_a_full_window_decode_is_the_full_decode(tmp_path):
    vae = load_vae(write_vae(tmp_path / "vae"))
    latents = torch.randn(1, 4, 16, 16)
    with torch.no_grad():
        assert torch.equal(decode(vae, latents), decode(vae, latents, LatentWindow(0, 16, 0, 16)))


def test_listing_engines_does_not_import_torch():
    code = (
        "import sys; from inpaint_studio.engines.registry import engine_class, engine_ids; "
        "[engine_class(e).info for e in engine_ids()]; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_the_command_line_fills_with_moebius_and_names_missing_models(tmp_path, capsys, store):
    from inpaint_studio.cli import main

    image, mask = photo_and_mask()
    Image.fromarray(image).save(tmp_path / "photo.png")
    Image.fromarray(mask).save(tmp_path / "mask.png")
    base = ["remove", str(tmp_path / "photo.png"), "--mask", str(tmp_path / "mask.png"), "--engine", "moebius"]
    assert main(base + ["--models-dir", str(tmp_path / "none")]) == 1
    error = capsys.readouterr().err
    assert "models download moebius-pretrained` and `inpaint-studio models download moebius-vae`" in error
    assert main(base + ["--models-dir", str(store.root), "--param", "variant=places2"]) == 1
    assert "models download moebius-places2`" in capsys.readouterr().err

    out = tmp_path / "out.png"
    assert main(base + ["--models-dir", str(store.root), "--param", "steps=2", "--param", "seed=3", "-o", str(out)]) == 0
    result = np.asarray(Image.open(out))
    assert np.array_equal(result[:100], image[:100])  # rows far above the mask are the photo's
    assert np.abs(result.astype(int) - image.astype(int))[mask > 0].mean() > 5


def test_cancel_takes_effect_inside_a_step_and_leaves_no_hooks(store):
    image, mask = photo_and_mask()
    engine = create_engine("moebius", "cpu", model_store=store)
    inpaint_patches(engine, image, mask, {"steps": 2})  # loads the models
    unet = engine._runtime.unet
    token = CancelToken()
    # Cancel as the first transformer of the first step finishes, as a click on Cancel would.
    handle = unet.diff_model.down_blocks[0].attentions[0].register_forward_hook(lambda *args: token.cancel())
    fractions = []
    try:
        with pytest.raises(JobCancelled):
            inpaint_patches(engine, image, mask, {"steps": 20}, progress=fractions.append, cancel=token)
    finally:
        handle.remove()
    assert len(fractions) == 2  # start and the encodes: the first step never reported
    hooked = [m for m in (*unet.modules(), *engine._runtime.vae.modules()) if m._forward_pre_hooks]
    assert hooked == []


def test_a_vae_config_of_absurd_size_is_refused_before_anything_is_built(tmp_path, monkeypatch):
    import json

    from moebius_fixtures import VAE_CONFIG

    import inpaint_studio.engines.moebius.vae as vae_module

    folder = write_vae(tmp_path / "vae")
    config = dict(VAE_CONFIG, block_out_channels=[4096] * 8, layers_per_block=8, norm_num_groups=32)
    config["down_block_types"] = ["DownEncoderBlock2D"] * 8
    config["up_block_types"] = ["UpDecoderBlock2D"] * 8
    (folder / "config.json").write_text(json.dumps(config))
    allocated = []
    real_empty = torch.empty

    def counting_empty(*args, **kwargs):
        tensor = real_empty(*args, **kwargs)
        if tensor.device.type != "meta":
            allocated.append(tensor.numel())
        return tensor

    monkeypatch.setattr(torch, "empty", counting_empty)
    with pytest.raises(ModelError) as caught:
        load_vae(folder)
    assert str(caught.value).startswith(f"The VAE configuration {folder / 'config.json'} describes a network of ")
    assert "billion parameters" in str(caught.value) and "not the right file" in str(caught.value)
    assert sum(allocated) < 1_000_000
    monkeypatch.undo()

    for key, value in [("layers_per_block", 10**9), ("block_out_channels", "64"), ("latent_channels", True)]:
        (folder / "config.json").write_text(json.dumps(dict(VAE_CONFIG, **{key: value})))
        with pytest.raises(ModelError, match=f"has an invalid {key}"):
            load_vae(folder)
    monkeypatch.setattr(vae_module, "MAX_VAE_PARAMETERS", 1000)
    (folder / "config.json").write_text(json.dumps(VAE_CONFIG))
    with pytest.raises(ModelError, match="describes a network of"):
        load_vae(folder)


def test_vae_weights_that_do_not_fit_name_what_differs(tmp_path):
    def damage(state):
        state = dict(state)
        del state["encoder.conv_in.bias"]
        state["decoder.conv_out.weight"] = torch.zeros(3, 8, 1, 1)
        return state

    folder = write_vae(tmp_path / "vae", state_transform=damage)
    with pytest.raises(ModelError) as caught:
        load_vae(folder)
    message = str(caught.value)
    assert "1 tensor is missing from the file (encoder.conv_in.bias)" in message
    assert "decoder.conv_out.weight: [3, 8, 1, 1] in the file, [3, 8, 3, 3] expected" in message
    assert "\n" not in message and "Error(s)" not in message

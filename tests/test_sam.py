"""Click-to-select with MobileSAM: the network's layout against the published weights, a small random
network end to end, loading through the model store, and `inpaint-studio select --method sam`."""

from __future__ import annotations

import hashlib
import statistics
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from conftest import REPO, gradient_photo
from PIL import Image

from inpaint_studio.cli import main
from inpaint_studio.core.boxes import Box
from inpaint_studio.core.errors import InpaintStudioError, JobCancelled, ModelError
from inpaint_studio.core.jobs import CancelToken
from inpaint_studio.models import ModelStore, model_info
from inpaint_studio.selection.prompts import Point, SelectMethod, select
from inpaint_studio.selection.sam import MODEL_ID
from inpaint_studio.selection.sam.model import MOBILE_SAM, Sam, SamConfig, input_size
from inpaint_studio.selection.sam.prompt_encoder import BACKGROUND, OBJECT
from inpaint_studio.selection.sam.session import SamSession
from inpaint_studio.selection.sam.tiny_vit import TinyViTConfig

# A network of the same architecture, a few thousand parameters: embeds a photo in well under a second.
TINY = SamConfig(
    encoder=TinyViTConfig(
        image_size=256,
        embed_dims=(8, 16, 16, 32),
        depths=(1, 1, 1, 1),
        num_heads=(1, 1, 2, 2),
        window_sizes=(7, 7, 7, 7),
        out_channels=32,
        num_classes=4,
    ),
    mask_in_chans=4,
    decoder_heads=2,
    decoder_mlp_dim=64,
    iou_head_hidden_dim=16,
)

# The published file's layout, measured by building the official code (ChaoningZhang/MobileSAM at
# 34bbbfd, `build_sam_vit_t()`, timm's layers stubbed) and hashing "name:shape" of every state-dict
# entry, sorted. Its total parameter count is 10,130,092 (the README rounds the parts it runs to 9.66M:
# the count here includes TinyViT's unused ImageNet head, 0.32M, whose weights the file holds).
OFFICIAL_FINGERPRINT = "a8bad9ba980d6576c9dd384e5bc945ed29f6a6374cdb35ad80b2cc7a599ba3ac"
OFFICIAL_ENTRIES, OFFICIAL_PARAMETERS = 439, 10_130_092

# A sample of entries, read off the official modules (Conv2d_BN is `c` + `bn`; ConvTranspose2d
# weights are (in, out, k, k); the decoder's cross-attention narrows 256 to 128).
OFFICIAL_SHAPES = {
    "image_encoder.patch_embed.seq.0.c.weight": (32, 3, 3, 3),
    "image_encoder.patch_embed.seq.0.bn.num_batches_tracked": (),
    "image_encoder.patch_embed.seq.2.c.weight": (64, 32, 3, 3),
    "image_encoder.layers.0.blocks.0.conv3.bn.running_var": (64,),
    "image_encoder.layers.0.blocks.1.conv2.c.weight": (256, 1, 3, 3),
    "image_encoder.layers.0.downsample.conv1.c.weight": (128, 64, 1, 1),
    "image_encoder.layers.0.downsample.conv2.c.weight": (128, 1, 3, 3),
    "image_encoder.layers.1.blocks.0.attn.qkv.weight": (384, 128),
    "image_encoder.layers.1.blocks.0.attn.attention_biases": (4, 49),
    "image_encoder.layers.2.blocks.5.attn.attention_biases": (5, 196),
    "image_encoder.layers.2.blocks.5.attn.proj.weight": (160, 160),
    "image_encoder.layers.2.blocks.5.mlp.fc1.weight": (640, 160),
    "image_encoder.layers.2.blocks.5.local_conv.c.weight": (160, 1, 3, 3),
    "image_encoder.layers.2.downsample.conv2.c.weight": (320, 1, 3, 3),
    "image_encoder.layers.3.blocks.1.attn.attention_biases": (10, 49),
    "image_encoder.layers.3.blocks.1.mlp.norm.weight": (320,),
    "image_encoder.norm_head.weight": (320,),
    "image_encoder.head.weight": (1000, 320),
    "image_encoder.neck.0.weight": (256, 320, 1, 1),
    "image_encoder.neck.1.weight": (256,),
    "image_encoder.neck.2.weight": (256, 256, 3, 3),
    "image_encoder.neck.3.bias": (256,),
    "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix": (2, 128),
    "prompt_encoder.point_embeddings.3.weight": (1, 256),
    "prompt_encoder.not_a_point_embed.weight": (1, 256),
    "prompt_encoder.mask_downscaling.0.weight": (4, 1, 2, 2),
    "prompt_encoder.mask_downscaling.3.weight": (16, 4, 2, 2),
    "prompt_encoder.mask_downscaling.6.weight": (256, 16, 1, 1),
    "prompt_encoder.no_mask_embed.weight": (1, 256),
    "mask_decoder.transformer.layers.0.self_attn.q_proj.weight": (256, 256),
    "mask_decoder.transformer.layers.1.cross_attn_token_to_image.k_proj.weight": (128, 256),
    "mask_decoder.transformer.layers.1.cross_attn_image_to_token.out_proj.weight": (256, 128),
    "mask_decoder.transformer.layers.1.mlp.lin1.weight": (2048, 256),
    "mask_decoder.transformer.layers.1.norm4.weight": (256,),
    "mask_decoder.transformer.final_attn_token_to_image.v_proj.weight": (128, 256),
    "mask_decoder.transformer.norm_final_attn.bias": (256,),
    "mask_decoder.iou_token.weight": (1, 256),
    "mask_decoder.mask_tokens.weight": (4, 256),
    "mask_decoder.output_upscaling.0.weight": (256, 64, 2, 2),
    "mask_decoder.output_upscaling.1.weight": (64,),
    "mask_decoder.output_upscaling.3.weight": (64, 32, 2, 2),
    "mask_decoder.output_hypernetworks_mlps.3.layers.2.weight": (32, 256),
    "mask_decoder.iou_prediction_head.layers.2.weight": (4, 256),
}


def fingerprint(state: dict[str, torch.Tensor]) -> str:
    lines = "\n".join(f"{name}:{tuple(tensor.shape)}" for name, tensor in sorted(state.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


@pytest.fixture(scope="module")
def full_weights(tmp_path_factory):
    """A randomly initialised full-size MobileSAM saved as a plain state dict, as the published file is."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "mobile_sam.pt"
    torch.save(Sam(MOBILE_SAM).state_dict(), path)
    return path


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return SamSession(Sam(TINY).eval(), "cpu")


def photo_file(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(gradient_photo(200, 300)).save(path)
    return path


# -- the network ----------------------------------------------------------------------------------


def test_the_full_network_has_the_published_files_names_and_shapes():
    model = Sam(MOBILE_SAM)
    state = model.state_dict()
    for name, shape in OFFICIAL_SHAPES.items():
        assert tuple(state[name].shape) == shape, name
    # Helpers computed at build time are not weights and must not be asked of the file.
    assert not [name for name in state if "bias_index" in name or "pixel_" in name]
    assert len(state) == OFFICIAL_ENTRIES
    assert sum(p.numel() for p in model.parameters()) == OFFICIAL_PARAMETERS
    assert fingerprint(state) == OFFICIAL_FINGERPRINT


def test_a_small_network_embeds_a_photo_and_answers_clicks_and_boxes(tiny):
    photo = gradient_photo(200, 300)
    with pytest.raises(RuntimeError, match="embed"):
        tiny.predict([(10, 10, True)])
    tiny.embed(photo)
    assert tiny.embedded_size == (200, 300)
    prompts = [
        ([(150, 100, True)], None),
        ([(150, 100, True), (20, 30, False), (280, 190, True)], None),
        ([], Box(50, 40, 250, 160)),
        ([(100, 100, False)], Box(50, 40, 250, 160)),
    ]
    for points, box in prompts:
        mask = tiny.predict(points, box)
        assert mask.shape == (200, 300) and mask.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 255}
    assert not tiny.predict([], None).any()


def decoder_logits(session: SamSession, points, box, multimask: bool):
    """What the decoder answers for prompts already in the encoder's input pixels."""
    sam = session.model
    coords = torch.tensor([[[x, y] for x, y, _ in points]], dtype=torch.float32) if points else None
    labels = torch.tensor([[OBJECT if inside else BACKGROUND for *_, inside in points]]) if points else None
    boxes = torch.tensor([box], dtype=torch.float32) if box else None
    with torch.inference_mode():
        sparse, dense = sam.prompt_encoder((coords, labels) if points else None, boxes)
        return sam.mask_decoder(session._embedding.features, sam.prompt_encoder.dense_positions(), sparse, dense, multimask)


def upscaled(logits: torch.Tensor, input_hw: tuple[int, int], photo_hw: tuple[int, int]) -> np.ndarray:
    """SAM's way out, written with PIL for the last resize: logits > 0 at the photo's size."""
    side = TINY.encoder.image_size
    padded = torch.nn.functional.interpolate(logits[None, None], (side, side), mode="bilinear")[0, 0]
    content = Image.fromarray(padded[: input_hw[0], : input_hw[1]].numpy())
    return np.asarray(content.resize(photo_hw[::-1], Image.Resampling.BILINEAR)) > 0


def test_one_click_keeps_the_best_of_three_candidates_and_more_prompts_the_single_mask(tiny):
    tiny.embed(gradient_photo(200, 300))
    input_hw = input_size(200, 300, TINY.encoder.image_size)
    sx, sy = input_hw[1] / 300, input_hw[0] / 200  # photo pixels to encoder-input pixels

    logits, iou = decoder_logits(tiny, [(150 * sx, 100 * sy, True)], None, multimask=True)
    assert logits.shape[1] == 3
    expected = upscaled(logits[0, int(iou[0].argmax())], input_hw, (200, 300))
    assert np.mean((tiny.predict([(150, 100, True)]) > 0) == expected) > 0.99  # resizers differ where a logit is about 0

    clicks = [(150, 100, True), (20, 30, False)]
    logits, _ = decoder_logits(tiny, [(x * sx, y * sy, inside) for x, y, inside in clicks], None, multimask=False)
    assert logits.shape[1] == 1
    assert np.mean((tiny.predict(clicks) > 0) == upscaled(logits[0, 0], input_hw, (200, 300))) > 0.99


def test_a_click_takes_milliseconds_once_the_photo_is_embedded(tiny):
    tiny.embed(gradient_photo(200, 300))
    tiny.predict([(150, 100, True)])  # the first call sets up kernels
    times = []
    for i in range(10):
        started = time.perf_counter()
        tiny.predict([(150, 100 + i, True), (20, 30, False)])
        times.append(time.perf_counter() - started)
    assert statistics.median(times) < 0.05, times


def test_a_cancelled_embedding_stops_and_keeps_the_previous_photo(tiny):
    tiny.embed(gradient_photo(200, 300))
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(JobCancelled):
        tiny.embed(gradient_photo(100, 100), cancel)
    assert tiny.embedded_size == (200, 300)


def test_select_with_sam_needs_a_session_and_an_object_prompt(tiny):
    photo = gradient_photo(200, 300)
    with pytest.raises(InpaintStudioError, match="MobileSAM"):
        select(photo, SelectMethod.SAM, [Point(10, 10)])
    with pytest.raises(InpaintStudioError, match="at least one point on it"):
        select(photo, SelectMethod.SAM, [Point(10, 10, False)], sam=tiny)
    mask = select(photo, SelectMethod.SAM, [Point(10, 10)], Box(0, 0, 500, 150), sam=tiny)  # the box is clipped
    assert mask.shape == (200, 300)


def test_selection_modules_import_without_torch():
    code = (
        "import sys\n"
        "import inpaint_studio.selection.prompts, inpaint_studio.selection.grabcut, inpaint_studio.selection.sam\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


# -- the model file -------------------------------------------------------------------------------


def test_the_catalogue_lists_mobile_sam_from_its_official_release():
    info = model_info(MODEL_ID)
    assert (info.engine, info.licence, info.format) == ("sam", "Apache-2.0", "state_dict")
    [file] = info.files
    assert file.url == "https://github.com/ChaoningZhang/MobileSAM/raw/master/weights/mobile_sam.pt"
    assert file.name == "mobile_sam.pt" and file.md5 == "f3c0d8cda613564d499310dab6c812cd"


def test_weights_installed_in_the_store_load_into_a_session(full_weights, tmp_path):
    store = ModelStore(tmp_path / "models")
    store.import_file(MODEL_ID, full_weights, allow_unknown=True)  # random weights: not the published checksum
    session = SamSession(store.require(MODEL_ID))
    saved = torch.load(full_weights, weights_only=True)
    loaded = session.model.state_dict()
    assert all(torch.equal(loaded[name], tensor) for name, tensor in saved.items())


def test_a_damaged_or_foreign_file_is_refused_with_a_message_naming_it(full_weights, tmp_path):
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(full_weights.read_bytes()[:100_000])
    with pytest.raises(ModelError, match="truncated.pt"):
        SamSession(truncated)
    foreign = tmp_path / "tiny.pt"
    torch.save(Sam(TINY).state_dict(), foreign)
    with pytest.raises(ModelError, match=r"tiny\.pt is not MobileSAM's weights: .*another shape"):
        SamSession(foreign)


# -- the command line -----------------------------------------------------------------------------


def test_select_with_sam_says_how_to_install_the_model(tmp_path, capsys):
    out = tmp_path / "mask.png"
    argv = ["select", str(photo_file(tmp_path)), "--method", "sam", "--point", "150,100", "-o", str(out)]
    assert main([*argv, "--models-dir", str(tmp_path / "models")]) == 1
    error = capsys.readouterr().err.strip()
    assert "inpaint-studio models download mobile-sam" in error and len(error.splitlines()) == 1
    assert not out.exists()


def test_select_with_sam_writes_a_mask_of_the_photos_size(full_weights, tmp_path, capsys):
    models = tmp_path / "models"
    ModelStore(models).import_file(MODEL_ID, full_weights, allow_unknown=True)
    out = tmp_path / "mask.png"
    argv = ["select", str(photo_file(tmp_path)), "--method", "sam", "--point", "150,100", "--box", "50,40,250,160"]
    assert main([*argv, "-o", str(out), "--models-dir", str(models), "--device", "cpu"]) == 0
    assert "sam" in capsys.readouterr().out
    mask = np.asarray(Image.open(out))
    assert mask.shape == (200, 300) and set(np.unique(mask)) <= {0, 255}

"""The learned damage detector: its network, its shipped weights, and the training script (Qt-free)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import gradient_photo

from inpaint_studio.core.errors import ModelError
from inpaint_studio.restore import (
    damage_map,
    damage_net,
    degrade,
    detect_damage,
    score_detection,
)
from inpaint_studio.restore.detect import DEFAULT_DETECTOR, DETECTORS

torch = pytest.importorskip("torch")
REPO = Path(__file__).resolve().parent.parent


def random_network(seed: int = 0, normalise: bool = False):
    torch.manual_seed(seed)
    return damage_net.build_network(normalise).eval()


def test_the_learned_detector_is_the_default_and_its_weights_ship_with_the_package():
    assert DEFAULT_DETECTOR == "learned"
    assert damage_net.default_weights().is_file()
    assert damage_net.default_weights().stat().st_size < 2_000_000


def test_batch_norm_folds_into_the_convolutions_exactly():
    trained = random_network(normalise=True)
    for module in trained.modules():  # statistics as training leaves them, not the identity
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)
    folded = damage_net.build_network()
    folded.load_state_dict(damage_net.fold_batch_norm(trained))
    x = torch.randn(1, damage_net.IN_CHANNELS, 37, 50)
    with torch.no_grad():
        assert torch.allclose(trained(x), folded.eval()(x), atol=1e-4)


def test_tiles_join_without_seams(monkeypatch):
    """A photo larger than one tile gives the logits of one pass over the whole photo."""
    network = random_network(1)
    photo = degrade(gradient_photo(300, 420), seed=2).image
    whole = damage_net.damage_logits(photo, network)
    monkeypatch.setattr(damage_net, "TILE", 128)
    tiled = damage_net.damage_logits(photo, network)
    assert np.abs(whole - tiled).max() < 1e-4


def test_a_large_photo_is_analysed_scaled_down_and_answered_at_full_size(monkeypatch):
    monkeypatch.setattr(damage_net, "WORK_SIDE", 64)
    seen = []
    network = random_network(2)
    network.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].shape))
    logits = damage_net.damage_logits(gradient_photo(128, 200), network)
    assert logits.shape == (128, 200) and logits.dtype == np.float32
    assert seen == [(1, damage_net.IN_CHANNELS, 64, 100)]


@pytest.mark.parametrize("seed", [0, 1])
def test_the_shipped_detector_finds_drawn_damage_to_the_pixel(seed):
    damaged = degrade(gradient_photo(256, 320), seed=seed)
    found = detect_damage(damaged.image)
    assert score_detection(found, damaged.mask).f1 > 0.9
    assert score_detection(found, damaged.mask, tolerance=0).f1 > 0.8


def test_the_shipped_detector_leaves_a_clean_photo_alone():
    photo = gradient_photo(256, 320)
    assert np.count_nonzero(detect_damage(photo)) / photo[..., 0].size < 0.001


def test_higher_sensitivity_finds_a_superset():
    damaged = degrade(gradient_photo(200, 240), seed=5)
    evidence = damage_map(damaged.image)
    masks = [evidence.mask(s) > 127 for s in (0.0, 0.25, 0.5, 0.75, 1.0)]
    for lower, higher in zip(masks, masks[1:], strict=False):
        assert not (lower & ~higher).any()
    assert masks[0].sum() < masks[-1].sum()


def test_the_fill_is_grown_only_for_the_classical_detector():
    assert DETECTORS["learned"].fill_grow == 0 and DETECTORS["classical"].fill_grow > 0
    damaged = degrade(gradient_photo(160, 200), seed=3)
    evidence = damage_map(damaged.image)
    assert np.array_equal(evidence.fill_mask(0.4), evidence.mask(0.4))


def test_missing_or_foreign_weights_are_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        damage_net.load_network(tmp_path / "absent.safetensors")
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"conv.weight": torch.zeros(3, 3)}, str(foreign))
    with pytest.raises(ModelError, match="do not fit"):
        damage_net.load_network(foreign)


def test_unknown_detector_is_a_clear_error():
    from inpaint_studio.core.errors import InpaintStudioError

    with pytest.raises(InpaintStudioError, match="Unknown damage detector 'magic'"):
        detect_damage(gradient_photo(32, 32), 0.4, "magic")


def test_training_script_writes_weights_the_detector_loads(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for index in range(3):
        photo = cv2.resize(gradient_photo(120, 160), (640, 520))
        cv2.imwrite(str(photos / f"photo{index}.png"), np.roll(photo, 40 * index, axis=1))
    out, checkpoint = tmp_path / "detector.safetensors", tmp_path / "checkpoint.safetensors"
    command = [sys.executable, str(REPO / "tools" / "train_damage_detector.py"), str(photos), "--out", str(out),
               "--steps", "2", "--validation", "1", "--variants", "1", "--crops", "2", "--batch", "2", "--check-every", "2"]
    run = subprocess.run([*command, "--checkpoint", str(checkpoint)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "validation F1" in run.stdout
    network = damage_net.load_network(out)
    assert damage_net.damage_logits(gradient_photo(64, 64), network).shape == (64, 64)
    # Training goes on from the checkpoint (the unfolded network with its batch normalisation).
    # ... here with the extra loss weight beside damage and a lower learning rate.
    fine_tune = ["--init", str(checkpoint), "--near-weight", "4", "--lr", "1e-3"]
    resumed = subprocess.run([*command, *fine_tune], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "starting from" in resumed.stdout
    # ... or from shipped weights, whose batch normalisation is folded in.
    from_shipped = subprocess.run([*command, "--init", str(out), "--lr", "1e-4", "--out", str(tmp_path / "tuned.safetensors")],
                                  capture_output=True, text=True, timeout=300)
    assert from_shipped.returncode == 0, from_shipped.stderr
    assert "starting from" in from_shipped.stdout
    assert damage_net.load_network(tmp_path / "tuned.safetensors") is not None


def test_detection_reports_progress_tile_by_tile_and_stops_when_cancelled():
    from inpaint_studio.core.errors import JobCancelled
    from inpaint_studio.core.jobs import CancelToken

    photo = gradient_photo(800, 900, seed=4)  # 2 x 2 tiles
    fractions: list[float] = []
    damage_map(photo, "learned", progress=fractions.append)
    assert fractions == [0.0, 0.25, 0.5, 0.75, 1.0]
    cancel = CancelToken()
    seen: list[float] = []

    def cancel_after_the_first_tile(fraction: float) -> None:
        seen.append(fraction)
        if fraction > 0:
            cancel.cancel()

    with pytest.raises(JobCancelled):
        damage_map(photo, "learned", progress=cancel_after_the_first_tile, cancel=cancel)
    assert seen == [0.0, 0.25]
    classical: list[float] = []
    damage_map(photo[:100, :100], "classical", progress=classical.append)
    assert classical == [0.0, 1.0]

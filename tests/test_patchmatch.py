"""The PatchMatch engine: contract, determinism, texture fills, cancelling and odd crops."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from inpaint_studio.core.errors import JobCancelled
from inpaint_studio.core.jobs import CancelToken
from inpaint_studio.engines.base import EngineContext
from inpaint_studio.engines.pipeline import inpaint_image
from inpaint_studio.engines.registry import create_engine


@pytest.fixture(scope="module")
def engine():
    return create_engine("patchmatch")


def run(engine, image, mask, progress=None, cancel=None, preview=None, **params):
    return engine.inpaint(
        image,
        mask,
        engine.resolve_params(params),
        EngineContext(progress or (lambda fraction: None), cancel or CancelToken(), preview),
    )


def noise_photo(height=96, width=96, seed=1):
    """Smooth colour gradients plus grain: a stand-in for a photo."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.dstack([80 + xx, 60 + yy, 160 - 0.5 * (xx + yy)])
    return np.clip(base + rng.normal(0, 12, (height, width, 3)), 0, 255).astype(np.uint8)


def box_mask(height, width, y0, y1, x0, x1):
    mask = np.zeros((height, width), np.uint8)
    mask[y0:y1, x0:x1] = 255
    return mask


def periodic(kind, size=96):
    yy, xx = np.mgrid[0:size, 0:size]
    if kind == "stripes":
        grey = (xx // 4) % 2
    elif kind == "diagonal":
        grey = ((xx + yy) // 5) % 2
    else:  # checker
        grey = (yy // 4 + xx // 4) % 2
    return np.dstack([40 + 180 * grey, 30 + 90 * grey, 200 - 150 * grey]).astype(np.uint8)


def test_shape_dtype_and_untouched_outside(engine):
    image = noise_photo()
    mask = box_mask(96, 96, 30, 60, 20, 50)
    out = run(engine, image, mask)
    assert out.shape == image.shape and out.dtype == np.uint8
    keep = mask == 0
    assert np.array_equal(out[keep], image[keep])


def test_hole_content_never_leaks(engine):
    """Whatever is under the mask (the object being removed) must not shape the fill."""
    image = noise_photo()
    mask = box_mask(96, 96, 30, 60, 20, 50)
    other = image.copy()
    other[mask > 0] = (255, 0, 255)
    assert np.array_equal(run(engine, image, mask), run(engine, other, mask))


def test_pipeline_keeps_pixels_away_from_the_mask(engine):
    image = noise_photo(160, 200)
    mask = box_mask(160, 200, 60, 90, 80, 120)
    out = inpaint_image(engine, image, mask)
    near = np.zeros(mask.shape, bool)
    near[55:95, 75:125] = True  # the mask plus the feather band
    assert np.array_equal(out[~near], image[~near])
    assert out.shape == image.shape and out.dtype == np.uint8


def test_deterministic_for_a_seed_and_seeds_differ(engine):
    image = noise_photo()
    mask = box_mask(96, 96, 25, 70, 25, 70)
    first = run(engine, image, mask, seed=3)
    assert np.array_equal(first, run(engine, image, mask, seed=3))
    assert not np.array_equal(first, run(engine, image, mask, seed=4))


def test_same_result_on_any_number_of_threads(engine, monkeypatch):
    """Sweeps run as row bands on a thread pool; the bands, not the threads, fix the result."""
    from concurrent.futures import ThreadPoolExecutor

    from inpaint_studio.engines import patchmatch

    image = noise_photo(160, 160)
    mask = box_mask(160, 160, 30, 130, 40, 120)  # big enough for several bands
    expected = run(engine, image, mask)
    monkeypatch.setattr(patchmatch, "_pool_instance", ThreadPoolExecutor(max_workers=1))
    assert np.array_equal(run(engine, image, mask), expected)
    # Two jobs at once (e.g. the GUI and a batch) share the pool without interfering.
    with ThreadPoolExecutor(max_workers=2) as outer:
        results = list(outer.map(lambda _: run(engine, image, mask), range(2)))
    assert all(np.array_equal(r, expected) for r in results)


@pytest.mark.parametrize("kind", ["stripes", "diagonal", "checker"])
def test_fills_periodic_texture_with_the_texture(engine, kind):
    image = periodic(kind)
    mask = box_mask(96, 96, 35, 61, 30, 62)
    hole = mask > 0
    out = run(engine, image, mask)
    error = np.abs(out[hole].astype(float) - image[hole]).mean()
    mean_fill = image[~hole].mean(axis=0)
    mean_error = np.abs(mean_fill - image[hole]).mean()
    assert error < 0.25 * mean_error, (error, mean_error)


def test_progress_is_monotonic_and_reaches_one(engine):
    seen = []
    run(engine, noise_photo(), box_mask(96, 96, 20, 76, 20, 76), progress=seen.append)
    assert seen and seen[-1] == 1.0
    assert all(b >= a for a, b in zip(seen, seen[1:], strict=False))
    assert all(0.0 <= f <= 1.0 for f in seen)
    assert len(seen) > 3


def test_progress_moves_in_small_even_steps(engine):
    """A hole large enough for several levels and parallel bands: progress comes often, in small steps of work.

    Steps are measured in fractions (work units), not seconds, so the test does not depend on the machine.
    """
    seen = []
    run(engine, noise_photo(256, 256), box_mask(256, 256, 48, 208, 48, 208), progress=seen.append)
    assert seen[0] == 0.0 and seen[-1] == 1.0
    steps = [b - a for a, b in zip(seen, seen[1:], strict=False)]
    assert min(steps) >= 0.0
    # No stretch of work without a report: the longest is a few pieces of one kernel or one serial step.
    assert max(steps) <= 0.06, max(steps)
    assert 30 <= len(seen) <= 120  # often, yet throttled for the GUI
    assert seen[-2] > 0.97  # the estimate of the work matches the work done


def test_previews_show_the_fill_at_the_crops_size(engine, monkeypatch):
    from inpaint_studio.engines import patchmatch

    monkeypatch.setattr(patchmatch, "_PREVIEW_MIN_UNITS", 0)  # this moderate hole is quick; preview it anyway
    image = noise_photo(200, 240)
    mask = box_mask(200, 240, 40, 160, 50, 190)
    events = []
    out = run(engine, image, mask, progress=lambda f: events.append(("progress", f)),
              preview=lambda rgb: events.append(("preview", rgb)))
    previews = [rgb for kind, rgb in events if kind == "preview"]
    assert previews
    keep = mask == 0
    for rgb in previews:
        assert rgb.shape == image.shape and rgb.dtype == np.uint8
        assert np.array_equal(rgb[keep], image[keep])  # only the hole shows the fill in progress
    # They come while the fill runs, not with the result.
    last_preview = max(i for i, (kind, _) in enumerate(events) if kind == "preview")
    assert any(kind == "progress" and f < 1.0 for kind, f in events[last_preview:])
    # Showing previews changes nothing in the result.
    assert np.array_equal(out, run(engine, image, mask))


def test_small_fills_show_no_preview(engine):
    previews = []
    run(engine, noise_photo(), box_mask(96, 96, 30, 60, 20, 50), preview=previews.append)
    assert previews == []


def test_pipeline_passes_previews_on_as_patches(engine, monkeypatch):
    from inpaint_studio.engines import patchmatch
    from inpaint_studio.engines.pipeline import inpaint_patches

    monkeypatch.setattr(patchmatch, "_PREVIEW_MIN_UNITS", 0)
    image = noise_photo(300, 300)
    mask = box_mask(300, 300, 80, 220, 60, 240)
    patches = []
    inpaint_patches(engine, image, mask, preview=patches.append)
    assert patches
    assert all(p.rgb.shape[:2] == p.alpha.shape and p.rgb.dtype == np.uint8 for p in patches)


def test_texture_in_row_bands_matches_the_whole_image():
    """Texture features are computed in bands on threads; each band reads the rows its filters reach."""
    from inpaint_studio.engines.patchmatch import _TEXTURE_WINDOW, _texture

    image = noise_photo(90, 70)
    hole = np.zeros((90, 70), bool)
    hole[:4, 10:30] = True  # at the border
    hole[30:50, 20:60] = True
    hole[-2:, :] = True
    whole = [np.empty(hole.shape, np.float32) for _ in range(2)]
    _texture(image, hole, _TEXTURE_WINDOW, whole, 0, 90)
    for rows in (1, 7, 13, 44):
        banded = [np.empty(hole.shape, np.float32) for _ in range(2)]
        for y0 in range(0, 90, rows):
            _texture(image, hole, _TEXTURE_WINDOW, banded, y0, min(y0 + rows, 90))
        assert all(np.array_equal(a, b) for a, b in zip(whole, banded, strict=True)), rows


def test_vote_gathers_what_scattering_the_matches_gives():
    """Voting gathers per hole pixel (parallel, in pieces); it must equal Wexler's scatter of every match."""
    from inpaint_studio.engines import _patchmatch_kernels as kernels
    from inpaint_studio.engines.patchmatch import _Level, _vote_weights

    rng = np.random.default_rng(2)
    r = 2
    hole = np.zeros((24, 30), bool)
    hole[0:6, 4:12] = True  # touching the border
    hole[12:19, 15:24] = True
    level = _Level(hole, r)
    color = rng.uniform(0, 255, (24, 30, 5)).astype(np.float32)
    nnf = np.full((24, 30, 2), -1, np.int32)
    pick = rng.integers(0, level.src_y.size, level.ty.size)
    nnf[level.ty, level.tx, 0] = level.src_y[pick]
    nnf[level.ty, level.tx, 1] = level.src_x[pick]
    weights = _vote_weights(r, finest=True)

    expected = color.copy()
    acc = np.zeros((24, 30, 4), np.float64)
    total = np.zeros((24, 30), np.float64)
    for y, x in zip(level.ty, level.tx, strict=True):
        for dy in range(-r, r + 1):
            for dx in range(-r, r + 1):
                if 0 <= y + dy < 24 and 0 <= x + dx < 30 and hole[y + dy, x + dx]:
                    w = weights[dy + r, dx + r]
                    acc[y + dy, x + dx] += w * color[nnf[y, x, 0] + dy, nnf[y, x, 1] + dx, :4]
                    total[y + dy, x + dx] += w
    expected[hole, :4] = acc[hole] / total[hole, None]

    for cuts in ([0, level.hy.size], [0, 7, 30, level.hy.size]):
        voted = color.copy()
        for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
            kernels.vote(voted, level.hy, level.hx, nnf, r, weights, 4, lo, hi)
        np.testing.assert_allclose(voted, expected, rtol=1e-5)
        assert np.array_equal(voted[..., 4], color[..., 4])  # channels past the voted ones are kept


def test_cancel_while_bands_run(engine):
    """Cancelling in the middle of a parallel sweep stops the fill, and the thread pool serves the next one."""
    image = noise_photo(256, 256)
    mask = box_mask(256, 256, 48, 208, 48, 208)
    token = CancelToken()
    calls = []

    def progress(fraction):
        calls.append(fraction)
        if fraction > 0.5:
            token.cancel()

    with pytest.raises(JobCancelled):
        run(engine, image, mask, progress=progress, cancel=token)
    assert calls[-1] < 0.7
    assert np.array_equal(run(engine, image, mask), run(engine, image, mask))


def test_cancel_before_start(engine):
    token = CancelToken()
    token.cancel()
    with pytest.raises(JobCancelled):
        run(engine, noise_photo(), box_mask(96, 96, 20, 60, 20, 60), cancel=token)


def test_cancel_while_running(engine):
    token = CancelToken()
    calls = []

    def progress(fraction):
        calls.append(fraction)
        if fraction > 0:
            token.cancel()

    with pytest.raises(JobCancelled):
        run(engine, noise_photo(), box_mask(96, 96, 20, 76, 20, 76), progress=progress, cancel=token)
    assert calls[-1] < 1.0


@pytest.mark.parametrize(
    "shape, box",
    [
        ((64, 64), (0, 20, 0, 64)),  # hole touching three crop borders
        ((40, 40), (30, 40, 30, 40)),  # hole in a corner
        ((5, 5), (2, 3, 2, 3)),  # crop smaller than a patch
        ((6, 4), (0, 6, 1, 3)),  # crop narrower than a patch, hole through it
        ((2, 2), (0, 1, 0, 1)),  # tiny
        ((32, 32), (1, 31, 1, 31)),  # mask covering almost everything
        ((48, 48), (0, 48, 0, 47)),  # only one column of context
    ],
)
def test_odd_crops(engine, shape, box):
    image = noise_photo(*shape)
    mask = box_mask(*shape, *box)
    out = run(engine, image, mask)
    assert out.shape == image.shape and out.dtype == np.uint8
    keep = mask == 0
    assert np.array_equal(out[keep], image[keep])
    # Filled pixels take colours from the photo's range, not garbage.
    lo, hi = image[keep].min(axis=0), image[keep].max(axis=0)
    assert np.all(out[~keep] >= lo - 1) and np.all(out[~keep] <= hi + 1)


def test_fully_masked_crop_is_returned_unchanged(engine):
    image = noise_photo(16, 16)
    out = run(engine, image, np.full((16, 16), 255, np.uint8))
    assert np.array_equal(out, image)


@pytest.mark.parametrize("grain, bound", [(0, 0.2), (12, 0.6)])
def test_thin_one_pixel_masks(engine, grain, bound):
    rng = np.random.default_rng(5)
    ramp = np.tile(np.linspace(40, 200, 80, dtype=np.float32), (80, 1))
    photo = np.clip(np.dstack([ramp, ramp[::-1].T, ramp.T]) + rng.normal(0, grain, (80, 80, 3)), 0, 255).astype(np.uint8)
    mask = np.zeros((80, 80), np.uint8)
    mask[40, :] = 255  # a horizontal scratch across the whole crop
    mask[:, 17] = 255  # a vertical one
    mask[np.arange(80), np.arange(80)] = 255  # a diagonal one
    out = run(engine, photo, mask)
    hole = mask > 0
    error = np.abs(out[hole].astype(float) - photo[hole]).mean()
    mean_error = np.abs(photo[~hole].mean(axis=0) - photo[hole]).mean()
    # Grain cannot be predicted, so the noisy photo's bound is looser.
    assert error < bound * mean_error, (error, mean_error)


def test_patch_size_parameter(engine):
    image = noise_photo()
    mask = box_mask(96, 96, 30, 60, 30, 60)
    for size in (3, 8, 15):
        out = run(engine, image, mask, patch_size=size)
        assert out.shape == image.shape


def test_listing_engines_does_not_import_numba():
    code = (
        "import sys\n"
        "from inpaint_studio.engines.registry import engine_class\n"
        "cls = engine_class('patchmatch')\n"
        "assert cls.info.id == 'patchmatch' and cls.info.kind == 'classical'\n"
        "assert 'numba' not in sys.modules, 'numba imported at import time'\n"
    )
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


@pytest.mark.shared
def test_beats_a_mean_fill_on_a_real_photo(engine, eval_dir):
    from PIL import Image

    image = np.asarray(Image.open(eval_dir / "images" / "path.png").convert("RGB"))
    mask = np.asarray(Image.open(eval_dir / "masks" / "path_object.png").convert("L"))
    out = inpaint_image(engine, image, mask)
    hole = mask > 127
    error = ((out[hole].astype(float) - image[hole]) ** 2).mean()
    mean_error = ((image[~hole].mean(axis=0) - image[hole]) ** 2).mean()
    assert error < mean_error

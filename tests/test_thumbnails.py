"""Thumbnails: small, upright, cached by what the file is, and never an exception for a bad file."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest
from conftest import gradient_photo
from PIL import Image

from inpaint_studio.io import thumbnails
from inpaint_studio.io.thumbnails import (
    ThumbnailCache,
    ThumbnailLoader,
    make_thumbnail,
    thumbnail_of_pixels,
)

ORIENTATION = 0x0112


def _save_jpeg(path, rgb, orientation=None, quality=92):
    image = Image.fromarray(rgb)
    kwargs = {"quality": quality}
    if orientation is not None:
        exif = Image.Exif()
        exif[ORIENTATION] = orientation
        kwargs["exif"] = exif.tobytes()
    image.save(path, "JPEG", **kwargs)
    return path


def _marked_photo(height=600, width=900):
    """Grey with a red top-left quarter: tells which way up a preview is."""
    rgb = np.full((height, width, 3), 128, np.uint8)
    rgb[: height // 2, : width // 2] = [220, 30, 30]
    return rgb


def test_a_large_jpeg_gives_a_small_preview_decoded_at_reduced_scale(tmp_path, monkeypatch):
    path = _save_jpeg(tmp_path / "big.jpg", _marked_photo(3000, 4000))
    sizes = []
    real_load = Image.Image.load

    def spy_load(self):
        sizes.append(self.size)
        return real_load(self)

    monkeypatch.setattr(Image.Image, "load", spy_load)
    thumb = make_thumbnail(path, 160)
    assert thumb.ok and thumb.error is None
    assert thumb.pixels.shape == (120, 160, 3) and thumb.pixels.dtype == np.uint8
    assert thumb.source_size == (4000, 3000)
    assert (500, 375) in sizes and (4000, 3000) not in sizes  # libjpeg decoded at 1/8, never full size
    assert np.abs(thumb.pixels[20, 20].astype(int) - [220, 30, 30]).max() < 20
    assert np.abs(thumb.pixels[100, 140].astype(int) - 128).max() < 10


@pytest.mark.parametrize(
    "orientation, red_corner",
    [(1, "top-left"), (3, "bottom-right"), (6, "top-right"), (8, "bottom-left")],
)
def test_exif_orientation_is_applied(tmp_path, orientation, red_corner):
    path = _save_jpeg(tmp_path / f"o{orientation}.jpg", _marked_photo(600, 900), orientation)
    thumb = make_thumbnail(path, 160)
    height, width = thumb.pixels.shape[:2]
    rotated = orientation in (6, 8)
    assert (width, height) == ((107, 160) if rotated else (160, 107))
    assert thumb.source_size == ((600, 900) if rotated else (900, 600))
    corners = {
        "top-left": thumb.pixels[5, 5],
        "top-right": thumb.pixels[5, width - 6],
        "bottom-left": thumb.pixels[height - 6, 5],
        "bottom-right": thumb.pixels[height - 6, width - 6],
    }
    reds = [name for name, pixel in corners.items() if pixel[0] > 180 and pixel[1] < 80]
    assert reds == [red_corner]


def test_other_formats_and_modes(tmp_path):
    rgba = np.dstack([gradient_photo(300, 200), np.full((300, 200), 90, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "alpha.png")
    deep = (np.arange(400 * 300, dtype=np.uint32).reshape(300, 400) % 65536).astype(np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    Image.fromarray(gradient_photo(100, 50)).convert("CMYK").save(tmp_path / "cmyk.jpg")
    Image.fromarray(gradient_photo(64, 48)).save(tmp_path / "tiny.bmp")

    alpha = make_thumbnail(tmp_path / "alpha.png", 160)
    assert alpha.pixels.shape == (160, 107, 4) and (alpha.pixels[..., 3] == 90).all()
    grey = make_thumbnail(tmp_path / "deep.png", 160)
    assert grey.pixels.shape == (120, 160, 3) and grey.pixels.dtype == np.uint8
    assert make_thumbnail(tmp_path / "cmyk.jpg", 160).pixels.shape == (100, 50, 3)
    tiny = make_thumbnail(tmp_path / "tiny.bmp", 160)
    assert tiny.pixels.shape == (64, 48, 3), "a small photo is not enlarged"


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "empty"),
        (b"this is not a picture at all", "not a photo in a supported format"),
        (None, "truncated or damaged"),
    ],
)
def test_unreadable_files_give_a_reason_not_an_exception(tmp_path, content, reason):
    path = tmp_path / "bad.jpg"
    if content is None:  # a real JPEG cut in half
        good = _save_jpeg(tmp_path / "good.jpg", gradient_photo(400, 600, seed=3))
        content = good.read_bytes()[:2000]
    path.write_bytes(content)
    thumb = make_thumbnail(path)
    assert not thumb.ok and thumb.pixels is None
    assert "bad.jpg" in thumb.error and reason in thumb.error


def test_missing_file_and_pixel_limit(tmp_path):
    assert "not found" in make_thumbnail(tmp_path / "gone.jpg").error
    path = _save_jpeg(tmp_path / "big.jpg", _marked_photo(300, 400))
    assert "safety limit" in make_thumbnail(path, max_pixels=10_000).error


def test_the_cache_serves_a_hit_without_decoding_the_photo_again(tmp_path, monkeypatch):
    photo = _save_jpeg(tmp_path / "photo.jpg", _marked_photo(600, 900))
    cache = ThumbnailCache(tmp_path / "cache", 160)
    first = cache.get(photo)
    assert first.ok and not first.from_cache
    files = list((tmp_path / "cache").iterdir())
    assert len(files) == 1 and files[0].suffix == ".jpg"

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded the photo although its preview is cached")

    monkeypatch.setattr(thumbnails, "make_thumbnail", no_decoding)
    second = ThumbnailCache(tmp_path / "cache", 160).get(photo)  # a new instance: the disk is the cache
    assert second.from_cache and second.source_size == (900, 600)
    assert second.pixels.shape == first.pixels.shape
    assert np.abs(second.pixels.astype(int) - first.pixels).mean() < 3  # JPEG-stored


def test_a_changed_file_gets_a_new_preview(tmp_path):
    photo = _save_jpeg(tmp_path / "photo.jpg", np.full((300, 400, 3), [200, 20, 20], np.uint8))
    cache = ThumbnailCache(tmp_path / "cache")
    assert cache.get(photo).pixels[50, 50, 0] > 180
    before = os.stat(photo).st_mtime_ns
    _save_jpeg(photo, np.full((300, 400, 3), [20, 20, 200], np.uint8))
    os.utime(photo, ns=(before + 2_000_000_000, before + 2_000_000_000))
    after = cache.get(photo)
    assert not after.from_cache and after.pixels[50, 50, 2] > 180 and after.pixels[50, 50, 0] < 60
    assert cache.get(photo).from_cache


def test_transparent_previews_are_cached_as_png_and_keep_alpha(tmp_path):
    rgba = np.dstack([gradient_photo(100, 100), np.full((100, 100), 40, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "a.png")
    cache = ThumbnailCache(tmp_path / "cache")
    cache.get(tmp_path / "a.png")
    hit = cache.get(tmp_path / "a.png")
    assert hit.from_cache and hit.pixels.shape == (100, 100, 4) and (hit.pixels[..., 3] == 40).all()
    assert hit.source_size == (100, 100)


def test_bad_files_are_not_cached_and_a_damaged_cache_file_is_a_miss(tmp_path):
    cache = ThumbnailCache(tmp_path / "cache")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    assert not cache.get(tmp_path / "bad.png").ok
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())
    photo = _save_jpeg(tmp_path / "p.jpg", _marked_photo(200, 300))
    cache.get(photo)
    (cached,) = (tmp_path / "cache").iterdir()
    cached.write_bytes(b"garbage")
    again = cache.get(photo)
    assert again.ok and not again.from_cache


def test_an_unwritable_cache_folder_still_gives_previews(tmp_path):
    blocker = tmp_path / "file-not-folder"
    blocker.write_bytes(b"x")
    cache = ThumbnailCache(blocker / "cache")
    photo = _save_jpeg(tmp_path / "p.jpg", _marked_photo(200, 300))
    assert cache.get(photo).ok


def test_prune_removes_the_least_recently_used_first(tmp_path):
    cache = ThumbnailCache(tmp_path / "cache")
    photos = [_save_jpeg(tmp_path / f"p{i}.jpg", gradient_photo(300, 400, seed=i)) for i in range(4)]
    for photo in photos:
        cache.get(photo)
    files = sorted((tmp_path / "cache").iterdir(), key=lambda f: f.stat().st_mtime)
    for age, file in enumerate(files):
        os.utime(file, (time.time() - 1000 + age, time.time() - 1000 + age))
    sizes = [f.stat().st_size for f in files]
    removed = cache.prune(max_bytes=sum(sizes[2:]))
    assert removed == 2
    assert sorted((tmp_path / "cache").iterdir()) == sorted(files[2:])


def test_the_loader_delivers_every_preview_on_at_most_two_threads(tmp_path):
    photos = [_save_jpeg(tmp_path / f"p{i:02}.jpg", gradient_photo(240, 320, seed=i)) for i in range(12)]
    (tmp_path / "bad.jpg").write_bytes(b"nope")
    delivered, threads = [], set()
    lock = threading.Lock()

    def deliver(thumb):
        with lock:
            delivered.append(thumb)
            threads.add(threading.current_thread().name)

    loader = ThumbnailLoader(ThumbnailCache(tmp_path / "cache"), deliver, threads=2)
    try:
        loader.request_many([*photos, tmp_path / "bad.jpg", photos[0]])
        assert loader.wait_idle(30)
    finally:
        loader.shutdown()
    by_path = {t.path: t for t in delivered}
    assert set(by_path) == {*photos, tmp_path / "bad.jpg"}
    assert not by_path[tmp_path / "bad.jpg"].ok and all(by_path[p].ok for p in photos)
    assert 1 <= len(threads) <= 2


def test_the_loader_serves_the_newest_request_first_and_forgets_old_ones(tmp_path):
    photos = [_save_jpeg(tmp_path / f"p{i:02}.jpg", gradient_photo(60, 80, seed=i)) for i in range(8)]
    gate = threading.Event()
    order = []

    class SlowCache(ThumbnailCache):
        def get(self, path):
            gate.wait(10)
            return super().get(path)

    loader = ThumbnailLoader(SlowCache(tmp_path / "cache"), lambda t: order.append(t.path), threads=1, max_pending=3)
    try:
        loader.request(photos[0])  # taken by the thread at once, waits at the gate
        time.sleep(0.2)
        loader.request_many(photos[1:])  # only the newest three wait
        gate.set()
        assert loader.wait_idle(30)
    finally:
        loader.shutdown()
    assert order == [photos[0], photos[7], photos[6], photos[5]]


def test_a_failing_delivery_does_not_stop_the_loader(tmp_path):
    photos = [_save_jpeg(tmp_path / f"p{i}.jpg", gradient_photo(60, 80, seed=i)) for i in range(3)]
    got = []

    def deliver(thumb):
        if thumb.path == photos[0]:
            raise RuntimeError("receiver went away")
        got.append(thumb.path)

    loader = ThumbnailLoader(ThumbnailCache(tmp_path / "cache"), deliver, threads=1)
    try:
        loader.request(photos[0])
        assert loader.wait_idle(30)
        loader.request_many(photos[1:])
        assert loader.wait_idle(30)
    finally:
        loader.shutdown()
    assert sorted(got) == photos[1:]


def test_a_preview_of_pixels_in_memory_matches_a_full_area_resize(tmp_path):
    import cv2

    rgb = gradient_photo(1200, 1800, seed=4)
    rng = np.random.default_rng(4)
    for x, y in rng.integers(0, 1100, (300, 2)):  # some detail for the resize to average
        rgb[y : y + int(rng.integers(3, 60)), x : x + int(rng.integers(3, 60))] = rng.integers(0, 255, 3)
    preview = thumbnail_of_pixels(rgb, 160)
    assert preview.shape == (107, 160, 3)
    reference = cv2.resize(rgb, (160, 107), interpolation=cv2.INTER_AREA).astype(float)
    nearest = cv2.resize(rgb, (160, 107), interpolation=cv2.INTER_NEAREST)

    def psnr(image):
        return 10 * np.log10(255**2 / ((image - reference) ** 2).mean())

    # Hard-edged synthetic detail: close to the full resize, far better than picking pixels
    # (on a real photo the difference is 40+ dB, see the function's docstring).
    assert psnr(preview) > 28 and psnr(preview) > psnr(nearest) + 6
    small = gradient_photo(50, 80)
    assert np.array_equal(thumbnail_of_pixels(small, 160), small)

"""LaMa and MI-GAN through the shared pipeline, with tiny TorchScript stand-ins for their weights.

Each stand-in has the real model's call signature and an output that reveals
its input (the mask, the image, or the padded image mirrored), so the tests
pin down the tensor conventions of ../shared/MODELS.md: polarity, range, RGB
order, binarisation, padding and the fixed 512x512 size. No GPU here: the
out-of-memory fallback is exercised through the engine's device seam.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import time
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import gradient_photo

from inpaint_studio.core.errors import (
    EngineError,
    EngineNotReadyError,
    InpaintStudioError,
    JobCancelled,
)
from inpaint_studio.core.jobs import CancelToken
from inpaint_studio.engines.base import EngineContext, RunReport
from inpaint_studio.engines.lama import LamaEngine
from inpaint_studio.engines.migan import MiganEngine
from inpaint_studio.engines.pipeline import inpaint_image
from inpaint_studio.engines.registry import create_engine, engine_ids
from inpaint_studio.engines.torch_engine import OOM_NOTICE
from inpaint_studio.worker import EngineWorker, FillRequest, JobFailed, JobFinished

# TorchScript is deprecated upstream, but the distributed LaMa and MI-GAN files are TorchScript.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")

# ---------------------------------------------------------------- stand-in networks


class LamaImage(torch.nn.Module):
    """Returns the image; refuses sizes that are not a multiple of 8 or a mask of the wrong shape."""

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if image.shape[2] % 8 != 0 or image.shape[3] % 8 != 0:
            raise RuntimeError("image not padded to a multiple of 8")
        if mask.shape[0] != 1 or mask.shape[1] != 1 or mask.shape[2:] != image.shape[2:]:
            raise RuntimeError("mask shape differs from the image's")
        return image


class LamaMask(torch.nn.Module):
    """Returns the mask as a grey image: 1 (white) where the engine says hole."""

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return mask.expand(-1, 3, -1, -1)


class LamaFlip(torch.nn.Module):
    """Returns image and mask flipped: the cropped result shows the padded rows and columns."""

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.flip(torch.cat([image[:, 0:2], mask], dim=1), [2, 3])


class LamaWrongShape(torch.nn.Module):
    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return image[:, :, 1:]


class MiganHoleMap(torch.nn.Module):
    """Returns channel 0 (0.5 - m) on all three channels; only accepts exactly [1, 4, 512, 512]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] != 1 or x.shape[1] != 4 or x.shape[2] != 512 or x.shape[3] != 512:
            raise RuntimeError("input is not [1, 4, 512, 512]")
        return x[:, 0:1].expand(-1, 3, -1, -1)


class MiganImage(torch.nn.Module):
    """Returns channels 1-3: the image with its holes zeroed."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 1:4]


def _save_scripted(module: torch.nn.Module, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated, the files are not
        torch.jit.save(torch.jit.script(module), str(path))
    return path


@pytest.fixture(scope="module")
def nets(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    modules = {
        "lama-image": LamaImage(),
        "lama-mask": LamaMask(),
        "lama-flip": LamaFlip(),
        "lama-wrong": LamaWrongShape(),
        "migan-holes": MiganHoleMap(),
        "migan-image": MiganImage(),
    }
    return {name: _save_scripted(module, folder / f"{name}.pt") for name, module in modules.items()}


class TinyStore:
    """The model store's interface, serving the stand-ins above."""

    def __init__(self, paths: dict[str, Path], trusted: bool = True) -> None:
        self.paths = paths
        self.trusted = trusted

    def require(self, model_id: str) -> Path:
        if model_id not in self.paths:
            raise EngineNotReadyError(f"The model '{model_id}' is not installed.")
        return self.paths[model_id]

    def is_installed(self, model_id: str) -> bool:
        return model_id in self.paths

    def is_trusted(self, model_id: str) -> bool:
        return self.trusted


def _store(nets, lama: str = "lama-image", migan: str = "migan-image", **options) -> TinyStore:
    return TinyStore({"big-lama": nets[lama], "migan": nets[migan]}, **options)


@pytest.fixture(autouse=True)
def loads(monkeypatch) -> list[tuple[Path, bool]]:
    """Records every model load (path, trusted), through the real safe loader when it exists."""
    try:
        import inpaint_studio.models.safe_load as safe_load
    except ImportError:
        # TEMPORARY stand-in until inpaint_studio/models/safe_load.py lands.
        safe_load = types.ModuleType("inpaint_studio.models.safe_load")

        def load_torchscript(path, *, trusted, map_location="cpu"):
            if not trusted:
                raise InpaintStudioError(f"{Path(path).name} did not match its checksum; not loaded.")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                return torch.jit.load(str(path), map_location=map_location)

        safe_load.load_torchscript = load_torchscript
        monkeypatch.setitem(sys.modules, "inpaint_studio.models.safe_load", safe_load)
    calls: list[tuple[Path, bool]] = []
    real = safe_load.load_torchscript

    def counting(path, *, trusted, map_location="cpu"):
        calls.append((Path(path), trusted))
        return real(path, trusted=trusted, map_location=map_location)

    monkeypatch.setattr(safe_load, "load_torchscript", counting)
    return calls


def _object_mask(height: int, width: int, box=(40, 50, 70, 90)) -> np.ndarray:
    y0, x0, y1, x1 = box
    mask = np.zeros((height, width), np.uint8)
    mask[y0:y1, x0:x1] = 255
    return mask


def _run(engine, image, mask):
    """One direct engine call, as the pipeline makes it."""
    return engine.inpaint(image, mask, engine.resolve_params(), EngineContext())


# ---------------------------------------------------------------- LaMa conventions


def test_lama_sees_rgb_in_0_1_and_gives_it_back_exactly(nets):
    engine = create_engine("lama", model_store=_store(nets))
    image = gradient_photo(37, 45)
    image[0, 0] = (255, 0, 0)
    image[0, 1] = (0, 0, 255)
    mask = _object_mask(37, 45, (10, 10, 20, 20))
    # An identity network: any range or channel-order slip would change the result.
    assert np.array_equal(_run(engine, image, mask), image)


def test_lama_mask_is_binarised_with_1_for_the_hole(nets):
    engine = create_engine("lama", model_store=_store(nets, lama="lama-mask"))
    image = gradient_photo(24, 32)
    mask = np.zeros((24, 32), np.uint8)
    mask[2, 2], mask[3, 3], mask[4, 4] = 1, 128, 255
    result = _run(engine, image, mask)
    assert (result[mask > 0] == 255).all()
    assert (result[mask == 0] == 0).all()


def test_lama_pads_image_and_mask_symmetrically_at_bottom_and_right(nets):
    engine = create_engine("lama", model_store=_store(nets, lama="lama-flip"))
    image = gradient_photo(13, 10)  # padded to 16 x 16
    mask = np.zeros((13, 10), np.uint8)
    mask[12, :] = 255  # a hole along the bottom edge
    result = _run(engine, image, mask)
    flipped = np.flip(np.pad(image[..., :2], ((0, 3), (0, 6), (0, 0)), mode="symmetric"), (0, 1))
    assert np.array_equal(result[..., :2], flipped[:13, :10])
    # The hole is mirrored into the padding too, so the network never sees the
    # object's pixels there as context.
    padded_hole = np.flip(np.pad(mask > 0, ((0, 3), (0, 6)), mode="symmetric"), (0, 1))[:13, :10]
    assert np.array_equal(result[..., 2] == 255, padded_hole)


def test_lama_is_not_padded_twice_and_works_through_the_pipeline(nets):
    assert LamaEngine.info.pad_multiple == 1  # the engine pads, the pipeline does not
    engine = create_engine("lama", model_store=_store(nets, lama="lama-mask"))
    image = gradient_photo(301, 203)
    mask = _object_mask(301, 203, (100, 50, 143, 77))
    result = inpaint_image(engine, image, mask, feather=0)
    assert (result[mask > 0] == 255).all()
    assert np.array_equal(result[mask == 0], image[mask == 0])


def test_lama_scales_large_crops_to_its_working_size(nets, monkeypatch):
    engine = create_engine("lama", model_store=_store(nets))
    seen = []
    original = LamaEngine.to_tensors

    def recording(self, image, mask):
        seen.append(image.shape)
        return original(self, image, mask)

    monkeypatch.setattr(LamaEngine, "to_tensors", recording)
    image = gradient_photo(1600, 1500)
    inpaint_image(engine, image, _object_mask(1600, 1500, (200, 200, 1400, 1300)))
    assert max(seen[0][:2]) == LamaEngine.info.working_size


def test_a_model_of_the_wrong_shape_is_reported(nets):
    engine = create_engine("lama", model_store=_store(nets, lama="lama-wrong"))
    with pytest.raises(EngineError, match="right model file"):
        _run(engine, gradient_photo(16, 16), _object_mask(16, 16, (4, 4, 8, 8)))


# ---------------------------------------------------------------- MI-GAN conventions


def test_migan_hole_channel_is_0_5_minus_a_binary_mask(nets):
    engine = create_engine("migan", model_store=_store(nets, migan="migan-holes"))
    mask = _object_mask(512, 512, (100, 300, 180, 420))
    mask[5, 5], mask[6, 6] = 1, 128
    result = _run(engine, gradient_photo(512, 512), mask)
    # 0.5 - m, read back from [-1, 1]: hole -0.5 -> 64, kept 0.5 -> 191.
    assert (result[mask > 0] == 64).all()
    assert (result[mask == 0] == 191).all()


def test_migan_gets_exactly_512_through_the_pipeline(nets):
    engine = create_engine("migan", model_store=_store(nets, migan="migan-holes"))
    image = gradient_photo(300, 700)  # the square window does not fit: scaled and padded to 512
    mask = _object_mask(300, 700, (100, 300, 180, 420))
    result = inpaint_image(engine, image, mask, feather=0)  # the network raises unless [1, 4, 512, 512]
    assert (result[110:170, 310:410] == 64).all()
    assert np.array_equal(result[mask == 0], image[mask == 0])


def test_migan_sees_rgb_in_minus1_1_with_holes_zeroed(nets):
    engine = create_engine("migan", model_store=_store(nets))
    image = gradient_photo(512, 512)
    image[0, 0] = (255, 0, 0)
    image[0, 1] = (0, 0, 255)
    mask = _object_mask(512, 512, (200, 200, 300, 300))
    mask[5, 5] = 1  # any non-zero value is a hole
    result = _run(engine, image, mask)
    keep = mask == 0
    assert np.array_equal(result[keep], image[keep])
    assert (result[~keep] == 128).all()  # a zeroed hole is 0 in [-1, 1], mid-grey


def test_migan_settings_and_half_precision_per_engine():
    info = MiganEngine.info
    assert (info.working_size, info.fixed_size, info.square_crop, info.context_margin) == (512, True, True, 128)
    assert MiganEngine().dtype_on("cuda") == torch.float16
    assert LamaEngine().dtype_on("cuda") == torch.float32  # FFT layers are not float16-safe
    assert MiganEngine().dtype_on("cpu") == LamaEngine().dtype_on("mps") == torch.float32
    for cls in (LamaEngine, MiganEngine):
        assert cls.info.kind == "learned" and cls.info.interactive
        assert cls.info.devices == ("cpu", "cuda", "mps")


def test_migan_refuses_a_crop_that_is_not_512():
    with pytest.raises(EngineError, match="512x512"):
        MiganEngine().to_tensors(gradient_photo(64, 64), np.zeros((64, 64), np.uint8))


# ---------------------------------------------------------------- readiness, trust, life cycle


def test_missing_model_gives_a_sentence_and_refuses_to_run(nets, loads):
    image, mask = gradient_photo(40, 40), _object_mask(40, 40, (10, 10, 20, 20))
    for engine in (create_engine("lama", model_store=TinyStore({})), create_engine("lama")):
        reason = engine.readiness()
        assert reason == "LaMa needs the model 'big-lama', which is not installed."
        with pytest.raises(EngineNotReadyError):
            inpaint_image(engine, image, mask)
    assert loads == []
    assert create_engine("lama", model_store=_store(nets)).readiness() is None
    assert create_engine("migan", model_store=TinyStore({"big-lama": nets["lama-image"]})).readiness() is not None


def test_an_untrusted_model_is_refused_and_not_kept(nets, loads):
    engine = create_engine("migan", model_store=_store(nets, trusted=False))
    with pytest.raises(InpaintStudioError) as raised:
        _run(engine, gradient_photo(512, 512), _object_mask(512, 512))
    assert str(raised.value)  # a message for the user, not a bare exception
    assert loads == [(nets["migan-image"], False)]
    assert not engine.loaded


def test_the_model_loads_once_and_unload_frees_it(nets, loads):
    engine = create_engine("lama", model_store=_store(nets))
    assert not engine.loaded and loads == []  # nothing loads before it is needed
    image = gradient_photo(200, 200)
    mask = _object_mask(200, 200, (10, 10, 20, 20))
    mask[170:180, 170:180] = 255
    inpaint_image(engine, image, mask)
    inpaint_image(engine, image, mask)
    engine.load()
    assert len(loads) == 1 and engine.loaded
    engine.unload()
    assert engine._model is None and not engine.loaded
    engine.unload()  # twice is harmless
    inpaint_image(engine, image, mask)
    assert len(loads) == 2


def test_cancel_before_the_model_loads_stops_the_call(nets, loads):
    token = CancelToken()
    token.cancel()
    engine = create_engine("lama", model_store=_store(nets))
    with pytest.raises(JobCancelled):
        engine.inpaint(gradient_photo(16, 16), _object_mask(16, 16, (4, 4, 8, 8)), {}, EngineContext(cancel=token))
    assert loads == []


def test_progress_rises_to_one(nets):
    engine = create_engine("migan", model_store=_store(nets))
    seen: list[float] = []
    inpaint_image(engine, gradient_photo(300, 300), _object_mask(300, 300, (100, 100, 150, 150)), progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 2


def test_listing_engines_does_not_import_torch():
    code = (
        "import sys\n"
        "import inpaint_studio.engines.lama, inpaint_studio.engines.migan\n"
        "from inpaint_studio.engines.registry import create_engine, engine_ids\n"
        "assert {'lama', 'migan'} <= set(engine_ids())\n"
        "print(create_engine('lama').readiness())\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "lama" in engine_ids() and "migan" in engine_ids()


# ---------------------------------------------------------------- out of GPU memory


def _pretend_gpu(monkeypatch, target, fail_first: BaseException) -> list[str]:
    """Make `target` (class or engine) run on a "GPU" that fails once with `fail_first`.

    Tensors and the model stay on the CPU (`_place` keeps them where they are);
    the devices each forward pass was asked for are recorded.
    """
    devices: list[str] = []
    original = LamaEngine._run_on_device  # the same method for every TorchEngine

    def run(self, device, inputs):
        devices.append(device)
        if device != "cpu" and len([d for d in devices if d != "cpu"]) == 1:
            raise fail_first
        return original(self, device, inputs)

    monkeypatch.setattr(target, "_place", lambda self, obj, device: obj)
    monkeypatch.setattr(target, "_run_on_device", run)
    return devices


@pytest.mark.parametrize(
    ("device", "error"),
    [
        ("cuda", torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")),
        ("mps", RuntimeError("MPS backend out of memory (MPS allocated: 8.00 GB)")),
    ],
)
def test_out_of_gpu_memory_finishes_on_the_cpu(nets, monkeypatch, device, error):
    devices = _pretend_gpu(monkeypatch, LamaEngine, error)
    engine = create_engine("lama", device=device, model_store=_store(nets))
    image = gradient_photo(80, 90)
    mask = _object_mask(80, 90)
    report = RunReport()
    result = inpaint_image(engine, image, mask, report=report)
    assert np.array_equal(result, image)  # the identity network's answer, computed on the CPU
    assert devices == [device, "cpu"]
    assert report.notices == [OOM_NOTICE] and report.device == "cpu"
    assert engine._model_device == "cpu"
    # Later calls go straight to the CPU instead of failing on the GPU again.
    inpaint_image(engine, image, mask)
    assert devices == [device, "cpu", "cpu"]


def test_other_gpu_errors_are_not_mistaken_for_out_of_memory(nets, monkeypatch):
    _pretend_gpu(monkeypatch, LamaEngine, RuntimeError("CUDA error: an illegal memory access was encountered"))
    engine = create_engine("lama", device="cuda", model_store=_store(nets))
    report = RunReport()
    with pytest.raises(RuntimeError, match="illegal memory access"):
        inpaint_image(engine, gradient_photo(80, 90), _object_mask(80, 90), report=report)
    assert report.notices == []


def test_a_model_too_big_for_the_gpu_stays_on_the_cpu(nets, monkeypatch):
    moved = []

    def place(self, obj, device):
        if device != "cpu" and isinstance(obj, torch.nn.Module):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory.")
        moved.append(device)
        return obj

    monkeypatch.setattr(MiganEngine, "_place", place)
    engine = create_engine("migan", device="cuda", model_store=_store(nets))
    engine.load()
    assert engine.loaded and engine._model_device == "cpu"
    image = gradient_photo(512, 512)
    mask = _object_mask(512, 512)
    context = EngineContext()
    result = engine.inpaint(image, mask, engine.resolve_params(), context)
    assert np.array_equal(result[mask == 0], image[mask == 0])
    assert context.report.notices == [OOM_NOTICE] and context.report.device == "cpu"


# ---------------------------------------------------------------- through the worker


def _finish(messages: queue.Queue, job_id: int, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = messages.get(timeout=deadline - time.monotonic())
        if isinstance(message, (JobFinished, JobFailed)) and message.job_id == job_id:
            return message
    raise AssertionError(f"job {job_id} did not end")


def test_worker_runs_a_learned_engine_from_its_model_store(nets, loads):
    messages: queue.Queue = queue.Queue()
    worker = EngineWorker(messages.put, model_store=_store(nets, lama="lama-mask"))
    try:
        image = gradient_photo(120, 160)
        mask = _object_mask(120, 160)
        first = _finish(messages, worker.submit(FillRequest.snapshot(image, mask, "lama")))
        second = _finish(messages, worker.submit(FillRequest.snapshot(image, mask, "lama")))
    finally:
        worker.shutdown()
    assert isinstance(first, JobFinished) and isinstance(second, JobFinished)
    assert first.notice is None
    [patch] = first.patches
    assert (patch.rgb[patch.alpha == 255] == 255).all()
    assert len(loads) == 1  # the worker keeps the engine, and the engine its model


def test_worker_reports_the_cpu_fallback_and_missing_models(nets, monkeypatch):
    _pretend_gpu(monkeypatch, LamaEngine, torch.cuda.OutOfMemoryError("CUDA out of memory."))
    messages: queue.Queue = queue.Queue()
    worker = EngineWorker(messages.put, model_store=_store(nets))
    bare = EngineWorker(messages.put)  # no model store at all
    try:
        image, mask = gradient_photo(120, 160), _object_mask(120, 160)
        fell_back = _finish(messages, worker.submit(FillRequest.snapshot(image, mask, "lama", device="cuda")))
        on_cpu = _finish(messages, worker.submit(FillRequest.snapshot(image, mask, "lama")))
        missing = _finish(messages, bare.submit(FillRequest.snapshot(image, mask, "migan")))
    finally:
        worker.shutdown()
        bare.shutdown()
    assert isinstance(fell_back, JobFinished) and fell_back.notice == OOM_NOTICE
    assert fell_back.provenance["device"] == "cpu"  # where it really ran, not the "cuda" asked for
    assert isinstance(on_cpu, JobFinished) and on_cpu.notice is None
    assert isinstance(missing, JobFailed) and "MI-GAN needs the model 'migan'" in missing.message


def test_a_model_file_of_another_signature_is_refused_before_it_runs(nets):
    # MI-GAN's network takes one tensor; LaMa passes two.
    engine = create_engine("lama", model_store=_store(nets, lama="migan-image"))
    with pytest.raises(EngineError) as caught:
        _run(engine, gradient_photo(16, 16), _object_mask(16, 16, (4, 4, 8, 8)))
    message = str(caught.value)
    assert str(nets["migan-image"]) in message and "takes (x: Tensor)" in message
    assert "passes 2 image tensor(s); it is not the right model file." in message

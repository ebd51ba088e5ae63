"""The `inpaint-studio` command line: remove, restore, select, batch, engines, models.

Errors a user can act on are printed as one line (`inpaint-studio: error: ...`)
with exit status 1; usage errors exit with 2; a cancelled run (Ctrl+C) with 130.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from inpaint_studio import __version__
from inpaint_studio.core.devices import DEVICE_CHOICES
from inpaint_studio.core.errors import InpaintStudioError, JobCancelled
from inpaint_studio.engines.base import EngineKind
from inpaint_studio.engines.devices import resolve_device

PROG = "inpaint-studio"


class ProgressBar:
    """A one-line progress bar with rate and time left, on a terminal; silent when output is redirected or `quiet`."""

    def __init__(self, stream: TextIO, label: str, total: int = 100, quiet: bool = False) -> None:
        self.stream, self.label, self.total = stream, label, total
        self.enabled = stream.isatty() and not quiet
        self.started = time.perf_counter()
        self._last = -1.0

    def update(self, done: float, note: str = "") -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last < 0.05 and done < self.total:
            return
        self._last = now
        fraction = min(max(done / self.total, 0.0), 1.0) if self.total else 1.0
        filled = int(fraction * 20)
        bar = "#" * filled + "-" * (20 - filled)
        count = f"{int(done)}/{self.total}" if self.total != 100 else f"{fraction:4.0%}"
        elapsed = now - self.started
        rate = f" {done / elapsed:.1f}/s" if self.total != 100 and elapsed > 0 and done else ""
        left = f" ETA {_clock(elapsed * (1 - fraction) / fraction)}" if 0.0 < fraction < 1.0 and elapsed > 1.0 else ""
        self.stream.write(f"\r{self.label} [{bar}] {count}{rate}{left} {note}".ljust(79)[:79])
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * 79 + "\r")
            self.stream.flush()


def _clock(seconds: float) -> str:
    """0:07, 12:30 or 1:02:03."""
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _parse_params(pairs: Sequence[str]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise InpaintStudioError(f"Engine parameters look like NAME=VALUE; got '{pair}'.")
        params[name.strip()] = value.strip()
    return params


def _engine_for(args: argparse.Namespace):
    from inpaint_studio.core.errors import EngineNotReadyError
    from inpaint_studio.engines.registry import create_engine, engine_class

    cls = engine_class(args.engine)
    device = resolve_device(args.device, cls.info.devices, cls.info.name)
    store = _model_store(args) if cls.info.models else None
    engine = create_engine(args.engine, device, model_store=store)
    params = _parse_params(getattr(args, "param", []))
    reason = engine.readiness(params)
    if reason:
        downloads = " and ".join(f"`{PROG} models download {m}`" for m in engine.missing_models(params))
        raise EngineNotReadyError(f"{reason} Run {downloads}.")
    return engine


def _warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)


def _run_file_job(engine, job, args: argparse.Namespace, item) -> int:
    """Run `job(progress)` -> FileOutcome under a progress bar and report it (remove, restore).

    `item` (a batch.BatchItem) names the photo, mask and output for `--report`, which gets one
    line whatever happens, in the batch report's format.
    """
    from inpaint_studio.batch import FAILED, SKIPPED, WRITTEN, ItemResult
    from inpaint_studio.batch.report import ReportWriter

    def report(status: str, message: str) -> None:
        if args.report:
            with ReportWriter(Path(args.report), args.engine) as writer:
                writer.write(ItemResult(item, status, message, time.perf_counter() - started))

    bar = ProgressBar(sys.stderr, engine.info.name, quiet=args.quiet)
    started = time.perf_counter()
    try:
        outcome = job(lambda fraction: bar.update(fraction * 100))
    except (InpaintStudioError, MemoryError) as error:
        report(FAILED, str(error) if isinstance(error, InpaintStudioError) else "not enough memory for this image")
        raise
    finally:
        bar.close()
    for warning in outcome.warnings:
        _warn(warning)
    report(SKIPPED if outcome.skipped else WRITTEN, outcome.skipped or " ".join(outcome.warnings))
    if args.quiet:
        return 0
    if outcome.skipped:
        print(f"Nothing written: {outcome.skipped}.")
        return 0
    total = time.perf_counter() - started
    print(
        f"Wrote {outcome.output} ({engine.info.name}, {outcome.regions} region(s), "
        f"engine {outcome.engine_seconds:.2f} s, total {total:.2f} s)"
    )
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from inpaint_studio.batch import BatchItem
    from inpaint_studio.batch.file_job import process_file
    from inpaint_studio.io import default_output_path

    engine = _engine_for(args)
    params = engine.resolve_params(_parse_params(args.param))
    output = Path(args.output) if args.output else default_output_path(Path(args.image))
    return _run_file_job(
        engine,
        lambda progress: process_file(
            engine,
            Path(args.image),
            Path(args.mask),
            output,
            params,
            overwrite=args.overwrite,
            quality=args.quality,
            max_pixels=args.max_pixels,
            progress=progress,
        ),
        args,
        BatchItem(Path(args.image), Path(args.mask), output),
    )


def cmd_restore(args: argparse.Namespace) -> int:
    from inpaint_studio.batch import BatchItem
    from inpaint_studio.batch.restore_job import restore_file
    from inpaint_studio.io import default_output_path

    engine = _engine_for(args)
    params = engine.resolve_params(_parse_params(args.param))
    output = Path(args.output) if args.output else default_output_path(Path(args.image), "_restored")
    mask_out = Path(args.mask_out) if args.mask_out else None
    status = _run_file_job(
        engine,
        lambda progress: restore_file(
            engine,
            Path(args.image),
            output,
            params,
            sensitivity=args.sensitivity,
            detector=args.detector,
            mask_path=mask_out,
            overwrite=args.overwrite,
            quality=args.quality,
            max_pixels=args.max_pixels,
            progress=progress,
        ),
        args,
        BatchItem(Path(args.image), None, output, detect=True),
    )
    if mask_out is not None and not args.quiet:
        print(f"Wrote the detected damage mask to {mask_out}")
    return status


def cmd_select(args: argparse.Namespace) -> int:
    import numpy as np

    from inpaint_studio.io import load_image, save_mask
    from inpaint_studio.io.mask_file import mask_format
    from inpaint_studio.selection.prompts import SelectMethod, parse_box, parse_point, select

    output = Path(args.output)
    mask_format(output)  # a wrong name or folder fails before the photo is read
    if output.exists() and not args.overwrite:
        raise InpaintStudioError(f"'{output}' already exists; choose another -o or pass --overwrite to replace it.")
    points = [parse_point(text) for text in args.point]
    box = parse_box(args.box) if args.box else None
    if not points and box is None:
        raise InpaintStudioError("Say what to select: --box X0,Y0,X1,Y1 around the object and/or --point X,Y.")
    method = SelectMethod(args.method) if args.method else SelectMethod.GRABCUT if box else SelectMethod.WAND
    sam = None
    if method is SelectMethod.SAM:
        from inpaint_studio.selection.sam import MODEL_ID

        # Before the photo is read: a missing model says `inpaint-studio models download mobile-sam`.
        weights = _model_store(args).require(MODEL_ID)
        device = resolve_device(args.device, ("cpu", "cuda", "mps"), "MobileSAM")
        from inpaint_studio.selection.sam.session import SamSession

        sam = SamSession(weights, device)
    photo = load_image(Path(args.image), max_pixels=args.max_pixels)
    started = time.perf_counter()
    mask = select(photo.rgb, method, points, box, tolerance=args.tolerance, contiguous=not args.non_contiguous, sam=sam)
    save_mask(mask, output)
    share = np.count_nonzero(mask) / mask.size
    print(f"Wrote {output} ({method}, {share:.2%} of the photo selected, {time.perf_counter() - started:.2f} s)")
    return 0


BATCH_SHOWN = 20  # at most this many skipped, failed and warned photos are listed again at the end of a batch


def cmd_batch(args: argparse.Namespace) -> int:
    import tempfile

    from inpaint_studio.batch import DEFAULT_NAME, FAILED, SKIPPED, WRITTEN, BatchSettings
    from inpaint_studio.batch.manifest import count_manifest, write_manifest
    from inpaint_studio.batch.pairing import iter_plan
    from inpaint_studio.batch.streaming import run_manifest
    from inpaint_studio.restore.detect import DEFAULT_DETECTOR, DEFAULT_SENSITIVITY

    _check_batch_options(args)
    ray = args.backend == "ray"
    if ray:
        from inpaint_studio.batch.ray_backend import import_ray

        import_ray()  # not installed: said before any work
    # Fail fast on a bad engine, parameters or device, before any work. With Ray the engine runs on the
    # cluster's machines: here it is checked on the CPU, and the cluster's GPUs decide "auto".
    engine = _engine_for(argparse.Namespace(**{**vars(args), "device": "cpu"}) if ray else args)
    settings = BatchSettings(
        engine_id=args.engine,
        device=args.device if ray else engine.device,
        model_store=engine.model_store,
        params=engine.resolve_params(_parse_params(args.param)),
        quality=args.quality,
        max_pixels=args.max_pixels,
        sensitivity=DEFAULT_SENSITIVITY if args.sensitivity is None else args.sensitivity,
        detector=args.detector or DEFAULT_DETECTOR,
    )
    with tempfile.TemporaryDirectory(prefix="inpaint-studio-batch-") as scratch:
        if args.input_dir is not None:
            # The plan goes to a manifest as the folders are walked (flat memory, however many photos), and every
            # output is checked before any work; the run then reads the manifest back as a stream.
            manifest = Path(args.manifest) if args.manifest else Path(scratch) / "manifest.jsonl"
            total = write_manifest(
                iter_plan(
                    Path(args.input_dir),
                    Path(args.output),
                    mask=Path(args.mask) if args.mask else None,
                    mask_dir=Path(args.mask_dir) if args.mask_dir else None,
                    detect=args.auto_scratches,
                    name_pattern="{stem}" + args.suffix if args.suffix is not None else args.name or DEFAULT_NAME,
                    recursive=args.recursive,
                ),
                manifest,
            )
            if args.manifest_only:
                print(f"Wrote {manifest}: {total} photo(s) to process.")
                return 0
        else:
            manifest = Path(args.manifest)
            total = count_manifest(manifest)  # every record checked before any work

        report = Path(args.report) if args.report else None
        bar = ProgressBar(sys.stderr, "Batch", total=total, quiet=args.quiet)
        shown: dict[str, list] = {WRITTEN: [], SKIPPED: [], FAILED: []}  # the first few, listed again at the end
        progress = {"done": 0, "failed": 0}

        def advance() -> None:
            progress["done"] += 1
            bar.update(progress["done"], f"{progress['failed']} failed" if progress["failed"] else "")

        def on_result(result) -> None:
            if len(shown[result.status]) < BATCH_SHOWN and (result.status != WRITTEN or result.message):
                shown[result.status].append(result)
            if result.status == FAILED:
                progress["failed"] += 1
                bar.close()
                print(f"failed: {result.item.image.name}: {result.message}", file=sys.stderr)
            advance()

        try:
            totals = run_manifest(
                manifest,
                settings,
                backend=args.backend,
                report=report,
                workers=args.workers or (None if ray else min(4, os.cpu_count() or 1)),
                skip_existing=args.skip_existing,
                address=args.address,
                on_result=on_result,
                on_already_done=lambda item: advance(),
                engine=None if ray else engine,
            )
        finally:
            bar.close()

    for result in shown[WRITTEN]:  # what the output could not keep (other frames, transparency, metadata ...)
        _warn(f"{result.item.image.name}: {result.message}")
    if args.quiet:  # each failure was printed as it happened
        return 1 if totals.failed else 0
    rate = totals.processed / totals.seconds if totals.seconds else 0.0
    where = f"Output: {args.output}" if args.output else f"Manifest: {manifest}"
    print(
        f"Processed {totals.processed} photo(s) in {totals.seconds:.1f} s ({rate:.2f}/s): "
        f"{totals.written} written, {totals.skipped} skipped, {totals.failed} failed. {where}"
    )
    if totals.already_done:
        print(f"Left out {totals.already_done} photo(s) that the report says are done already.")
    if report is not None:
        print(f"Report: {report}")
    for status, count, label in ((SKIPPED, totals.skipped, "skipped"), (FAILED, totals.failed, "failed ")):
        for result in shown[status]:
            print(f"  {label} {result.item.image.name}: {result.message}")
        if count > len(shown[status]):
            more = f"see the report {report}" if report is not None else "each was printed as it happened"
            print(f"  ... and {count - len(shown[status])} more {label.strip()}: {more}")
    return 1 if totals.failed else 0


def _check_batch_options(args: argparse.Namespace) -> None:
    """The combinations of `batch` options that argparse cannot check."""
    if args.input_dir is not None:
        if not (args.mask or args.mask_dir or args.auto_scratches):
            raise InpaintStudioError(
                "Give exactly one mask source: a mask file (--mask), a mask folder (--mask-dir) "
                "or scratch detection (--auto-scratches)."
            )
        if args.output is None:
            raise InpaintStudioError("Give the output folder: -o OUT_DIR.")
        if (args.sensitivity is not None or args.detector is not None) and not args.auto_scratches:
            raise InpaintStudioError("--sensitivity and --detector apply only with --auto-scratches.")
    else:
        if not args.manifest:
            raise InpaintStudioError("Give the folder of photos, or a manifest of photos to process (--manifest FILE).")
        given = [name for name, value in (("--mask", args.mask), ("--mask-dir", args.mask_dir),
                                          ("--auto-scratches", args.auto_scratches), ("-o", args.output),
                                          ("--name", args.name), ("--suffix", args.suffix), ("--recursive", args.recursive),
                                          ("--manifest-only", args.manifest_only)) if value]
        if given:
            raise InpaintStudioError(
                f"{', '.join(given)} apply when a folder is given; a manifest names each photo's mask and output."
            )
    if args.manifest_only and not args.manifest:
        raise InpaintStudioError("--manifest-only writes the manifest named by --manifest FILE.")
    if args.address is not None and args.backend != "ray":
        raise InpaintStudioError("--address applies with --backend ray.")


def cmd_engines(args: argparse.Namespace) -> int:
    from inpaint_studio.engines.registry import (
        DEFAULT_ENGINE,
        create_engine,
        engine_class,
        engine_ids,
    )

    rows = []
    store = _model_store(args)
    for engine_id in engine_ids():
        cls = engine_class(engine_id)
        if cls.info.kind == EngineKind.TEST:
            continue
        reason = create_engine(engine_id, "cpu", model_store=store).readiness() if "cpu" in cls.info.devices else None
        status = "ready" if reason is None else f"not ready: {reason}"
        default = " (default)" if engine_id == DEFAULT_ENGINE else ""
        rows.append((engine_id + default, cls.info.name, "/".join(cls.info.devices), status, cls.info.description))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[4])
    return 0


def _megabytes(count: int) -> str:
    return f"{count / 1e6:.1f} MB"


def _model_store(args: argparse.Namespace):
    """The store in --models-dir, else the folder chosen in the settings, else the default one.

    The mirror likewise: --mirror, the settings, then INPAINT_STUDIO_MODEL_MIRROR.
    """
    from inpaint_studio.models import ModelStore
    from inpaint_studio.session.settings import Settings

    settings = Settings.load()
    folder = getattr(args, "models_dir", None) or settings.models_dir or None
    mirror = getattr(args, "mirror", None) or settings.model_mirror or None
    return ModelStore(folder, mirror=mirror)


def _models_list(store, args: argparse.Namespace) -> int:
    rows = [("ID", "NAME", "ENGINE", "STATUS", "DOWNLOAD", "ON DISK", "FOLDER")]
    for status in store.statuses():
        state = "not installed"
        if status.installed:
            state = "installed, trusted" if status.trusted else "installed, NOT trusted"
        elif status.bytes_on_disk:
            state = "incomplete"
        size = _megabytes(status.bytes_on_disk) if status.bytes_on_disk else "-"
        info = status.info
        to_fetch = store.download_size_text([info.id]) or "-"
        rows.append((info.id, info.name, info.engine, state, to_fetch, size, str(store.folder(info.id))))
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[6])
    return 0


def _models_download(store, args: argparse.Namespace) -> int:
    ids = list(dict.fromkeys(store.info(model_id).id for model_id in args.model_ids))
    size = store.download_size_text(ids)
    if size and sys.stderr.isatty():
        print(f"Downloading {', '.join(ids)} ({size}) into {store.root}", file=sys.stderr)
    bar = ProgressBar(sys.stderr, f"Downloading {' + '.join(ids)}"[:40])

    def progress(done: int, total: int | None) -> None:
        if total:
            bar.update(done * 100 / total, f"{done / 1e6:.1f}/{_megabytes(total)}")
        else:
            bar.update(0, _megabytes(done))

    try:  # one job: a failure names every file still missing, with its URL and where it goes
        store.download_models(ids, progress=progress)
    except KeyboardInterrupt:
        bar.close()
        print(
            f"\n{PROG}: interrupted; the partial download is kept in {store.root} "
            f"and `{PROG} models download {' '.join(ids)}` resumes it",
            file=sys.stderr,
        )
        return 130
    finally:
        bar.close()
    for model_id in ids:
        info = store.info(model_id)
        on_disk = sum(store.file_path(model_id, file.name).stat().st_size for file in info.files)
        print(f"Installed {info.name} ({_megabytes(on_disk)}) in {store.folder(model_id)}")
    return 0


def _models_import(store, args: argparse.Namespace) -> int:
    info = store.info(args.model_id)
    store.import_file(info.id, args.path, allow_unknown=args.allow_unknown)  # refuses empty or incomplete sets
    if store.trust(info.id) == "catalogue":
        how = "it matches the catalogue's checksum"
    elif not any(file.has_checksum for file in info.files) and info.format != "torchscript":
        how = "no checksum is published for it; weights files are read without running any code"
    else:
        how = "it does not match the catalogue; trusted because you gave --allow-unknown"
    print(f"Imported {info.name} into {store.folder(info.id)} ({how}). `{PROG} models verify {info.id}` checks that it loads.")
    return 0


def _models_verify(store, args: argparse.Namespace) -> int:
    if args.model_id:
        ids = [store.info(args.model_id).id]
    else:
        ids = [model_id for model_id in store.catalogue if store.has_files(model_id)]
    if not ids:
        print(f"No models installed in {store.root}.")
        return 0
    failed = 0
    for model_id in ids:
        verification = store.verify(model_id)
        failed += not verification.ok
        print(f"{model_id}: {verification.summary()}")
    return 1 if failed else 0


def _models_remove(store, args: argparse.Namespace) -> int:
    info = store.info(args.model_id)
    store.remove(info.id)
    print(f"Removed {info.name} from {store.folder(info.id)}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    actions = {
        "list": _models_list,
        "download": _models_download,
        "import": _models_import,
        "verify": _models_verify,
        "remove": _models_remove,
    }
    return actions[args.models_command](_model_store(args), args)

def _warnings_to_log() -> None:
    """Python warnings (a library's UserWarning, say) go to the log file, never to the user's terminal."""
    from inpaint_studio.session.logs import active_log_file

    logging.captureWarnings(True)
    if active_log_file() is None:
        logging.getLogger("py.warnings").addHandler(logging.NullHandler())  # rather than logging's last resort, stderr


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _sensitivity(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number between 0 and 1, not '{text}'") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _level(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 255:
        raise argparse.ArgumentTypeError(f"expected a level from 0 to 255, got '{text}'")
    return value


def _quality(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError("must be between 1 and 100")
    return value


def build_parser() -> argparse.ArgumentParser:
    from inpaint_studio.engines.registry import DEFAULT_ENGINE

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Remove objects and repair damaged photos with local inpainting engines. "
        "Run without a command (or with a photo path) to open the desktop window.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks for unexpected errors")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check this installation without a display: fill the bundled sample with the default engine "
        "through the background worker, check the result, the window (offscreen) and the learned-engine runtime",
    )
    parser.add_argument(
        "--warm-up",
        action="store_true",
        help="compile the default engine's kernels into the cache now (a few seconds, once after installing), "
        "so that the first fill is as fast as later ones",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def engine_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--engine", default=DEFAULT_ENGINE, help=f"engine id (default: {DEFAULT_ENGINE}; see `{PROG} engines`)")
        sub.add_argument("--device", default="auto", choices=DEVICE_CHOICES, help="compute device (default: auto)")
        sub.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="engine parameter (repeatable)")
        sub.add_argument("--quality", type=_quality, help="JPEG/WebP quality 1-100 (default: same as the input)")
        sub.add_argument(
            "--max-pixels",
            type=_positive_int,
            help="refuse images larger than this many pixels (default: 250 million, or INPAINT_STUDIO_MAX_PIXELS)",
        )
        sub.add_argument(
            "--models-dir", metavar="DIR", help="where learned engines find their models (default: the one in the settings)"
        )
        sub.add_argument(
            "-q", "--quiet", action="store_true", help="no progress bar and no summary; errors and warnings are still printed"
        )

    def report_option(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--report", metavar="FILE",
            help="append one JSON line to FILE saying what happened (written, skipped or failed, why, seconds), "
            "as `batch --report` does for each photo",
        )

    remove = commands.add_parser(
        "remove",
        help="fill the masked area of one photo",
        description="Fill the masked area of one photo and write the result in the same format.",
    )
    remove.add_argument("image", help="the photo")
    remove.add_argument("--mask", required=True, help="mask image: white (>127) = remove")
    remove.add_argument("-o", "--output", help="output file (default: PHOTO_inpainted.EXT beside the photo)")
    remove.add_argument("--overwrite", action="store_true", help="allow writing over an input file (the photo or the mask)")
    engine_options(remove)
    report_option(remove)
    remove.set_defaults(handler=cmd_remove)

    from inpaint_studio.restore.detect import (
        DEFAULT_DETECTOR,
        DEFAULT_SENSITIVITY,
        DETECTORS,
    )

    detector_help = (
        f"how damage is found: {' or '.join(DETECTORS)} (default {DEFAULT_DETECTOR}: a small network trained "
        "on synthetic scratches and dust; classical: filters, no weights)"
    )
    restore = commands.add_parser(
        "restore",
        help="find scratches and dust in a photo and fill them",
        description="Detect scratches, hairs and dust in one photo, fill them, and write the result in the same format.",
    )
    restore.add_argument("image", help="the photo")
    restore.add_argument("-o", "--output", help="output file (default: PHOTO_restored.EXT beside the photo)")
    restore.add_argument(
        "--mask-out", metavar="MASK", help="also write the detected damage mask here (.png, .tif or .bmp; white = damage)"
    )
    restore.add_argument(
        "--sensitivity",
        type=_sensitivity,
        default=DEFAULT_SENSITIVITY,
        help=f"0 (only obvious damage) to 1 (also faint damage, more false finds); default {DEFAULT_SENSITIVITY:g}",
    )
    restore.add_argument("--detector", choices=sorted(DETECTORS), default=DEFAULT_DETECTOR, help=detector_help)
    restore.add_argument("--overwrite", action="store_true", help="allow writing over the input photo")
    engine_options(restore)
    report_option(restore)
    restore.set_defaults(handler=cmd_restore)

    from inpaint_studio.selection.prompts import SelectMethod
    from inpaint_studio.selection.wand import DEFAULT_TOLERANCE

    select = commands.add_parser(
        "select",
        help="make a mask of an object from a box or points",
        description="Select an object in a photo from a box around it and/or points on it, and write the mask "
        "(white = selected) for `remove` or `batch`. Coordinates are pixels of the photo as it is shown "
        "(turned upright by its orientation tag), from the top-left corner.",
    )
    select.add_argument("image", help="the photo")
    select.add_argument(
        "--point", action="append", default=[], metavar="X,Y[,1|0]",
        help="a point on the object (X,Y or X,Y,1) or one that is not (X,Y,0); repeatable",
    )
    select.add_argument("--box", metavar="X0,Y0,X1,Y1", help="a box around the object (two corners)")
    select.add_argument(
        "--method", choices=[method.value for method in SelectMethod],
        help="grabcut: the object in the box, points refine it (default with --box); "
        "wand: the colour region around each point (default without --box); "
        f"sam: MobileSAM's mask for the points and the box together (`{PROG} models download mobile-sam` first)",
    )
    select.add_argument(
        "--tolerance", type=_level, default=DEFAULT_TOLERANCE, help=f"wand: colour tolerance 0-255 (default {DEFAULT_TOLERANCE})"
    )
    select.add_argument(
        "--non-contiguous", action="store_true", help="wand: that colour anywhere in the photo, not only touching the point"
    )
    select.add_argument("-o", "--output", required=True, metavar="MASK", help="the mask to write (.png, .tif or .bmp)")
    select.add_argument("--overwrite", action="store_true", help="allow replacing an existing file")
    select.add_argument(
        "--max-pixels", type=_positive_int, help="refuse images larger than this many pixels (default: 250 million)"
    )
    select.add_argument("--device", default="auto", choices=DEVICE_CHOICES, help="sam: compute device (default: auto)")
    select.add_argument("--models-dir", metavar="DIR", help="sam: model folder (default: the one in the settings)")
    select.set_defaults(handler=cmd_select)

    batch = commands.add_parser(
        "batch",
        help="process every photo in a folder",
        description="Process every photo in a folder (and its sub-folders, with --recursive) with one mask for all, "
        "masks matched by name, or the scratches and dust found in each photo; originals are never modified. "
        "The photos are listed in a manifest, then processed as a stream, on this machine or on a Ray cluster; "
        "with --report, each finished photo is recorded as it finishes, and a rerun with the same report resumes.",
    )
    batch.add_argument("input_dir", nargs="?", help="folder of photos (leave out to process a manifest: --manifest FILE)")
    source = batch.add_mutually_exclusive_group()
    source.add_argument("--mask", help="one mask for every photo (scaled when sizes differ)")
    source.add_argument("--mask-dir", help="folder of masks matched by file name (photo.jpg <- photo.png or photo_mask.png)")
    source.add_argument(
        "--auto-scratches",
        action="store_true",
        help="find scratches, hairs and dust in each photo (as `restore` does) and fill them; "
        "a photo where none is found is skipped",
    )
    batch.add_argument(
        "--sensitivity",
        type=_sensitivity,
        metavar="S",
        help=f"with --auto-scratches: 0 (only obvious damage) to 1 (also faint damage); default {DEFAULT_SENSITIVITY:g}",
    )
    batch.add_argument("--detector", choices=sorted(DETECTORS), help=f"with --auto-scratches: {detector_help}")
    batch.add_argument("-o", "--output", help="output folder (created if missing; not the input folder)")
    batch.add_argument(
        "-r", "--recursive", action="store_true",
        help="also the photos in sub-folders, written to the same sub-folders of the output folder "
        "(and their masks looked for in the same sub-folders of --mask-dir)",
    )
    naming = batch.add_mutually_exclusive_group()
    naming.add_argument(
        "--name",
        metavar="PATTERN",
        help="output file name, {stem} being the photo's name without extension; the photo's extension "
        "and format are kept (default: {stem}, the photo's own name)",
    )
    naming.add_argument("--suffix", metavar="TEXT", help="add TEXT to each output name: --suffix _clean is --name '{stem}_clean'")
    batch.add_argument(
        "--manifest", metavar="FILE",
        help="with a folder: write the list of photos to process to FILE (JSONL, or Parquet when FILE ends in .parquet), "
        "then process them; without a folder: process the photos FILE lists",
    )
    batch.add_argument("--manifest-only", action="store_true", help="write the manifest (--manifest FILE) and stop")
    batch.add_argument(
        "--report", metavar="FILE",
        help="append one JSON line per finished photo to FILE (what was written, skipped or failed, and why); "
        "a rerun with the same FILE leaves out the photos it records as done",
    )
    batch.add_argument(
        "--workers",
        type=_positive_int,
        help="worker processes (default: CPU cores, at most 4); with --backend ray, workers on the cluster "
        "(default: one per CPU, or per GPU for an engine on CUDA)",
    )
    batch.add_argument("--skip-existing", action="store_true", help="skip photos whose output already exists")
    batch.add_argument(
        "--backend", choices=("local", "ray"), default="local",
        help='where the photos are processed: local (worker processes on this machine; the default) or ray '
        '(a Ray cluster; needs `pip install "inpaint-studio[cluster]"`)',
    )
    batch.add_argument(
        "--address", metavar="ADDRESS",
        help="with --backend ray: the cluster, auto (the one this machine belongs to), HOST:PORT or ray://HOST:PORT "
        "(default: a cluster started on this machine for the batch)",
    )
    engine_options(batch)
    batch.set_defaults(handler=cmd_batch)

    engines = commands.add_parser("engines", help="list engines and whether each is ready")
    engines.add_argument("--models-dir", metavar="DIR", help="model folder (default: the one in the settings)")
    engines.set_defaults(handler=cmd_engines)

    def models_options(sub: argparse.ArgumentParser, default) -> None:
        sub.add_argument("--models-dir", metavar="DIR", default=default, help="model folder (default: the one in the settings)")
        sub.add_argument(
            "--mirror",
            metavar="URL",
            default=default,
            help="download from this server instead of the catalogue's host (default: INPAINT_STUDIO_MODEL_MIRROR)",
        )

    models = commands.add_parser(
        "models",
        help="download, import, check and remove model weights",
        description="Manage the model files that learned engines need.",
    )
    models_options(models, None)
    actions = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    # The options are accepted after the action too; SUPPRESS keeps them from resetting the ones given before it.
    models_list = actions.add_parser("list", help="list known models and whether each is installed")
    models_download = actions.add_parser(
        "download", help="download models and check them against the catalogue (one job: a failure lists every file)"
    )
    models_download.add_argument(
        "model_ids", metavar="ID", nargs="+", help="model id (see `models list`), e.g. moebius-pretrained moebius-vae"
    )
    models_import = actions.add_parser("import", help="copy a model file you downloaded yourself into place")
    models_import.add_argument("model_id", metavar="ID", help="model id (see `models list`)")
    models_import.add_argument("path", metavar="PATH", help="the file, or a folder that holds it")
    models_import.add_argument(
        "--allow-unknown", action="store_true", help="install and trust a file whose checksum is not in the catalogue"
    )
    models_verify = actions.add_parser(
        "verify", help="check installed models: checksums, and that each loads as its engine loads it (exit 1 on problems)"
    )
    models_verify.add_argument("model_id", metavar="ID", nargs="?", help="model id (default: every installed model)")
    models_remove = actions.add_parser("remove", help="delete an installed model")
    models_remove.add_argument("model_id", metavar="ID", help="model id (see `models list`)")
    for sub in (models_list, models_download, models_import, models_verify, models_remove):
        models_options(sub, argparse.SUPPRESS)
    models.set_defaults(handler=cmd_models)
    return parser


COMMANDS = ("remove", "restore", "select", "batch", "engines", "models")


def _mistyped_command(word: str) -> bool:
    """Whether `word`, given where a command or a photo goes, is neither; if so, say so (with a suggestion).

    A path that exists, or looks like a file name (it has an extension or a folder), opens the
    window as before; a bare word that is none of the commands is a typo, not a photo.
    """
    import difflib

    path = Path(word)
    if path.exists() or path.suffix or len(path.parts) > 1:
        return False
    close = difflib.get_close_matches(word, COMMANDS, n=1, cutoff=0.6)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    print(
        f"{PROG}: error: '{word}' is not a command ({', '.join(COMMANDS)}) nor a photo.{hint} "
        f"`{PROG} --help` lists the commands; `{PROG} PHOTO` opens a photo in the window.",
        file=sys.stderr,
    )
    return True


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in COMMANDS and not argv[0].startswith("-") and _mistyped_command(argv[0]):
        return 2
    # No command, or a photo path: open the desktop window.
    if not argv or (argv[0] not in COMMANDS and not argv[0].startswith("-")):
        from inpaint_studio.ui.application import run_gui

        return run_gui(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    from inpaint_studio.session.logs import setup_logging

    setup_logging()  # never fails: without a log file, unexpected errors go to stderr only
    _warnings_to_log()
    if args.self_test:
        from inpaint_studio.selftest import run_self_test

        return run_self_test()
    if args.warm_up:
        from inpaint_studio.selftest import run_warm_up

        return run_warm_up()
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.handler(args)
    except JobCancelled:
        print(f"{PROG}: cancelled", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted; nothing was written for the unfinished photo", file=sys.stderr)
        return 130
    except InpaintStudioError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 1
    except MemoryError:
        print(f"{PROG}: error: not enough memory for this image", file=sys.stderr)
        return 1
    except Exception as error:
        if args.debug:
            raise
        from inpaint_studio.session.logs import active_log_file, log

        log.exception("internal error in `%s %s`", PROG, args.command)
        where = f"; the traceback is in {active_log_file()}" if active_log_file() else ""
        print(f"{PROG}: internal error: {type(error).__name__}: {error} (run with --debug for details{where})", file=sys.stderr)
        return 1

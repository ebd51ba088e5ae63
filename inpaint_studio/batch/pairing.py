"""Which files of a folder are photos, which mask goes with each, and what each output is called."""

from __future__ import annotations

import os
import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from inpaint_studio.core.errors import InpaintStudioError
from inpaint_studio.io.formats import output_suffix
from inpaint_studio.io.photo_files import find_images

# Output file names: the pattern gives the stem, the photo's own extension (so its format) is kept.
DEFAULT_NAME = "{stem}"


@dataclass(frozen=True)
class BatchItem:
    """One photo to process. Only paths and a flag: items cross process boundaries."""

    image: Path
    mask: Path | None  # None: no mask was found for this photo, or `detect` finds it
    output: Path
    detect: bool = False  # the worker detects scratches and dust (as `inpaint-studio restore` does)


def check_name_pattern(pattern: str) -> str:
    """Return `pattern` when it names output files safely, else raise InpaintStudioError saying why.

    `{stem}` stands for the photo's name without its extension and must appear
    (every photo needs its own output); nothing else may be in braces, and the
    result must stay a plain file name inside the output folder.
    """
    problem = None
    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(pattern) if name is not None]
    except ValueError:  # an unmatched brace
        fields, problem = [], "it has an unmatched '{' or '}' (write {stem} for the photo's name)"
    if problem is None:
        if any(name != "stem" or spec or conversion for name, spec, conversion in fields):
            problem = "the only placeholder it may hold is {stem}"
        elif not fields:
            problem = "it must contain {stem}, or every photo would get the same name"
        elif any(sep in pattern for sep in ("/", "\\", os.sep, "\0")):
            problem = "it must be a file name, without folders"
        elif pattern.startswith("."):
            problem = "a name starting with '.' would hide the files"
    if problem:
        raise InpaintStudioError(f"The output name pattern '{pattern}' cannot be used: {problem}.")
    return pattern


def output_name(image: Path, pattern: str = DEFAULT_NAME) -> str:
    """The output file name of `image`: the pattern with {stem} filled in, and the photo's extension
    (.jpg for a format that cannot be written: HEIC)."""
    return pattern.format(stem=Path(image).stem) + output_suffix(Path(image))


def _masks_by_stem(mask_dir: Path, *, suffixed_only: bool) -> dict[str, Path]:
    """Mask files keyed by the lower-case stem of the photo they serve.

    `photo.png` and `photo_mask.png` both serve `photo` (the suffixed one wins);
    with `suffixed_only` (masks kept beside the photos) only `*_mask` files count.
    """
    masks: dict[str, Path] = {}
    for path in find_images(mask_dir):
        stem = path.stem.lower()
        if stem.endswith("_mask"):
            masks[stem[: -len("_mask")]] = path
    if not suffixed_only:
        for path in find_images(mask_dir):
            masks.setdefault(path.stem.lower(), path)
    return masks


def _file_key(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _refuse_outputs_over_inputs(items: list[BatchItem], inputs: list[Path]) -> None:
    """No output may be one of the input files (photos or masks), whatever path leads to it.

    Files are compared by device and inode, so a symlinked folder, a hard link or a
    case-insensitive file system cannot make an output replace an original.
    """
    keys = {key: path for path in inputs if (key := _file_key(path)) is not None}
    for item in items:
        key = _file_key(item.output)
        if key is not None and key in keys:
            raise InpaintStudioError(
                f"The output '{item.output}' would replace the input '{keys[key]}'; choose another output folder "
                "or name pattern so the originals stay untouched."
            )


def plan_batch(
    input_dir: Path,
    output_dir: Path,
    *,
    mask: Path | None = None,
    mask_dir: Path | None = None,
    detect: bool = False,
    name_pattern: str = DEFAULT_NAME,
) -> list[BatchItem]:
    """One item per photo in `input_dir`, written to `output_dir` as `name_pattern` + the photo's extension.

    The mask source is exactly one of: `mask`, one file for all (scaled to each
    photo); `mask_dir`, masks matched by stem; `detect`, scratches and dust found
    in each photo by the worker. Raises InpaintStudioError for a folder without
    photos and for any plan that would write over an input.
    """
    return list(iter_plan(input_dir, output_dir, mask=mask, mask_dir=mask_dir, detect=detect, name_pattern=name_pattern))


def iter_plan(
    input_dir: Path,
    output_dir: Path,
    *,
    mask: Path | None = None,
    mask_dir: Path | None = None,
    detect: bool = False,
    name_pattern: str = DEFAULT_NAME,
    recursive: bool = False,
) -> Iterator[BatchItem]:
    """`plan_batch`'s items one folder at a time, so that a tree of any size is planned in flat memory.

    With `recursive`, sub-folders are walked too (depth first, sorted by name; hidden folders and
    links to folders are left out) and mirrored below `output_dir`: `IN/2019/a.jpg` is written to
    `OUT/2019/a.jpg`, and its mask is looked for in `MASKS/2019/`. The output and mask folders are
    not walked when they lie inside `input_dir`. The checks are `plan_batch`'s, folder by folder,
    and one across folders: no output may be an existing file of the input tree.
    """
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    if (mask is not None) + (mask_dir is not None) + bool(detect) != 1:
        raise InpaintStudioError(
            "Give exactly one mask source: a mask file (--mask), a mask folder (--mask-dir) "
            "or scratch detection (--auto-scratches)."
        )
    check_name_pattern(name_pattern)
    find_images(input_dir)  # not a folder: refused with the reason, before anything else
    if output_dir.exists() and output_dir.resolve() == input_dir.resolve():
        raise InpaintStudioError(
            f"The output folder '{output_dir}' is the input folder; choose another so the originals stay untouched."
        )
    if mask is not None:
        mask = Path(mask)
        if not mask.is_file():
            raise InpaintStudioError(f"Mask file '{mask}' not found.")
    elif mask_dir is not None:
        mask_dir = Path(mask_dir)
        if not mask_dir.is_dir():
            raise InpaintStudioError(f"Mask folder '{mask_dir}' not found.")
    # Folders inside the input tree that hold no photos to process (masks kept beside the photos excepted).
    not_walked = {output_dir.resolve(), *([mask_dir.resolve()] if mask_dir is not None else [])} - {input_dir.resolve()}
    found = False
    for relative in _folders(input_dir, recursive, not_walked):
        folder_masks = mask_dir / relative if mask_dir is not None else None
        items = _plan_folder(input_dir / relative, output_dir / relative, mask, folder_masks, detect, name_pattern)
        if recursive:
            _refuse_outputs_in_the_input_tree(items, input_dir, output_dir)
        found = found or bool(items)
        yield from items
    if not found:
        raise InpaintStudioError(f"No photos found in '{input_dir}'{' or its sub-folders' if recursive else ''}.")


def _folders(root: Path, recursive: bool, not_walked: set[Path]) -> Iterator[Path]:
    """`root` and, if `recursive`, its sub-folders, relative to it: depth first, each before its sub-folders.

    Only the folders not yet visited are held (siblings along the current path), never the whole tree.
    """
    stack = [Path()]
    while stack:
        relative = stack.pop()
        yield relative
        if not recursive:
            return
        try:
            with os.scandir(root / relative) as entries:
                names = [e.name for e in entries if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)]
        except OSError as error:
            raise InpaintStudioError(f"Cannot read the folder '{root / relative}': {error.strerror}.") from None
        subfolders = [relative / name for name in sorted(names, key=str.lower)]
        stack += reversed([sub for sub in subfolders if (root / sub).resolve() not in not_walked])


def _plan_folder(
    folder: Path, output_dir: Path, mask: Path | None, mask_dir: Path | None, detect: bool, name_pattern: str
) -> list[BatchItem]:
    """The items of the photos directly in `folder`, checked as `plan_batch` checks them."""
    images = find_images(folder)
    masks: dict[str, Path] = {}  # by photo stem, for a mask folder
    if mask is not None:
        mask_files = protected = [mask]
    elif mask_dir is not None:
        if mask_dir.is_dir():  # a sub-folder of a mask tree may be missing: its photos have no masks
            masks = _masks_by_stem(mask_dir, suffixed_only=mask_dir.resolve() == folder.resolve())
        mask_files = list(masks.values())
        protected = find_images(mask_dir) if mask_dir.is_dir() else []  # every file there, matched or not
    else:
        mask_files = protected = []

    def pick(image: Path) -> Path | None:
        return mask if mask is not None else masks.get(image.stem.lower())

    # Masks kept beside the photos are not photos to process.
    resolved_masks = {m.resolve() for m in mask_files}
    photos = [image for image in images if image.resolve() not in resolved_masks]
    items = [BatchItem(image, pick(image), output_dir / output_name(image, name_pattern), detect) for image in photos]
    _refuse_outputs_over_inputs(items, images + protected)
    _refuse_shared_outputs(items)
    return items


def _refuse_outputs_in_the_input_tree(items: list[BatchItem], input_dir: Path, output_dir: Path) -> None:
    """An output that exists in the input tree is a photo of another folder, unless it is in the output folder
    kept inside the input tree (which is not walked)."""
    input_root, output_root = input_dir.resolve(), output_dir.resolve()
    kept_inside = output_root.is_relative_to(input_root)
    for item in items:
        if item.output.exists():
            target = item.output.resolve()
            if target.is_relative_to(input_root) and not (kept_inside and target.is_relative_to(output_root)):
                raise InpaintStudioError(
                    f"The output '{item.output}' would replace '{target}' in the input folder; choose another output "
                    "folder or name pattern so the originals stay untouched."
                )


def _refuse_shared_outputs(items: list[BatchItem]) -> None:
    """No two photos may be written to one file (IMG_1.heic and IMG_1.jpg both become IMG_1.jpg,
    HEIC being written as JPEG); compared case-blind, as on Windows and macOS."""
    first: dict[str, Path] = {}
    for item in items:
        key = item.output.name.lower()
        if key in first:
            raise InpaintStudioError(
                f"'{first[key].name}' and '{item.image.name}' would both be written to '{item.output}'; "
                "rename one of them, or keep them in different folders."
            )
        first[key] = item.image

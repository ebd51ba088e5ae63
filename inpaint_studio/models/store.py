"""The folder of installed model files: what is there, whether it can be trusted, and changes to it.

Each model lives in `<root>/<model id>/` under its catalogue file names, so a
user can also put a file there by hand. A small `manifest.json` beside the files
remembers what each file measured (size, modification time, checksums) and why
it is trusted: its checksums matched the catalogue, or the user imported it
knowingly. A file that changed since it was recorded is measured again. Only a
trusted file may be loaded as TorchScript, which can run code.

A model of several files (the Moebius VAE: config.json and its weights) is
imported from one folder that holds all of them, never assembled from files
found in different places.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from inpaint_studio.core import paths
from inpaint_studio.core.errors import (
    ModelError,
    ModelMissingError,
    UnknownModelFileError,
)
from inpaint_studio.io.atomic import atomic_write
from inpaint_studio.io.image_file import format_bytes
from inpaint_studio.models.catalogue import CATALOGUE, ModelFile, ModelInfo, lookup
from inpaint_studio.models.download import (
    DEFAULT_TIMEOUT,
    Digests,
    DownloadProgress,
    by_hand_all,
    copy_with_digests,
    download_file,
    file_digests,
    part_path,
    validator_path,
)
from inpaint_studio.models.load_check import check_loads

if TYPE_CHECKING:  # the engines package imports this one; avoid a cycle at run time
    from inpaint_studio.core.jobs import CancelToken

DEFAULT_MIRROR_ENV = "INPAINT_STUDIO_MODEL_MIRROR"
MANIFEST_NAME = "manifest.json"

# Why a recorded file is trusted. "source": fetched from the catalogue's address,
# which publishes no checksum (only formats that cannot run code are listed so).
# "none": measured, but it matched nothing.
TRUST_CATALOGUE = "catalogue"
TRUST_SOURCE = "source"
TRUST_USER = "user"
TRUST_NONE = "none"


def mirror_problem(mirror: str) -> str | None:
    """Why `mirror` cannot serve as the model download mirror, in one sentence; None when it can (or is empty)."""
    base = urlsplit(mirror)
    if mirror and (base.scheme not in ("http", "https") or not base.netloc or " " in mirror):
        return f"The model mirror '{mirror}' is not an http(s) address such as https://mirror.example.com."
    return None


def mirrored_url(url: str, mirror: str | None) -> str:
    """`url` with its scheme and host replaced by `mirror` (which may carry a path prefix)."""
    if not mirror:
        return url
    problem = mirror_problem(mirror)
    if problem:
        raise ModelError(problem)
    parts = urlsplit(url)
    return mirror.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")


@dataclass(frozen=True)
class ModelStatus:
    """One catalogue entry and how it stands on disk."""

    info: ModelInfo
    installed: bool
    trusted: bool
    bytes_on_disk: int


@dataclass
class Verification:
    """What `ModelStore.verify` found: one sentence per sound file, the problems, and how the model loads."""

    model_id: str
    notes: list[str] = field(default_factory=list)  # "big-lama.pt matches the published checksum"
    problems: list[str] = field(default_factory=list)  # "big-lama.pt: its MD5 is ..., the catalogue says ..."
    loads: str | None = None  # how the files loaded; None when not tried (a problem came first)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """One line: "OK: <what is true of each file>; <how it loads>", or the problems."""
        if self.problems:
            return "; ".join(self.problems)
        return "OK: " + "; ".join([*self.notes, *([self.loads] if self.loads else [])])


class ModelFiles(Protocol):
    """What an engine asks of a model store: is a model there, where is it, may it run code."""

    def is_installed(self, model_id: str) -> bool: ...

    def require(self, model_id: str) -> Path: ...

    def is_trusted(self, model_id: str) -> bool: ...


class ModelStore:
    """Installed models under one root folder; `catalogue` says which models exist."""

    def __init__(
        self,
        root: Path | str | None = None,
        mirror: str | None = None,
        catalogue: Mapping[str, ModelInfo] = CATALOGUE,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.root = Path(root).expanduser() if root else paths.models_dir()
        if mirror is None:
            mirror = os.environ.get(DEFAULT_MIRROR_ENV) or None
        self.mirror = mirror
        self.catalogue = catalogue
        self.timeout = timeout

    # -- where things are ---------------------------------------------------------------

    def info(self, model_id: str) -> ModelInfo:
        """The catalogue entry, or a ModelError naming the known ids."""
        return lookup(self.catalogue, model_id)

    def folder(self, model_id: str) -> Path:
        return self.root / self.info(model_id).id

    def file_path(self, model_id: str, name: str | None = None) -> Path:
        """Where the file `name` (default: the model's first file) lives when installed."""
        return self.folder(model_id) / self._file(model_id, name).name

    def url_for(self, model_id: str, name: str | None = None) -> str:
        """The address a file is downloaded from: the catalogue's, or the mirror's copy of it."""
        return mirrored_url(self._file(model_id, name).url, self.mirror)

    # -- state ----------------------------------------------------------------------------

    def is_installed(self, model_id: str) -> bool:
        """Every file is present, with the catalogue's or the recorded size where one is known."""
        records = self._records(model_id)
        for file in self.info(model_id).files:
            st = _stat(self.folder(model_id) / file.name)
            if st is None or st.st_size == 0:
                return False
            sizes = {file.size, records.get(file.name, {}).get("size")} - {None}
            if sizes and st.st_size not in sizes:
                return False
        return True

    def is_trusted(self, model_id: str) -> bool:
        """Installed, and each file matched the catalogue's checksums or was imported knowingly.

        A file not seen before in its current state (placed by hand, or changed) is
        measured now, which reads it once; the result is remembered.
        """
        return self.trust(model_id) is not None

    def trust(self, model_id: str) -> str | None:
        """Why the installed model is trusted: "catalogue" (every file matched it), "user"
        (some file was imported with allow_unknown), or None (not installed, or not trusted)."""
        if not self.is_installed(model_id):
            return None
        records = self._records(model_id)
        before = json.dumps(records, sort_keys=True)
        reasons = {self._trust(model_id, file, records) for file in self.info(model_id).files}
        if json.dumps(records, sort_keys=True) != before:
            try:
                self._save_records(model_id, records)
            except ModelError:
                pass  # a read-only folder: measure again next time
        if TRUST_NONE in reasons:
            return None
        for reason in (TRUST_USER, TRUST_SOURCE):
            if reason in reasons:
                return reason
        return TRUST_CATALOGUE

    def has_files(self, model_id: str) -> bool:
        """Any of the model's files, or an unfinished download of one, is in its folder."""
        return any(path.exists() for path in self._own_paths(model_id))

    def require(self, model_id: str) -> Path:
        """The path of the model's first file, or ModelMissingError saying how to install it."""
        if self.is_installed(model_id):
            return self.file_path(model_id)
        info = self.info(model_id)
        raise ModelMissingError(
            f"The {info.name} model is not installed. Run `inpaint-studio models download {model_id}`. "
            f"{self.manual_install([model_id])}"
        )

    def manual_install(self, model_ids: Iterable[str]) -> str:
        """How to install the models' files by hand: each file's URL and where to save it, in one sentence.

        Files already in place are left out, unless nothing would be left.
        """
        files = [(model_id, file) for model_id in model_ids for file in self.info(model_id).files]
        missing = [(m, f) for m, f in files if _stat(self.folder(m) / f.name) is None] or files
        return by_hand_all([(self._shown_url(file), self.folder(m) / file.name) for m, file in missing])

    def download_size(self, model_id: str) -> int | None:
        """Bytes a download of the model still fetches (its files not in place), exact or estimated;
        None when a size is unknown. Cheap: it reads no file."""
        sizes = [file.shown_size for file in self._missing_files(model_id)]
        return None if None in sizes else sum(size or 0 for size in sizes)

    def download_size_text(self, model_ids: Iterable[str]) -> str:
        """"about 1.2 GB": what downloading `model_ids` fetches, for a download offer; "" when unknown or nothing."""
        ids = list(model_ids)
        sizes = [self.download_size(model_id) for model_id in ids]
        if not ids or None in sizes or not sum(size or 0 for size in sizes):
            return ""
        exact = all(file.size is not None for model_id in ids for file in self._missing_files(model_id))
        return ("" if exact else "about ") + format_bytes(sum(size or 0 for size in sizes))

    def _missing_files(self, model_id: str) -> list[ModelFile]:
        folder = self.folder(model_id)
        return [file for file in self.info(model_id).files if (st := _stat(folder / file.name)) is None or st.st_size == 0]

    def statuses(self) -> list[ModelStatus]:
        result = []
        for model_id, info in self.catalogue.items():
            installed = self.is_installed(model_id)
            trusted = installed and self.is_trusted(model_id)
            result.append(ModelStatus(info, installed, trusted, _bytes_in(self.folder(model_id))))
        return result

    # -- changes --------------------------------------------------------------------------

    def download(
        self,
        model_id: str,
        progress: DownloadProgress | None = None,
        cancel: CancelToken | None = None,
    ) -> Path:
        """Download the model's files that are not already installed as published; return the first.

        progress(bytes done, total or None) counts over all of the model's files.
        An interrupted or cancelled download keeps `<name>.part` and resumes from it.
        """
        self.download_models([model_id], progress, cancel)
        return self.file_path(model_id)

    def download_models(
        self,
        model_ids: Sequence[str],
        progress: DownloadProgress | None = None,
        cancel: CancelToken | None = None,
    ) -> None:
        """Download several models as one job (an engine's: Moebius needs its UNet and its VAE).

        progress(bytes done, total or None) counts over all their files. When a file
        fails, the message ends with how to install by hand every file not yet in
        place, each with its URL and where to save it.
        """
        model_ids = [self.info(model_id).id for model_id in model_ids]
        manual = self.manual_install(model_ids)
        files = [(model_id, file) for model_id in model_ids for file in self.info(model_id).files]
        sizes = [file.size for _, file in files if file.size is not None]
        known_total = sum(sizes) if len(sizes) == len(files) else None
        finished = 0
        for model_id in model_ids:
            folder = self._make_folder(model_id)
            records = self._records(model_id)
            for file in self.info(model_id).files:
                target = folder / file.name
                if target.is_file() and self._trust(model_id, file, records) == TRUST_CATALOGUE:
                    finished += target.stat().st_size
                    continue

                def report(done: int, total: int | None, before: int = finished) -> None:
                    if progress is not None:
                        progress(before + done, total if len(files) == 1 else known_total)

                url = self.url_for(model_id, file.name)
                try:
                    digests = download_file(file, url, target, report, cancel, self.timeout, manual)
                except BaseException:
                    _remove_if_empty(folder)  # a failed first download leaves no trace
                    raise
                finished += digests.size
                trust = TRUST_CATALOGUE if file.has_checksum else TRUST_SOURCE
                records[file.name] = _record(digests, target, trust)
                self._save_records(model_id, records)

    def import_file(self, model_id: str, source: Path | str, allow_unknown: bool = False) -> Path:
        """Copy a file (or the model's files from a folder) into place; return the first file's path.

        The copy is checked against the catalogue. A file that does not match is
        refused unless `allow_unknown`, which installs it as trusted by the user.
        """
        info = self.info(model_id)
        source = Path(source).expanduser()
        pairs = self._import_sources(info, source)
        for file, path in pairs:
            if path.stat().st_size == 0:
                raise ModelError(f"'{path}' is empty (0 bytes), so it cannot be the {info.name} file {file.name}.")
        folder = self._make_folder(model_id)
        records = self._records(model_id)
        for file, path in pairs:
            target = folder / file.name
            measured: list[tuple[Digests, str | None]] = []

            def write(
                out, file: ModelFile = file, path: Path = path, measured: list[tuple[Digests, str | None]] = measured
            ) -> None:
                with open(path, "rb") as src:
                    digests = copy_with_digests(src, out)
                if file.has_checksum:
                    problem = file.mismatch(digests.size, digests.md5, digests.sha256)
                elif info.format == "torchscript":
                    problem = "the catalogue has no checksum to check it against"
                else:
                    problem = None  # no checksum published, and a weights file cannot run code
                if problem and not allow_unknown:
                    raise UnknownModelFileError(
                        f"'{path}' is not the published {info.name} file {file.name}: {problem}. "
                        f"If you trust it anyway, run `inpaint-studio models import {model_id} FILE --allow-unknown`.",
                        problem,
                    )
                measured.append((digests, problem))

            try:
                atomic_write(target, write)
            except OSError as error:
                _remove_if_empty(folder)
                raise ModelError(f"Could not copy '{path}' to {target}: {error.strerror or error}.") from None
            except ModelError:
                _remove_if_empty(folder)  # a refused first import leaves no trace
                raise
            digests, problem = measured[0]
            matched = file.has_checksum and not problem
            records[file.name] = _record(digests, target, TRUST_CATALOGUE if matched else TRUST_USER)
        self._save_records(model_id, records)
        return self.file_path(model_id)

    def verify(self, model_id: str) -> Verification:
        """Check the installed files (this reads every one): each is the published file, or unchanged since
        it was downloaded or imported; then that the model loads as its engine loads it (`load_check`)."""
        info = self.info(model_id)
        folder = self.folder(model_id)
        records = self._records(model_id)
        result = Verification(model_id)
        for file in info.files:
            path = folder / file.name
            if not path.is_file():
                result.problems.append(f"{file.name} is missing from {folder}")
                continue
            digests = file_digests(path)
            recorded = records.get(file.name, {})
            unchanged = recorded.get("trust") in (TRUST_USER, TRUST_SOURCE) and (
                recorded.get("size"),
                recorded.get("md5"),
                recorded.get("sha256"),
            ) == (digests.size, digests.md5, digests.sha256)
            note, problem, trust = _verdict(file, digests, _installed_as(recorded), unchanged)
            if problem:
                result.problems.append(f"{file.name}: {problem}")
            else:
                result.notes.append(f"{file.name} {note}")
            records[file.name] = _record(digests, path, trust, _installed_as(recorded))
        if folder.is_dir():
            try:
                self._save_records(model_id, records)
            except ModelError:
                pass  # the report is what was asked for
        if result.ok:
            try:
                result.loads = check_loads(info, folder, trusted=True)  # every file passed: trusted one way or another
            except ModelError as error:
                result.problems.append(f"it does not load: {error}")
        return result

    def remove(self, model_id: str) -> None:
        """Delete the model's files, unfinished downloads and manifest, then its folder if empty."""
        info = self.info(model_id)
        folder = self.folder(model_id)
        if not self.has_files(model_id) and not (folder / MANIFEST_NAME).exists():
            raise ModelError(f"{info.name} is not installed in {folder}; there is nothing to remove.")
        paths = [*self._own_paths(model_id), folder / MANIFEST_NAME]
        for name in [*(file.name for file in info.files), MANIFEST_NAME]:
            paths += folder.glob(f".{name}.*.tmp")  # left by an interrupted import (io.atomic)
        for path in paths:
            try:
                path.unlink(missing_ok=True)
            except OSError as error:
                raise ModelError(f"Could not remove {path}: {error.strerror or error}.") from None
        _remove_if_empty(folder)

    # -- helpers --------------------------------------------------------------------------

    def _file(self, model_id: str, name: str | None) -> ModelFile:
        info = self.info(model_id)
        if name is None:
            return info.files[0]
        for file in info.files:
            if file.name == name:
                return file
        raise ModelError(f"{info.name} has no file named '{name}' (its files: {', '.join(f.name for f in info.files)}).")

    def _shown_url(self, file: ModelFile) -> str:
        """The download address for messages; a broken mirror setting shows the catalogue's."""
        try:
            return mirrored_url(file.url, self.mirror)
        except ModelError:
            return file.url

    def _own_paths(self, model_id: str) -> list[Path]:
        folder = self.folder(model_id)
        targets = [folder / file.name for file in self.info(model_id).files]
        return targets + [part_path(target) for target in targets] + [validator_path(target) for target in targets]

    def _make_folder(self, model_id: str) -> Path:
        folder = self.folder(model_id)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ModelError(f"Could not create the model folder {folder}: {error.strerror or error}.") from None
        return folder

    def _trust(self, model_id: str, file: ModelFile, records: dict[str, dict[str, Any]]) -> str:
        """Why the installed `file` is trusted; measures it (updating `records`) if it is new or changed.

        Recorded checksums are compared with the catalogue each time, so a catalogue
        that changes (a new release of the app) is not answered by an old verdict.
        """
        path = self.folder(model_id) / file.name
        st = _stat(path)
        if st is None:
            return TRUST_NONE
        recorded = records.get(file.name) or {}
        fresh = (
            recorded.get("size") == st.st_size
            and recorded.get("mtime_ns") == st.st_mtime_ns
            and isinstance(recorded.get("md5"), str)
            and isinstance(recorded.get("sha256"), str)
        )
        if fresh and recorded.get("trust") in (TRUST_USER, TRUST_SOURCE):
            return recorded["trust"]
        if not file.has_checksum:
            return TRUST_NONE
        if fresh:
            digests = Digests(recorded["size"], recorded["md5"], recorded["sha256"])
        else:
            digests = file_digests(path)
        trust = TRUST_NONE if file.mismatch(digests.size, digests.md5, digests.sha256) else TRUST_CATALOGUE
        if not fresh or recorded.get("trust") != trust:
            records[file.name] = _record(digests, path, trust, _installed_as(recorded))
        return trust

    def _records(self, model_id: str) -> dict[str, dict[str, Any]]:
        """The manifest's entries by file name; a missing or damaged manifest records nothing."""
        try:
            data = json.loads((self.folder(model_id) / MANIFEST_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        files = data.get("files") if isinstance(data, dict) else None
        if not isinstance(files, dict):
            return {}
        return {name: entry for name, entry in files.items() if isinstance(entry, dict)}

    def _save_records(self, model_id: str, records: dict[str, dict[str, Any]]) -> None:
        path = self.folder(model_id) / MANIFEST_NAME
        data = json.dumps({"model": model_id, "files": records}, indent=2, sort_keys=True).encode("utf-8")
        try:
            atomic_write(path, lambda out: out.write(data))
        except OSError as error:
            raise ModelError(f"Could not write {path}: {error.strerror or error}.") from None

    def _import_sources(self, info: ModelInfo, source: Path) -> list[tuple[ModelFile, Path]]:
        """Which source file becomes which of the model's files; a ModelError when that is not clear."""
        names = [file.name for file in info.files]
        if source.is_dir():
            holder = _folder_holding(source, names, info.name)
            return [(file, holder / file.name) for file in info.files]
        if not source.is_file():
            raise ModelError(f"'{source}' does not exist.")
        if len(info.files) == 1:
            return [(info.files[0], source)]  # any name: browsers rename duplicates ("big-lama (1).pt")
        file = next((file for file in info.files if file.name == source.name), None)
        others = [other for other in info.files if other is not file]
        folder = self.folder(info.id)
        if file is None or any(_stat(folder / other.name) is None for other in others):
            # One file of a set is accepted only to replace that file of an installed model.
            raise ModelError(
                f"{info.name} has several files ({', '.join(names)}) that belong together; "
                "import the folder that holds all of them."
            )
        return [(file, source)]


def _folder_holding(source: Path, names: list[str], model_name: str) -> Path:
    """The one folder, `source` or below it, that holds every file in `names`; a ModelError naming the
    candidates when there is none or more than one (files are never gathered from different folders)."""
    direct = [name for name in names if (source / name).is_file()]
    if direct:
        missing = [name for name in names if name not in direct]
        if missing:
            raise ModelError(
                f"'{source}' holds {', '.join(direct)} but not {', '.join(missing)}; {model_name} needs "
                f"{' and '.join(names)} from the same folder."
            )
        return source
    found = {name: sorted(p.parent for p in source.rglob(name) if p.is_file()) for name in names}
    complete = sorted(set.intersection(*(set(folders) for folders in found.values())))
    if len(complete) == 1:
        return complete[0]
    if complete:
        listed = ", ".join(f"'{folder}'" for folder in complete)
        raise ModelError(
            f"Several folders in '{source}' hold {' and '.join(names)}: {listed}; import the one you mean."
        )
    if len(names) == 1:
        raise ModelError(f"There is no file named {names[0]} in '{source}' or its subfolders.")
    partial = "; ".join(f"{name} in {', '.join(repr(str(f)) for f in folders)}" for name, folders in found.items() if folders)
    raise ModelError(
        f"No folder in '{source}' holds {' and '.join(names)} together"
        + (f" (found {partial})" if partial else "")
        + f"; {model_name} needs all of them from the same folder."
    )


def _stat(path: Path) -> os.stat_result | None:
    """The path's status if it is a regular file, else None."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st if stat.S_ISREG(st.st_mode) else None


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass  # not empty (or already gone): leave it


def _record(digests: Digests, path: Path, trust: str, installed_as: str | None = None) -> dict[str, Any]:
    """A manifest entry; the modification time tells later whether the file changed. A file that was
    imported or downloaded without a published checksum and has changed since keeps that in
    "installed_as", so that verify can say so."""
    record = {
        "size": digests.size,
        "mtime_ns": path.stat().st_mtime_ns,
        "md5": digests.md5,
        "sha256": digests.sha256,
        "trust": trust,
    }
    if trust == TRUST_NONE and installed_as:
        record["installed_as"] = installed_as
    return record


def _installed_as(recorded: Mapping[str, Any]) -> str | None:
    """TRUST_USER or TRUST_SOURCE when the record's file came in unchecked (imported, or downloaded
    without a checksum), even if it has changed since; else None."""
    for value in (recorded.get("trust"), recorded.get("installed_as")):
        if value in (TRUST_USER, TRUST_SOURCE):
            return str(value)
    return None


def _verdict(file: ModelFile, digests: Digests, installed_as: str | None, unchanged: bool) -> tuple[str, str | None, str]:
    """(what is true of the file, its problem or None, its trust) for `verify`.

    `installed_as`: TRUST_USER or TRUST_SOURCE when the manifest says the file was imported or
    downloaded without a published checksum; `unchanged`: it still measures as it did then.
    """
    unpublished = "no checksum is published to compare it with"
    if digests.size == 0:
        return "", "it is empty", TRUST_NONE
    if file.has_checksum and not file.mismatch(digests.size, digests.md5, digests.sha256):
        return "matches the published checksum", None, TRUST_CATALOGUE
    if installed_as == TRUST_USER and unchanged:
        why = "not the published file" if file.has_checksum else unpublished
        return f"is unchanged since you imported it ({why})", None, TRUST_USER
    if installed_as == TRUST_SOURCE and unchanged:
        return f"is unchanged since it was downloaded ({unpublished})", None, TRUST_SOURCE
    if installed_as == TRUST_USER:
        return "", "it changed since you imported it", TRUST_NONE
    if file.has_checksum:
        return "", file.mismatch(digests.size, digests.md5, digests.sha256), TRUST_NONE
    if installed_as == TRUST_SOURCE:
        return "", "it changed since it was downloaded", TRUST_NONE
    return "", f"{unpublished}, and it was not downloaded or imported through the app; download or import it", TRUST_NONE


def _bytes_in(folder: Path) -> int:
    """Bytes in the files directly inside `folder` (0 if it does not exist)."""
    try:
        return sum(st.st_size for st in (_stat(p) for p in folder.iterdir()) if st is not None)
    except OSError:
        return 0

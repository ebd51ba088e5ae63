"""Collect the licences of the software the standalone app ships into THIRD_PARTY_NOTICES.txt.

    python packaging/third_party_notices.py                # writes THIRD_PARTY_NOTICES.txt and resources/THIRD_PARTY_NOTICES.txt
    python packaging/third_party_notices.py --constraints  # writes packaging/constraints.txt

It follows the app's requirements (pyproject.toml, with the extras the app bundles) through the
installed distributions' metadata (importlib.metadata) and writes, for every distribution, its
name, version, licence and homepage, then the licence files its metadata names (`License-File`,
the `licenses/` folder of its dist-info). It adds what the wheels do not carry: the GNU texts for Qt and PySide6 (their
wheels hold none), Python's own licence, PyInstaller's (its bootloader is the executable) and,
when the spec passes them, the build machine's system libraries that PyInstaller copied into the
bundle (their Debian copyright files). `packaging/inpaint-studio.spec` runs it for every build, so
the copy inside a standalone app lists exactly what that app contains.
"""

from __future__ import annotations

import argparse
import platform
import re
import site
import subprocess
import sys
import textwrap
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

# `packaging` the PyPI library, not this folder (which has no __init__.py).
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
OUTPUTS = (REPO / "THIRD_PARTY_NOTICES.txt", REPO / "resources" / "THIRD_PARTY_NOTICES.txt")
CONSTRAINTS = REPO / "packaging" / "constraints.txt"
BUILD_TOOLS = ("pyinstaller",)  # pinned in the constraints with what they need, not listed in the notices
BUNDLED_EXTRAS = ("heif",)  # optional parts the standalone app ships: pi-heif reads HEIC photos
LICENCE_TEXTS = Path(__file__).resolve().parent / "licences"  # GNU texts the PySide6 wheels do not carry

# Files that older metadata (no License-File entries) keeps beside METADATA.
_LICENCE_NAME = re.compile(r"(LICEN[CS]E|COPYING|NOTICE|AUTHORS)", re.IGNORECASE)
_RULE = "=" * 100

QT_NOTE = """\
Qt for Python (PySide6, shiboken6) and the Qt libraries it contains (libQt6*, its plugins and the ICU
libraries beside them) are (C) The Qt Company Ltd and other contributors. This app uses them under the
GNU Lesser General Public License version 3 (LGPL-3.0), which adds permissions to the GNU GPL version 3:
both texts follow. The Qt libraries are separate, unmodified files in the app folder (_internal/PySide6
on Linux and Windows, Contents/Frameworks on macOS): you may replace them with your own build of the
same Qt version. Source code: https://download.qt.io/official_releases/qt/ (Qt) and
https://download.qt.io/official_releases/QtForPython/ (PySide6, shiboken6). Qt's own third-party
components (ICU, HarfBuzz, PCRE2, libjpeg, libpng, zlib, double-conversion and others) and their licences
are listed for each Qt version at https://doc.qt.io/qt-6/licenses-used-in-qt.html."""

PYINSTALLER_NOTE = """\
PyInstaller built the standalone app; its bootloader is the app's executable. The bootloader exception
in the licence below allows it to be distributed with any program."""

SYSTEM_NOTE = """\
Copied into the app by PyInstaller from the build machine (the library it names, with the copyright
file of the system package it came from)."""


@dataclass
class Notice:
    """One component: what it is, its licence, and the texts to show."""

    name: str
    version: str
    licence: str
    homepage: str = ""
    note: str = ""
    texts: list[tuple[str, str]] = field(default_factory=list)  # (file name, text)


# ------------------------------------------------------------------ Python distributions


def app_requirements(extras: tuple[str, ...] = BUNDLED_EXTRAS) -> list[Requirement]:
    """The app's own requirements, from pyproject.toml (an installed copy's metadata may be older than the checkout)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = list(project["dependencies"])
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    return [Requirement(line) for line in lines]


def runtime_distributions(
    extras: tuple[str, ...] = BUNDLED_EXTRAS, also: tuple[str, ...] = ()
) -> list[metadata.Distribution]:
    """The installed distributions the app needs at run time: its requirements and theirs, recursively (and `also`'s).

    A requirement is followed when its environment marker holds here (with the extra it was
    reached through); one that is not installed is left out (an optional extra such as pi-heif).
    """
    found: dict[str, metadata.Distribution] = {}
    seen: set[tuple[str, str]] = set()
    pending = [(requirement, "") for requirement in app_requirements(extras) + [Requirement(name) for name in also]]
    while pending:
        requirement, extra = pending.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": extra}):
            continue
        key = canonicalize_name(requirement.name)
        for wanted in ("", *requirement.extras):
            if (key, wanted) in seen:
                continue
            seen.add((key, wanted))
            try:
                dist = found.get(key) or metadata.distribution(requirement.name)
            except metadata.PackageNotFoundError:
                break
            found[key] = dist
            pending += [(Requirement(line), wanted) for line in dist.requires or []]
    return sorted(found.values(), key=lambda dist: canonicalize_name(dist.metadata["Name"]))


def _licence(meta) -> str:
    """The licence as the metadata states it: the SPDX expression, a short License field, or the classifiers."""
    stated = meta.get("License-Expression") or ""
    short = (meta.get("License") or "").strip()
    if not stated and short and "\n" not in short and len(short) <= 200:
        stated = short
    classifiers = "; ".join(c.split(" :: ")[-1] for c in meta.get_all("Classifier") or [] if c.startswith("License ::"))
    # A classifier that names another licence than the field (pi-heif: BSD-3-Clause, its wheels LGPL-3.0) is worth showing.
    first_word = re.split(r"[^A-Za-z]+", stated.strip())[0].lower() if stated.strip() else ""
    if classifiers and stated and first_word not in classifiers.lower():
        return f"{stated} (classifiers: {classifiers})"
    return stated or classifiers or "see the texts below"


def _homepage(meta) -> str:
    if meta.get("Home-page"):
        return meta["Home-page"]
    urls = [entry.split(",", 1) for entry in meta.get_all("Project-URL") or [] if "," in entry]
    for wanted in ("homepage", "home", "source", "repository", "source code"):
        for label, url in urls:
            if label.strip().lower() == wanted:
                return url.strip()
    return urls[0][1].strip() if urls else ""


def licence_texts(dist: metadata.Distribution) -> list[tuple[str, str]]:
    """The licence files a distribution's metadata names, as (name, text)."""
    in_dist_info: dict[str, metadata.PackagePath | None] = {}  # path inside the .dist-info folder -> file
    for file in dist.files or []:
        if len(file.parts) > 1 and file.parts[0].endswith(".dist-info"):
            in_dist_info["/".join(file.parts[1:])] = file
    names = dist.metadata.get_all("License-File") or []
    if names:  # metadata 2.4 keeps them in licenses/, older setuptools beside METADATA
        chosen = [(name, in_dist_info.get(f"licenses/{name}") or in_dist_info.get(name)) for name in names]
    else:
        chosen = [(path, file) for path, file in sorted(in_dist_info.items()) if _LICENCE_NAME.search(path.rsplit("/", 1)[-1])]
    texts = []
    for name, licence_file in chosen:
        if licence_file is not None and Path(licence_file.locate()).is_file():
            texts.append((name, Path(licence_file.locate()).read_bytes().decode("utf-8", "replace")))
    return texts


def _gnu_texts() -> list[tuple[str, str]]:
    paths = (LICENCE_TEXTS / "LGPL-3.0.txt", LICENCE_TEXTS / "GPL-3.0.txt")
    return [(path.name, path.read_text(encoding="utf-8")) for path in paths]


def distribution_notice(dist: metadata.Distribution) -> Notice:
    meta = dist.metadata
    notice = Notice(meta["Name"], dist.version, _licence(meta), _homepage(meta), texts=licence_texts(dist))
    if canonicalize_name(meta["Name"]) in ("pyside6-essentials", "shiboken6", "pyside6"):
        notice.note = QT_NOTE
        notice.licence = "LGPL-3.0-only (also offered under GPL-2.0-only or GPL-3.0-only)"
        notice.texts = notice.texts or _gnu_texts()
    return notice


# ------------------------------------------------------------------ what is not a Python distribution


def python_notice() -> Notice | None:
    """CPython itself (the interpreter library and standard library inside the app)."""
    stdlib = Path(sys.base_prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    for licence in (stdlib / "LICENSE.txt", Path(sys.base_prefix) / "LICENSE.txt"):  # Linux and macOS; Windows
        if licence.is_file():
            text = licence.read_text(encoding="utf-8", errors="replace")
            return Notice("Python", platform.python_version(), "PSF-2.0", "https://www.python.org", texts=[("LICENSE.txt", text)])
    return None


def pyinstaller_notice() -> Notice | None:
    try:
        dist = metadata.distribution("pyinstaller")
    except metadata.PackageNotFoundError:
        return None
    notice = distribution_notice(dist)
    notice.note = PYINSTALLER_NOTE
    return notice


def is_system_library(path: str | Path) -> bool:
    """True for a library from the machine's system rather than from Python or a wheel (a bundle's libxcb, libglib ...)."""
    resolved = Path(path).resolve()
    places = [sys.prefix, sys.base_prefix, *site.getsitepackages(), site.getusersitepackages()]
    return not any(resolved.is_relative_to(Path(place).resolve()) for place in places)


def _debian_package(path: Path) -> str | None:
    """The Debian package that installed `path` (tried as named, resolved, and with /usr merged or not)."""
    candidates: list[str] = []
    for named in (path, path.resolve()):
        text = str(named)
        candidates += [text, text.removeprefix("/usr") if text.startswith("/usr/") else "/usr" + text]
    for candidate in dict.fromkeys(candidates):
        try:
            result = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True, check=False)
        except OSError:  # no dpkg: not a Debian-based system
            return None
        if result.returncode == 0 and ":" in result.stdout:
            return result.stdout.split(":", 1)[0].split(",")[0].strip()  # "libxcb1:amd64: /usr/lib/..." -> libxcb1
    return None


def system_library_notices(paths: list[str]) -> list[Notice]:
    """One notice per system package the libraries came from; a library of no known package gets one of its own."""
    by_package: dict[str, list[str]] = {}
    unknown: list[str] = []
    for path in sorted(set(paths)):
        package = _debian_package(Path(path))
        if package is None:
            unknown.append(path)
        else:
            by_package.setdefault(package, []).append(Path(path).name)
    notices = []
    for package, libraries in sorted(by_package.items()):
        version = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True, check=False)
        copyright_file = Path("/usr/share/doc") / package / "copyright"  # every Debian package has one
        texts = []
        if copyright_file.is_file():
            texts.append((str(copyright_file), copyright_file.read_text(encoding="utf-8", errors="replace")))
        notice = Notice(f"{package} (Debian package)", version.stdout.strip() or "?", "see the copyright file below", texts=texts)
        notice.note = f"{SYSTEM_NOTE} Libraries: {', '.join(libraries)}."
        notices.append(notice)
    for path in unknown:
        note = f"{SYSTEM_NOTE} No system package was found for {path}: see the licence of the package that installed it."
        notices.append(Notice(Path(path).name, "?", "unknown", note=note))
    return notices


# ------------------------------------------------------------------ the file


def collect_notices(system_libraries: list[str] | None = None) -> list[Notice]:
    notices = [distribution_notice(dist) for dist in runtime_distributions()]
    notices += [notice for notice in (python_notice(), pyinstaller_notice()) if notice is not None]
    notices += system_library_notices(system_libraries or [])
    return notices


def _header(notices: list[Notice], system_libraries: bool) -> str:
    from inpaint_studio import __version__

    environment = f"Python {platform.python_version()} on {platform.system()} {platform.machine()}"
    machine = (
        "It includes the system libraries PyInstaller copied from the build machine."
        if system_libraries
        else "This copy lists no system libraries; the copy inside a standalone app adds those the build machine gave it."
    )
    paragraphs = [
        "Inpaint Studio is licensed under the Apache License 2.0. The standalone app also contains the software listed "
        "below, each under its own licence; their notices and licence texts follow, each text once.",
        "How this file is made: `python packaging/third_party_notices.py` follows inpaint-studio's requirements "
        f"(pyproject.toml, with the extras the app bundles: {', '.join(BUNDLED_EXTRAS)}) through the installed "
        "distributions and copies the licence files each one's metadata names, adding what the wheels do not carry "
        f"(the GNU texts for Qt, Python's licence). This copy was made from {environment}. "
        "`python packaging/build.py` regenerates it for every build, so the copy inside a standalone app lists exactly "
        f"the versions that app contains. {machine}",
    ]
    lines = [f"Third-party software in Inpaint Studio {__version__}", "=" * 60, ""]
    for paragraph in paragraphs:
        lines += [*textwrap.wrap(paragraph, 100, break_on_hyphens=False), ""]
    lines += ["Contents", "--------"]
    width = max(len(f"{n.name} {n.version}") for n in notices)
    lines += [f"  {f'{n.name} {n.version}'.ljust(width)}  {n.licence}" for n in notices]
    return "\n".join(lines) + "\n"


def render(notices: list[Notice], system_libraries: bool = False) -> str:
    """The whole file: a header with the contents, then each component with its texts (a repeated text is referred to)."""
    parts = [_header(notices, system_libraries)]
    first_seen: dict[str, str] = {}  # normalised text -> where it was printed first
    for notice in notices:
        block = [_RULE, f"{notice.name} {notice.version}", _RULE, f"Licence: {notice.licence}"]
        if notice.homepage:
            block.append(f"Homepage: {notice.homepage}")
        if notice.note in first_seen:
            block += ["", f"The same notice as for {first_seen[notice.note]} above."]
        elif notice.note:
            first_seen[notice.note] = notice.name
            block += ["", notice.note]
        for name, text in notice.texts:
            key = " ".join(text.split())
            if key in first_seen:
                block += ["", f"---- {name}: the same text as {first_seen[key]} above ----"]
                continue
            first_seen[key] = f"{name} of {notice.name}"
            block += ["", f"---- {name} ----", "", text.replace("\r\n", "\n").strip("\n")]
        if not notice.texts and not notice.note:
            block += ["", "(its distribution carries no licence file)"]
        parts.append("\n".join(block) + "\n")
    return "\n".join(parts)


def write_notices(targets: list[Path], system_libraries: list[str] | None = None) -> str:
    text = render(collect_notices(system_libraries), system_libraries=bool(system_libraries))
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8", newline="\n")
    return text


def constraints_text() -> str:
    """pip constraints pinning the app's runtime dependencies and the build tools to the versions installed here."""
    lines = [
        "# The versions the standalone app is built with: the app's runtime dependencies (with the bundled",
        "# extras) and PyInstaller with what it needs, as installed when this file was made by",
        "# `python packaging/third_party_notices.py --constraints`",
        f"# (Python {platform.python_version()} on {platform.system()} {platform.machine()}). Use it for a bundle build:",
        "#     python -m pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu -c packaging/constraints.txt",
        '#     python -m pip install -e ".[package]" -c packaging/constraints.txt',
        "# Local version labels (torch's +cpu) are left out, so the pins hold for the CPU and the default builds alike.",
    ]
    for dist in runtime_distributions(also=BUILD_TOOLS):
        lines.append(f"{canonicalize_name(dist.metadata['Name'])}=={dist.version.split('+')[0]}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write THIRD_PARTY_NOTICES.txt from the installed distributions.")
    parser.add_argument("outputs", nargs="*", type=Path, help="files to write (default: the repository's two copies)")
    parser.add_argument("--constraints", action="store_true", help=f"write {CONSTRAINTS.relative_to(REPO)} instead")
    args = parser.parse_args(argv)
    if args.constraints:
        CONSTRAINTS.write_text(constraints_text(), encoding="utf-8", newline="\n")
        print(f"wrote {CONSTRAINTS}")
        return 0
    targets = args.outputs or list(OUTPUTS)
    text = write_notices(targets)
    print(f"wrote {len(text.encode()) / 1e6:.1f} MB to {', '.join(map(str, targets))}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))  # inpaint_studio, for its version, also from a checkout that is not installed
    sys.exit(main())

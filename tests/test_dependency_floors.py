"""The version ranges pyproject.toml declares hold for what is installed and for packaging/constraints.txt.

A floor raised past what the tests run with, or a pin the bundle build uses that pyproject refuses,
fails here instead of in a user's install. (Whether each floor itself still works is checked by
installing it: packaging/README.md, "Dependency floors".)
"""

from __future__ import annotations

import tomllib
from importlib import metadata

from conftest import REPO
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _requirements() -> list[tuple[Requirement, str]]:
    """(requirement, extra it belongs to or "") for the dependencies and every extra, where their markers hold here."""
    pairs = [(Requirement(line), "") for line in PROJECT["dependencies"]]
    pairs += [(Requirement(line), extra) for extra, lines in PROJECT["optional-dependencies"].items() for line in lines]
    return [(req, extra) for req, extra in pairs if req.marker is None or req.marker.evaluate({"extra": extra})]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "packaging" / "constraints.txt").read_text(encoding="utf-8").splitlines():
        name, _, version = line.split("#", 1)[0].strip().partition("==")
        if version:
            pins[canonicalize_name(name)] = version
    return pins


def test_installed_versions_meet_the_declared_ranges():
    for requirement, extra in _requirements():
        try:
            installed = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            assert extra, f"{requirement.name} is a dependency but is not installed"
            continue  # an extra this machine did not install
        assert requirement.specifier.contains(installed, prereleases=True), f"{installed} is outside {requirement}"


def test_every_floor_is_stated():
    for requirement, _extra in _requirements():
        if canonicalize_name(requirement.name) in ("import-linter", "ruff", "mypy"):
            continue  # the checkers are pinned exactly
        assert any(spec.operator == ">=" for spec in requirement.specifier), f"{requirement} has no floor"


def test_the_bundle_constraints_pin_every_runtime_dependency_within_range():
    pins = _pins()
    runtime_extras = ("", "heif", "package")
    for requirement, extra in _requirements():
        if extra not in runtime_extras:
            continue
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not pinned in packaging/constraints.txt"
        pinned = pins[name]
        assert requirement.specifier.contains(pinned, prereleases=True), f"constraints pin {pinned}, outside {requirement}"

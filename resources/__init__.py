"""Bundled resources (sample photo and mask, icons, desktop entry), shipped as `inpaint_studio.resources`."""

from __future__ import annotations

from pathlib import Path

FOLDER = Path(__file__).resolve().parent
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
SAMPLE_PHOTO = "sample.jpg"
SAMPLE_MASK = "sample_mask.png"
DESKTOP_FILE = "inpaint-studio.desktop"


def resource_path(name: str) -> Path:
    """The path of a bundled file (also inside a frozen app, where the files sit beside this module)."""
    return FOLDER / name


def icon_paths() -> dict[int, Path]:
    """The application icon's PNG renderings by size, those that exist."""
    paths = {size: FOLDER / "icons" / f"inpaint-studio-{size}.png" for size in ICON_SIZES}
    return {size: path for size, path in paths.items() if path.is_file()}

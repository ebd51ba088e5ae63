"""Render the application icon (resources/icons/inpaint-studio.svg) to PNG, ICO and ICNS.

    python packaging/make_icons.py

Writes resources/icons/inpaint-studio-SIZE.png for every size in
inpaint_studio.resources.ICON_SIZES (the window icon and the Linux hicolor
theme use them), inpaint-studio.ico (Windows: 16-256 px) and
inpaint-studio.icns (macOS). Run it after editing the SVG and commit the files:
the build does not render icons, so it needs no SVG support.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parent.parent
ICONS = REPO / "resources" / "icons"
SVG = ICONS / "inpaint-studio.svg"
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_SIZES = (16, 32, 64, 128, 256, 512, 1024)


def render(size: int):
    """The SVG drawn at size x size, as a Pillow RGBA image."""
    from PIL import Image
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise SystemExit(f"{SVG} is not a valid SVG file")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    buffer.close()
    return Image.open(io.BytesIO(bytes(data))).convert("RGBA")


def main() -> int:
    from PySide6.QtGui import QGuiApplication

    sys.path.insert(0, str(REPO))
    from resources import ICON_SIZES  # the package's own list, without installing it

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # QPainter needs one
    renderings = {size: render(size) for size in sorted(set(ICON_SIZES) | set(ICO_SIZES) | set(ICNS_SIZES))}
    for size in ICON_SIZES:
        path = ICONS / f"inpaint-studio-{size}.png"
        renderings[size].save(path, optimize=True)
        print(f"wrote {path.relative_to(REPO)}")
    largest = renderings[max(ICO_SIZES)]
    ico = ICONS / "inpaint-studio.ico"
    largest.save(ico, format="ICO", sizes=[(s, s) for s in ICO_SIZES], append_images=[renderings[s] for s in ICO_SIZES])
    print(f"wrote {ico.relative_to(REPO)}")
    icns = ICONS / "inpaint-studio.icns"
    renderings[1024].save(icns, format="ICNS", append_images=[renderings[s] for s in ICNS_SIZES])
    print(f"wrote {icns.relative_to(REPO)}")
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())

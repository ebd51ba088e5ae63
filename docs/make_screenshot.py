"""Screenshots of the real main window for the README, under Xvfb with a window manager.

    Xvfb :99 -screen 0 1440x920x24 & openbox &   # a display and a window manager
    DISPLAY=:99 python docs/make_screenshot.py docs/screenshot.png
    DISPLAY=:99 python docs/make_screenshot.py --split docs/screenshot-split.png

Opens the sample photo, removes the lightning mast with the default engine
through the worker (as a user's Enter would), paints a new mask over the
right-hand mast with the brush tool, and grabs the screen (window frame
included). With --split it shows the before/after divider over the removed mast instead.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtWidgets import QApplication

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from inpaint_studio.session.settings import Settings
from inpaint_studio.ui.main_window import MainWindow


def settle(app: QApplication, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.01)


def main() -> int:
    split = "--split" in sys.argv[1:]
    paths = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    out = Path(paths[0] if paths else "docs/screenshot.png")
    app = QApplication(sys.argv[:1])
    window = MainWindow(Settings(auto_run=False), settings_path=Path(tempfile.mkdtemp()) / "settings.json")
    window.resize(1400, 860)
    window.move(10, 10)
    window.show()
    window.open_file(REPO / "resources" / "sample.jpg", confirm=False)
    mask = np.asarray(Image.open(REPO / "resources" / "sample_mask.png"))
    window.document.replace_mask(mask, "Sample mask")
    window.run_fill()
    deadline = time.perf_counter() + 60
    while window.workspace.fills.busy and time.perf_counter() < deadline:
        settle(app, 0.05)

    if split:
        window.views.split_action.trigger()
        window.views.divider.share = 0.42
        window.views.divider.set_shown(True)
    else:
        # A brush stroke up the right-hand mast, through the same tool code the mouse drives.
        tools = window.tools
        window.tool_options.size_spin.setValue(22)
        tools._pressed(448, 128, None)
        for y in range(128, 395, 4):
            tools._moved(448 + (y - 128) * 0.03, y, None)
        tools._released(456, 395, None)
    settle(app, 1.0)
    subprocess.run(["import", "-window", "root", str(out)], check=True)
    window.document.mark_saved()
    window.close()
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

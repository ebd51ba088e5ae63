"""Screenshot of the real main window for the README (run under Xvfb).

    xvfb-run -s "-screen 0 1400x900x24" python docs/make_screenshot.py docs/screenshot.png

Opens the sample photo, removes the lightning mast with the default engine
through the worker (as a user's Enter would), paints a new mask over the
right-hand mast with the brush tool, and grabs the whole screen.
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
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshot.png")
    app = QApplication(sys.argv[:1])
    window = MainWindow(Settings(auto_run=False), settings_path=Path(tempfile.mkdtemp()) / "settings.json")
    window.resize(1400, 900)
    window.move(0, 0)
    window.show()
    window.open_file(REPO / "resources" / "sample.jpg", confirm=False)
    mask = np.asarray(Image.open(REPO / "resources" / "sample_mask.png"))
    window.document.replace_mask(mask, "Sample mask")
    window.run_fill()
    deadline = time.perf_counter() + 60
    while window.workspace.fills.busy and time.perf_counter() < deadline:
        settle(app, 0.05)

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

"""Run by test_autosave in a subprocess: save, autosave, then hang in the middle of a save.

usage: save_then_die.py FOLDER project|autosave

State A (one fill) is saved to FOLDER/project.ora; state B (two fills) is
autosaved; then state C (three fills) starts saving, to the project or as an
autosave, and hangs halfway through writing, after printing "MIDDLE", until
the test kills the process.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from inpaint_studio.core.document import Document
from inpaint_studio.core.patch import Patch
from inpaint_studio.io import load_image, project_file
from inpaint_studio.io.autosave import AutosaveSession


def add_fill(document: Document, index: int) -> None:
    x = 10 + 40 * index
    patch = Patch(x, 10, np.full((30, 30, 3), 60 * index, np.uint8), np.full((30, 30), 255, np.uint8))
    document.add_fill([patch], np.zeros(document.mask.shape, np.uint8), f"Fill {index}", {"engine": "hand"})


def main() -> None:
    folder, where = Path(sys.argv[1]), sys.argv[2]
    photo = folder / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (200, 300, 3), np.uint8)).save(photo)
    document = Document(load_image(photo))
    session = AutosaveSession(folder / "autosave")

    add_fill(document, 1)
    project_file.save_project(document, folder / "project.ora")
    add_fill(document, 2)
    session.save(document.snapshot(), str(photo))
    add_fill(document, 3)

    encode = project_file._png_bytes
    calls = []

    def slow_encode(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the original is in the temp file already; the layers are not
            print("MIDDLE", flush=True)
            time.sleep(120)
        return encode(*args, **kwargs)

    project_file._png_bytes = slow_encode
    if where == "project":
        project_file.save_project(document, folder / "project.ora")
    else:
        session.save(document.snapshot(), str(photo))


if __name__ == "__main__":
    main()

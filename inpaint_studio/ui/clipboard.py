"""Edit > Copy (the result as shown, all layers merged) and Paste (an image from the clipboard as a new photo)."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QGuiApplication, QImage

from inpaint_studio.ui.qimage import array_to_qimage, qimage_to_array


def copy_image(rgb: np.ndarray) -> None:
    """Put an RGB image on the system clipboard (a deep copy: the document may change right after)."""
    QGuiApplication.clipboard().setImage(array_to_qimage(np.ascontiguousarray(rgb)).copy())


def pasted_image() -> np.ndarray | None:
    """The clipboard's image as uint8 RGB (transparency dropped), or None when it holds none."""
    image = QGuiApplication.clipboard().image()
    if image.isNull():
        return None
    return qimage_to_array(image.convertToFormat(QImage.Format.Format_RGB888))

"""The one place that converts numpy arrays to and from QImage.

`array_to_qimage` and `argb32_qimage` wrap the array's memory without
copying, so a change to the array shows at the next paint with no conversion.
`argb32_qimage` takes Qt's native 32-bit layouts, the ones QPainter scales and
blends fastest.
Qt does not own that memory: the array must stay alive, and keep its shape,
for as long as the QImage and its implicitly shared copies exist. Holders keep
the array referenced next to the QImage (PySide6 also holds a reference to the
buffer while the wrapper lives, but that is an implementation detail).

`qimage_to_array` goes the other way and always copies, because a view would
dangle as soon as Qt detached or freed the image.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

_WRAP_FORMATS = {1: QImage.Format.Format_Grayscale8, 3: QImage.Format.Format_RGB888, 4: QImage.Format.Format_RGBA8888}


def array_to_qimage(array: np.ndarray) -> QImage:
    """Zero-copy QImage of a uint8 (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA array.

    Rows may be strided (a crop of a larger array works); the pixels within a
    row must be packed.
    """
    channels = 1 if array.ndim == 2 else (array.shape[2] if array.ndim == 3 else 0)
    if channels not in _WRAP_FORMATS:
        raise ValueError(f"expected an (H, W), (H, W, 3) or (H, W, 4) array, got shape {array.shape}")
    return _wrap(array, channels, _WRAP_FORMATS[channels])


def argb32_qimage(pixels: np.ndarray, *, alpha: bool) -> QImage:
    """Zero-copy QImage of uint8 (H, W, 4) pixels in Qt's native 32-bit layout, the fastest to draw.

    Each pixel is the native-endian uint32 0xAARRGGBB (bytes B, G, R, A on
    little-endian machines): Format_ARGB32_Premultiplied if `alpha`, else
    Format_RGB32 (the A byte must then be 255).
    """
    if pixels.ndim != 3 or pixels.shape[2] != 4:
        raise ValueError(f"expected an (H, W, 4) array, got shape {pixels.shape}")
    fmt = QImage.Format.Format_ARGB32_Premultiplied if alpha else QImage.Format.Format_RGB32
    return _wrap(pixels, 4, fmt)


def _wrap(array: np.ndarray, channels: int, fmt: QImage.Format) -> QImage:
    if array.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {array.dtype}")
    height, width = array.shape[:2]
    stride = array.strides[0]
    packed = array.strides[1] == channels and (channels == 1 or array.strides[2] == 1)
    if not packed or stride < width * channels:
        raise ValueError("the pixels of each row must be packed; pass np.ascontiguousarray(array)")
    if height == 0 or width == 0:
        raise ValueError(f"cannot show an empty image of shape {array.shape}")
    if not array.flags.c_contiguous:
        # A crop's rows are strided: hand Qt the flat byte span from the first to the last pixel.
        span = array.strides[0] * (height - 1) + width * channels
        array = np.lib.stride_tricks.as_strided(array, shape=(span,), strides=(1,), writeable=False)
    return QImage(array.data, width, height, stride, fmt)


def qimage_to_array(image: QImage) -> np.ndarray:
    """A copy of `image`'s pixels: (H, W) for grey images, (H, W, 4) RGBA when it has alpha, else (H, W, 3) RGB."""
    if image.isNull():
        raise ValueError("the image is empty")
    if image.format() in (QImage.Format.Format_Grayscale8, QImage.Format.Format_Alpha8):
        target, channels = image.format(), 1
    elif image.hasAlphaChannel():
        target, channels = QImage.Format.Format_RGBA8888, 4
    else:
        target, channels = QImage.Format.Format_RGB888, 3
    converted = image if image.format() == target else image.convertToFormat(target)
    width, height, stride = converted.width(), converted.height(), converted.bytesPerLine()
    rows = np.frombuffer(converted.constBits(), np.uint8, count=stride * height).reshape(height, stride)
    pixels = rows[:, : width * channels].reshape((height, width, channels) if channels > 1 else (height, width))
    return pixels.copy()

"""The photo canvas: shows the photo and mask overlay, zooms and pans, reports pointer input in image coordinates.

Mapping: image pixel (i, j) covers [i, i+1) x [j, j+1) in image coordinates,
and widget = image * zoom + offset (logical pixels). The offset is kept on
the device-pixel grid so that pixels stay crisp at integer zooms.

Rendering (a plain paintEvent; no QGraphicsView, whose scene machinery buys
nothing for one image):
- The photo, the comparison photo and the mask are each a `_Pyramid`: the
  caller's array itself plus 2x, 4x, 8x ... box-filtered reductions, built the
  first time a zoom needs them and updated box by box after edits. Opening a
  photo costs only the reductions down to the fit zoom.
- Each paint draws only the part of the dirty rect that shows the image, from
  the level whose resolution is the first at or above the screen's (so the
  smooth filter never shrinks by more than 2x and does not alias), with
  nearest-neighbour sampling from 100% up (crisp pixels).
- The pixels drawn are converted on the fly into Qt's native 32-bit formats
  (RGB32 for photos; premultiplied ARGB32 through a 256-entry colour table
  for the mask) and wrapped zero-copy. Qt scales and blends those 3-5x faster
  than RGB888 or Indexed8, which more than pays for the conversion of at most
  a screenful of pixels; a mask region that is all zero is not drawn at all.
  So a brush dab costs the dab's box in each reduced level built so far and
  a repaint of the dab's rectangle on screen.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QCursor, QPainter, QPen, QPolygonF, QRegion
from PySide6.QtWidgets import QPinchGesture, QWidget

from inpaint_studio.core.patch import Patch
from inpaint_studio.ui.qimage import argb32_qimage

BACKGROUND = QColor(54, 54, 54)
DEFAULT_OVERLAY_COLOR = QColor(255, 0, 140)
DEFAULT_OVERLAY_OPACITY = 0.5
MAX_ZOOM = 32.0
FIT_MARGIN = 12.0  # logical pixels left free around the photo by "fit"
KEEP_VISIBLE = 48.0  # logical pixels of the photo that panning always leaves on screen
WHEEL_ZOOM_PER_NOTCH = 2**0.25
WHEEL_PAN_PER_NOTCH = 60.0  # logical pixels
SMALLEST_LEVEL = 32  # stop reducing once the longer side is this short


# ------------------------------------------------------------------ pyramid


class _Pyramid:
    """An array and its reductions by 2, 4, 8 ..., each built on first use and kept in step with edits.

    Level k pixel (i, j) is the mean of the 2^k x 2^k base pixels it covers;
    where the base size is not a multiple of 2^k the last row and column cover
    a partly outside square, filled by repeating the edge.
    """

    def __init__(self, base: np.ndarray) -> None:
        self.levels = [base]
        self.top = 0
        height, width = base.shape[:2]
        while max(width, height) > SMALLEST_LEVEL:
            width, height = (width + 1) // 2, (height + 1) // 2
            self.top += 1

    @property
    def shape(self) -> tuple[int, ...]:
        return self.levels[0].shape

    def level(self, k: int) -> tuple[int, np.ndarray]:
        """(k clamped to the smallest level, level k), building the levels above it first."""
        k = min(k, self.top)
        while len(self.levels) <= k:
            height, width = self.levels[-1].shape[:2]
            self.levels.append(_reduce(self.levels[-1], (0, 0, (width + 1) // 2, (height + 1) // 2)))
        return k, self.levels[k]

    def update(self, box: tuple[int, int, int, int]) -> None:
        """Base pixels inside box changed: recompute that box in every level built so far."""
        x0, y0, x1, y1 = box
        for k in range(1, len(self.levels)):
            x0, y0, x1, y1 = x0 // 2, y0 // 2, (x1 + 1) // 2, (y1 + 1) // 2
            self.levels[k][y0:y1, x0:x1] = _reduce(self.levels[k - 1], (x0, y0, x1, y1))


def _reduce(source: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Pixels box (x0, y0, x1, y1) of the next level: 2x2 means of `source`."""
    x0, y0, x1, y1 = box
    region = source[2 * y0 : 2 * y1, 2 * x0 : 2 * x1]
    pad_y, pad_x = 2 * (y1 - y0) - region.shape[0], 2 * (x1 - x0) - region.shape[1]
    if pad_x or pad_y:  # an odd last row or column: repeat it
        region = cv2.copyMakeBorder(region, 0, pad_y, 0, pad_x, cv2.BORDER_REPLICATE)
    return cv2.resize(region, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)


# ------------------------------------------------------------------ widget


def _overlay_lut(color: QColor, opacity: float) -> np.ndarray:
    """Mask value v -> `color` at alpha v * opacity, as premultiplied ARGB32."""
    alpha = np.rint(np.arange(256) * (opacity * color.alphaF())).astype(np.uint32)
    r, g, b = (np.rint(c * alpha / 255).astype(np.uint32) for c in (color.red(), color.green(), color.blue()))
    return (alpha << 24) | (r << 16) | (g << 8) | b


class CanvasView(QWidget):
    zoom_changed = Signal(float)  # 1.0 = one image pixel per logical (device-independent) pixel
    cursor_moved = Signal(object)  # (x, y) image coordinates under the cursor, or None off the image
    # Left-button input not used for panning: image x, y (may lie outside the
    # image) and the QMouseEvent/QTabletEvent, valid only during the emit.
    pointer_pressed = Signal(float, float, object)
    pointer_moved = Signal(float, float, object)
    pointer_released = Signal(float, float, object)
    pointer_double_clicked = Signal(float, float, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: _Pyramid | None = None
        self._comparison: _Pyramid | None = None
        self._mask: _Pyramid | None = None
        self._show_original = False
        self._split: float | None = None  # before/after: the original left of this widget x
        self._overlay_color = QColor(DEFAULT_OVERLAY_COLOR)
        self._overlay_opacity = DEFAULT_OVERLAY_OPACITY
        self._overlay_lut = self._make_overlay_lut()
        self._preview: tuple[int, int, np.ndarray] | None = None  # x, y, premultiplied BGRA of a fill in progress
        # Further masks shown over the photo in their own colour (a selection candidate, the sampling
        # area), by name, drawn in the order they were first set: (pyramid, colour table).
        self._extra: dict[str, tuple[_Pyramid, np.ndarray]] = {}

        self._zoom = 1.0
        self._ox = self._oy = 0.0
        self._fitted = True  # follow the window size until the user zooms or pans

        self._cursor_pos: QPointF | None = None  # last pointer position in the widget
        self._reported_off_image = False
        self._brush_diameter: float | None = None
        self._path: np.ndarray | None = None  # (N, 2) image coordinates
        self._path_closed = False

        self._pan_mode = False
        self._pan_button: Qt.MouseButton | None = None
        self._pan_start = (QPointF(), 0.0, 0.0)  # pointer position, ox, oy when the drag began
        self._pointer_down = False  # a left-button press was reported and its release not yet
        self._tablet_down = False
        self._saved_cursor: QCursor | None = None

        self.setMouseTracking(True)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)  # paintEvent covers every dirty pixel
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # a click on the photo gives the editor the keys again
        self.grabGesture(Qt.GestureType.PinchGesture)

    # -------------------------------------------------------------- content

    def set_image(self, rgb: np.ndarray, *, keep_view: bool = False) -> None:
        """Show `rgb` (uint8 (H, W, 3)); the view keeps a reference, not a copy.

        The view resets to fit unless keep_view is set and the size is unchanged.
        A mask or comparison image of another size is dropped.
        """
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) RGB array, got shape {rgb.shape}")
        same_size = self._image is not None and self._image.shape == rgb.shape
        self._image = _Pyramid(rgb)
        if not same_size:
            self._preview = None
        if self._mask is not None and self._mask.shape != rgb.shape[:2]:
            self._mask = None
        self._extra = {name: extra for name, extra in self._extra.items() if extra[0].shape == rgb.shape[:2]}
        if self._comparison is not None and self._comparison.shape != rgb.shape:
            self._comparison = None
        if keep_view and same_size:
            self.update()
        else:
            self.fit_to_window()

    def update_image_region(self, box: tuple[int, int, int, int] | None) -> None:
        """Pixels of the photo array changed inside box (x0, y0, x1, y1, half-open; None = all)."""
        self._refresh_region(self._image, box, visible=not (self._show_original and self._comparison is not None))

    def set_mask(self, mask: np.ndarray | None) -> None:
        """Show `mask` (uint8 (H, W), 255 = remove) as the overlay; a reference, not a copy."""
        if mask is not None:
            self._check_matches_image(mask, 2)
            self._mask = _Pyramid(mask)
        else:
            self._mask = None
        self.update()

    def update_mask_region(self, box: tuple[int, int, int, int] | None) -> None:
        """Mask values changed inside box (x0, y0, x1, y1, half-open; None = all). Cheap: one call per brush dab."""
        self._refresh_region(self._mask, box, visible=self._overlay_shown())

    def set_extra_overlay(self, name: str, mask: np.ndarray | None, color: QColor | None = None, opacity: float = 0.5) -> None:
        """Show `mask` (uint8 (H, W), a reference) in `color` over the photo and the mask, under the name
        `name`; None removes it. For masks besides the document's: a candidate, the sampling area."""
        if mask is None:
            self._extra.pop(name, None)
        else:
            self._check_matches_image(mask, 2)
            self._extra[name] = (_Pyramid(mask), _overlay_lut(color or QColor(DEFAULT_OVERLAY_COLOR), opacity))
        self.update()

    def update_extra_overlay_region(self, name: str, box: tuple[int, int, int, int] | None) -> None:
        """Values of the overlay `name` changed inside box (x0, y0, x1, y1; None = all)."""
        if name in self._extra:
            self._refresh_region(self._extra[name][0], box, visible=not self._show_original)

    def set_comparison_image(self, rgb: np.ndarray | None) -> None:
        """The photo shown instead of the current one while show_original is on (same size)."""
        if rgb is not None:
            self._check_matches_image(rgb, 3)
            self._comparison = _Pyramid(rgb)
        else:
            self._comparison = None
        if self._show_original:
            self.update()

    def set_show_original(self, on: bool) -> None:
        """Before/after: show the comparison image (the current one if none is set) without the overlay."""
        if on != self._show_original:
            self._show_original = on
            self.update()

    def set_split(self, x: float | None) -> None:
        """Before/after split: the original left of widget x, the result right of it; None ends it."""
        if x != self._split:
            self._split = x
            self.update()

    @property
    def split(self) -> float | None:
        return self._split

    def set_preview_patch(self, patch: Patch | None) -> None:
        """Show a fill in progress over the photo and the mask until it is replaced or cleared (None)."""
        old = self._preview_rect()
        if patch is None:
            self._preview = None
        else:
            # Premultiplied B, G, R, A: drawn over the photo with the patch's own alpha. OpenCV's
            # multiply takes ~6 ms for a 2-megapixel preview on the GUI thread, numpy ~50 ms.
            bgra = cv2.cvtColor(patch.rgb, cv2.COLOR_RGB2BGRA)
            bgra[..., 3] = patch.alpha
            weights = cv2.cvtColor(patch.alpha, cv2.COLOR_GRAY2BGRA)
            weights[..., 3] = 255
            self._preview = (patch.x, patch.y, cv2.multiply(bgra, weights, scale=1 / 255))
        self._update_rects(old, self._preview_rect())

    def set_overlay_color(self, color: QColor) -> None:
        self._overlay_color = QColor(color)
        self._recolor_overlay()

    def set_overlay_opacity(self, opacity: float) -> None:
        self._overlay_opacity = min(max(float(opacity), 0.0), 1.0)
        self._recolor_overlay()

    def set_brush_outline(self, diameter: float | None) -> None:
        """Circle of `diameter` image pixels centred on the cursor; None hides it."""
        old = self._outline_rect()
        self._brush_diameter = None if diameter is None else float(diameter)
        self._update_rects(old, self._outline_rect())

    def set_preview_path(self, points: list[tuple[float, float]] | None, closed: bool = False) -> None:
        """An image-coordinate polyline drawn on top (lasso, polygon, rectangle rubber band); None hides it."""
        new = None if not points else np.array(points, dtype=np.float64).reshape(-1, 2)
        old, old_closed = self._path, self._path_closed
        # While a lasso or polygon grows, only its last segments change: repaint just those.
        start = 0
        if old is not None and new is not None and not closed and not old_closed and len(new) >= len(old) - 1:
            common = len(old) - 1
            if np.array_equal(new[:common], old[:common]):
                start = max(common - 1, 0)
        self._update_rects(self._path_rect(old, start), self._path_rect(new, start))
        self._path, self._path_closed = new, closed

    # -------------------------------------------------------------- view

    @property
    def zoom(self) -> float:
        return self._zoom

    def set_zoom(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom to `factor`, keeping the widget point `anchor` (default: the centre) over the same image point."""
        if self._image is None:
            return
        anchor = QPointF(self.width() / 2, self.height() / 2) if anchor is None else QPointF(anchor)
        zoom = min(max(float(factor), self._min_zoom()), MAX_ZOOM)
        image_x = (anchor.x() - self._ox) / self._zoom
        image_y = (anchor.y() - self._oy) / self._zoom
        self._fitted = False
        self._apply_view(zoom, anchor.x() - image_x * zoom, anchor.y() - image_y * zoom)

    def zoom_in(self) -> None:
        self.set_zoom(_zoom_step(self._zoom, +1))

    def zoom_out(self) -> None:
        self.set_zoom(_zoom_step(self._zoom, -1))

    def fit_to_window(self) -> None:
        """The whole photo, centred, with a small margin; the view then follows the window size."""
        if self._image is None:
            return
        height, width = self._image.shape[:2]
        zoom = self._fit_zoom()
        self._fitted = True
        self._apply_view(zoom, (self.width() - width * zoom) / 2, (self.height() - height * zoom) / 2)

    def actual_size(self) -> None:
        """100%, keeping the image point at the centre of the view where it is."""
        self.set_zoom(1.0)

    def pan_by(self, dx: float, dy: float) -> None:
        """Move the photo by (dx, dy) logical pixels; some of it always stays on screen."""
        if self._image is not None:
            self._pan_to(self._ox + dx, self._oy + dy)

    def widget_to_image(self, point: QPointF) -> QPointF:
        return QPointF((point.x() - self._ox) / self._zoom, (point.y() - self._oy) / self._zoom)

    def image_to_widget(self, point: QPointF) -> QPointF:
        return QPointF(point.x() * self._zoom + self._ox, point.y() * self._zoom + self._oy)

    def visible_image_rect(self) -> QRectF:
        """The part of the image on screen, in image coordinates (empty without an image)."""
        if self._image is None:
            return QRectF()
        height, width = self._image.shape[:2]
        corner = self.widget_to_image(QPointF(0, 0))
        on_screen = QRectF(corner.x(), corner.y(), self.width() / self._zoom, self.height() / self._zoom)
        return on_screen.intersected(QRectF(0, 0, width, height))

    def pointer_inside(self) -> bool:
        """True while the mouse pointer is over the canvas (whichever widget has the keyboard focus)."""
        return self._cursor_pos is not None  # set by mouse moves over it, cleared when the pointer leaves

    def set_pan_mode(self, on: bool) -> None:
        """While on (Space held), left-drag pans instead of drawing; a drag in progress finishes first."""
        old = self._outline_rect()
        self._pan_mode = on
        self._update_cursor_shape()
        self._update_rects(old, self._outline_rect())

    def _fit_zoom(self) -> float:
        assert self._image is not None  # only called with an image shown
        height, width = self._image.shape[:2]
        margin = FIT_MARGIN if min(self.width(), self.height()) > 4 * FIT_MARGIN else 0.0
        room_x, room_y = max(self.width() - 2 * margin, 1.0), max(self.height() - 2 * margin, 1.0)
        return min(room_x / width, room_y / height, MAX_ZOOM)

    def _min_zoom(self) -> float:
        return min(self._fit_zoom() / 2, 1.0)

    def _apply_view(self, zoom: float, ox: float, oy: float) -> None:
        assert self._image is not None  # only called with an image shown
        height, width = self._image.shape[:2]
        ox = _clamp_offset(ox, width * zoom, self.width())
        oy = _clamp_offset(oy, height * zoom, self.height())
        ratio = self.devicePixelRatioF()
        ox, oy = round(ox * ratio) / ratio, round(oy * ratio) / ratio
        zoom_changed = zoom != self._zoom
        self._zoom, self._ox, self._oy = zoom, ox, oy
        self.update()
        if zoom_changed:
            self.zoom_changed.emit(zoom)
        if self._cursor_pos is not None and self._pan_button is None:
            self._report_cursor()

    def _pan_to(self, ox: float, oy: float) -> None:
        self._fitted = False
        self._apply_view(self._zoom, ox, oy)

    # -------------------------------------------------------------- painting

    def paintEvent(self, event) -> None:  # noqa: N802
        dirty = QRectF(event.rect())
        background = QRegion(event.rect())
        with QPainter(self) as painter:  # ends the painter even if drawing raises
            if self._image is not None:
                background -= self._covered_rect()
            # First: the photo's partly covered edge pixels are drawn over it. (A QRegion iterates over its
            # rectangles; the stubs lack __iter__ and __getitem__.)
            for rect in background:  # type: ignore[attr-defined]
                painter.fillRect(rect, BACKGROUND)
            if self._image is not None:
                original = self._comparison if self._show_original and self._comparison is not None else self._image
                self._draw_pyramid(painter, original, dirty)
                if self._mask is not None and self._overlay_shown():
                    self._draw_pyramid(painter, self._mask, dirty, self._overlay_lut)
                for pyramid, colors in self._extra.values():
                    if not self._show_original:
                        self._draw_pyramid(painter, pyramid, dirty, colors)
                preview_rect = self._preview_rect()  # None without a preview
                if self._preview is not None and preview_rect is not None and not self._show_original:
                    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self._zoom < 1)
                    painter.drawImage(preview_rect, argb32_qimage(self._preview[2], alpha=True))
                self._draw_comparison(painter, dirty)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            self._draw_path(painter, dirty)
            self._draw_outline(painter)

    def _draw_comparison(self, painter: QPainter, dirty: QRectF) -> None:
        """The original left of the split, and labels saying which side is which (or that it is the original)."""
        if self._show_original and self._comparison is not None:
            _label(painter, QPointF(10, 10), "Original")
        if self._split is None or self._comparison is None or self._show_original:
            return
        left = QRectF(0, 0, self._split, self.height())
        if left.intersects(dirty):
            painter.save()
            painter.setClipRect(left)
            self._draw_pyramid(painter, self._comparison, dirty.intersected(left))
            painter.restore()
        _label(painter, QPointF(10, 10), "Original")
        _label(painter, QPointF(self.width() - 10, 10), "Result", right=True)

    def _draw_pyramid(self, painter: QPainter, pyramid: _Pyramid, dirty: QRectF, overlay: np.ndarray | None = None) -> None:
        """Draw the part of a photo (or of a mask, coloured by the table `overlay`) under `dirty`, from the level
        matching the screen."""
        scale = self._zoom * self.devicePixelRatioF()  # device pixels per image pixel
        level, array = pyramid.level(0 if scale >= 1 else int(math.floor(math.log2(1 / scale) + 1e-9)))
        step = self._zoom * 2**level  # logical pixels per level pixel
        smooth = scale * 2**level < 1 - 1e-9
        pad = 1 if smooth else 0  # the bilinear filter reads one neighbour beyond the dirty area
        height, width = array.shape[:2]
        x0 = max(math.floor((dirty.left() - self._ox) / step) - pad, 0)
        y0 = max(math.floor((dirty.top() - self._oy) / step) - pad, 0)
        x1 = min(math.ceil((dirty.right() - self._ox) / step) + pad, width)
        y1 = min(math.ceil((dirty.bottom() - self._oy) / step) + pad, height)
        if x1 <= x0 or y1 <= y0:
            return
        if overlay is not None:  # masks are mostly empty: draw only the box around the non-zero pixels, with a zero border
            bx, by, bw, bh = cv2.boundingRect(array[y0:y1, x0:x1])
            if bw == 0:
                return
            x0, x1 = max(x0 + bx - 1, x0), min(x0 + bx + bw + 1, x1)
            y0, y1 = max(y0 + by - 1, y0), min(y0 + by + bh + 1, y1)
            colored = np.take(overlay, array[y0:y1, x0:x1])
            image = argb32_qimage(colored.view(np.uint8).reshape(colored.shape + (4,)), alpha=True)
        else:  # Qt's RGB32 is B, G, R, 255 in memory on the little-endian machines it runs on
            image = argb32_qimage(cv2.cvtColor(array[y0:y1, x0:x1], cv2.COLOR_RGB2BGRA), alpha=False)
        target = QRectF(self._ox + x0 * step, self._oy + y0 * step, (x1 - x0) * step, (y1 - y0) * step)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        painter.drawImage(target, image)  # synchronous: the temporary pixels outlive the wrapper's use

    def _preview_rect(self) -> QRectF | None:
        if self._preview is None:
            return None
        x, y, pixels = self._preview
        z = self._zoom
        return QRectF(self._ox + x * z, self._oy + y * z, pixels.shape[1] * z, pixels.shape[0] * z)

    def _covered_rect(self) -> QRect:
        """The whole logical pixels the photo covers: no background needed there."""
        assert self._image is not None  # only called with an image shown
        height, width = self._image.shape[:2]
        left, top = math.ceil(self._ox), math.ceil(self._oy)
        right, bottom = math.floor(self._ox + width * self._zoom), math.floor(self._oy + height * self._zoom)
        return QRect(left, top, max(right - left, 0), max(bottom - top, 0))

    def _draw_path(self, painter: QPainter, dirty: QRectF) -> None:
        rect = self._path_rect(self._path, 0)  # None without a path
        if self._path is None or rect is None or not rect.intersects(dirty):
            return
        widget = self._path * self._zoom + (self._ox, self._oy)
        polygon = QPolygonF([QPointF(x, y) for x, y in widget.tolist()])
        draw = painter.drawPolygon if self._path_closed else painter.drawPolyline
        # White under black dashes: visible on any photo.
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(Qt.GlobalColor.white, 1.0))
        draw(polygon)
        painter.setPen(QPen(Qt.GlobalColor.black, 1.0, Qt.PenStyle.DashLine))
        draw(polygon)

    def _draw_outline(self, painter: QPainter) -> None:
        if self._outline_rect() is None or self._brush_diameter is None or self._cursor_pos is None:
            return
        radius = max(self._brush_diameter * self._zoom / 2, 1.0)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)  # crisp 1-px rings: full contrast on any photo
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(Qt.GlobalColor.black, 1.0))
        painter.drawEllipse(self._cursor_pos, radius + 1, radius + 1)
        painter.setPen(QPen(Qt.GlobalColor.white, 1.0))
        painter.drawEllipse(self._cursor_pos, radius, radius)

    def _outline_rect(self) -> QRectF | None:
        """Screen area of the brush outline, or None when it is hidden."""
        if self._brush_diameter is None or self._cursor_pos is None or self._pan_mode or self._pan_button is not None:
            return None
        extent = max(self._brush_diameter * self._zoom / 2, 1.0) + 3
        return QRectF(self._cursor_pos.x() - extent, self._cursor_pos.y() - extent, 2 * extent, 2 * extent)

    def _path_rect(self, path: np.ndarray | None, start: int) -> QRectF | None:
        """Screen area of path[start:] (with its pen), or None."""
        if path is None or start >= len(path):
            return None
        low, high = path[start:].min(axis=0), path[start:].max(axis=0)
        top_left = self.image_to_widget(QPointF(*low))
        bottom_right = self.image_to_widget(QPointF(*high))
        return QRectF(top_left, bottom_right).adjusted(-3, -3, 3, 3)

    def _update_rects(self, *rects: QRectF | None) -> None:
        for rect in rects:
            if rect is not None:
                self.update(rect.toAlignedRect())

    def _refresh_region(self, pyramid: _Pyramid | None, box, visible: bool) -> None:
        """The base of `pyramid` changed inside box: refresh its reductions and repaint that area."""
        if pyramid is None:
            return
        height, width = pyramid.shape[:2]
        x0, y0, x1, y1 = (0, 0, width, height) if box is None else (int(v) for v in box)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        if x1 <= x0 or y1 <= y0:
            return
        pyramid.update((x0, y0, x1, y1))
        if visible:
            z = self._zoom
            # 2 px more: smoothing carries a changed pixel into its neighbours on screen.
            area = QRectF(self._ox + x0 * z, self._oy + y0 * z, (x1 - x0) * z, (y1 - y0) * z).adjusted(-2, -2, 2, 2)
            self.update(area.toAlignedRect().intersected(self.rect()))

    def _overlay_shown(self) -> bool:
        return self._mask is not None and not self._show_original and self._overlay_opacity > 0

    def _make_overlay_lut(self) -> np.ndarray:
        return _overlay_lut(self._overlay_color, self._overlay_opacity)

    def _recolor_overlay(self) -> None:
        self._overlay_lut = self._make_overlay_lut()
        if self._mask is not None:
            self.update()

    def _check_matches_image(self, array: np.ndarray, ndim: int) -> None:
        if self._image is None:
            raise ValueError("set_image must come before set_mask and set_comparison_image")
        expected = self._image.shape[: 2] if ndim == 2 else self._image.shape
        if array.shape != expected:
            raise ValueError(f"expected shape {expected} to match the photo, got {array.shape}")

    # -------------------------------------------------------------- geometry changes

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self._image is None:
            return
        old = event.oldSize()
        if self._fitted or not old.isValid():
            self.fit_to_window()
        else:  # keep the image point at the centre where it was
            dx, dy = (self.width() - old.width()) / 2, (self.height() - old.height()) / 2
            self._apply_view(self._zoom, self._ox + dx, self._oy + dy)

    # -------------------------------------------------------------- pointer input

    def mousePressEvent(self, event) -> None:  # noqa: N802
        button = event.button()
        if self._pan_button is not None or self._pointer_down:
            return  # one drag at a time
        if button == Qt.MouseButton.MiddleButton or (button == Qt.MouseButton.LeftButton and self._pan_mode):
            self._start_pan(button, event.position())
        elif button == Qt.MouseButton.LeftButton and self._image is not None:
            self._pointer_down = True
            self._emit_pointer(self.pointer_pressed, event)
        else:
            event.ignore()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        position = event.position()
        if self._pan_button is not None:
            start, ox, oy = self._pan_start
            self._pan_to(ox + position.x() - start.x(), oy + position.y() - start.y())
            return
        self._move_cursor(position)
        if self._pointer_down:
            self._emit_pointer(self.pointer_moved, event)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        if self._pan_button is not None and event.button() == self._pan_button:
            self._pan_button = None
            self._update_cursor_shape()
            self._move_cursor(event.position())
        elif self._pointer_down and event.button() == Qt.MouseButton.LeftButton:
            self._pointer_down = False
            self._emit_pointer(self.pointer_released, event)

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802
        # Qt sends the second press of a double-click as this event: report it as a
        # press (so presses and releases stay paired) and then as a double-click.
        self.mousePressEvent(event)
        if self._pointer_down:
            self._emit_pointer(self.pointer_double_clicked, event)

    def tabletEvent(self, event) -> None:  # noqa: N802
        # A pen stroke is handled here so tools get pressure; everything else
        # (hover, panning, stylus buttons) is left to the mouse events Qt makes from it.
        kind = event.type()
        if kind == QEvent.Type.TabletPress and not self._pan_mode and self._pan_button is None:
            if event.button() == Qt.MouseButton.LeftButton and not self._pointer_down and self._image is not None:
                self._tablet_down = self._pointer_down = True
                self._emit_pointer(self.pointer_pressed, event)
                return
        elif kind == QEvent.Type.TabletMove and self._tablet_down:
            self._move_cursor(event.position())
            self._emit_pointer(self.pointer_moved, event)
            return
        elif kind == QEvent.Type.TabletRelease and self._tablet_down:
            self._tablet_down = self._pointer_down = False
            self._emit_pointer(self.pointer_released, event)
            return
        event.ignore()

    def leaveEvent(self, event) -> None:  # noqa: N802
        old = self._outline_rect()
        self._cursor_pos = None
        self._update_rects(old)
        if not self._reported_off_image:
            self._reported_off_image = True
            self.cursor_moved.emit(None)
        super().leaveEvent(event)

    def wheelEvent(self, event) -> None:  # noqa: N802
        if self._image is None:
            return
        angle, pixels = event.angleDelta(), event.pixelDelta()
        modifiers = event.modifiers()
        shift = bool(modifiers & Qt.KeyboardModifier.ShiftModifier)
        trackpad = not pixels.isNull() or event.phase() != Qt.ScrollPhase.NoScrollPhase
        if modifiers & Qt.KeyboardModifier.ControlModifier or not (trackpad or shift or angle.x()):
            notches = (angle.y() or angle.x()) / 120  # a plain wheel (or Ctrl+scroll) zooms at the cursor
            self.set_zoom(self._zoom * WHEEL_ZOOM_PER_NOTCH**notches, event.position())
        else:  # a trackpad, Shift+wheel and the horizontal wheel pan
            if trackpad and not pixels.isNull():
                dx, dy = pixels.x(), pixels.y()
            else:
                dx, dy = angle.x() * WHEEL_PAN_PER_NOTCH / 120, angle.y() * WHEEL_PAN_PER_NOTCH / 120
            if shift and dx == 0:
                dx, dy = dy, 0
            self.pan_by(dx, dy)
        event.accept()

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.NativeGesture and self._image is not None:
            kind = event.gestureType()
            if kind == Qt.NativeGestureType.ZoomNativeGesture:  # macOS trackpad pinch: value = relative change
                self.set_zoom(self._zoom * (1 + event.value()), event.position())
                return True
            if kind == Qt.NativeGestureType.SmartZoomNativeGesture:  # two-finger double tap
                if self._fitted:
                    self.set_zoom(1.0, event.position())
                else:
                    self.fit_to_window()
                return True
        elif event.type() == QEvent.Type.Gesture and self._image is not None:
            pinch = event.gesture(Qt.GestureType.PinchGesture)
            if pinch is not None:
                if pinch.changeFlags() & QPinchGesture.ChangeFlag.ScaleFactorChanged:
                    centre = self.mapFromGlobal(pinch.centerPoint())
                    self.set_zoom(self._zoom * pinch.scaleFactor(), centre)  # scaleFactor: since the last event
                event.accept()
                return True
        return super().event(event)

    def _start_pan(self, button: Qt.MouseButton, position: QPointF) -> None:
        old = self._outline_rect()
        self._pan_button = button
        self._pan_start = (QPointF(position), self._ox, self._oy)
        self._update_cursor_shape()
        self._update_rects(old)

    def _emit_pointer(self, signal, event) -> None:
        point = self.widget_to_image(event.position())
        signal.emit(point.x(), point.y(), event)

    def _move_cursor(self, position: QPointF) -> None:
        old = self._outline_rect()
        self._cursor_pos = QPointF(position)
        self._update_rects(old, self._outline_rect())
        self._report_cursor()

    def _report_cursor(self) -> None:
        assert self._cursor_pos is not None  # only called once the pointer has been seen
        point = self.widget_to_image(self._cursor_pos)
        height, width = self._image.shape[:2] if self._image is not None else (0, 0)
        if 0 <= point.x() < width and 0 <= point.y() < height:
            self._reported_off_image = False
            self.cursor_moved.emit((point.x(), point.y()))
        elif not self._reported_off_image:
            self._reported_off_image = True
            self.cursor_moved.emit(None)

    def _update_cursor_shape(self) -> None:
        """Open hand in pan mode, closed hand while dragging, else the cursor set before panning began."""
        if self._pan_button is not None:
            shape = Qt.CursorShape.ClosedHandCursor
        elif self._pan_mode:
            shape = Qt.CursorShape.OpenHandCursor
        else:
            if self._saved_cursor is not None:
                self.setCursor(self._saved_cursor)
                self._saved_cursor = None
            return
        if self._saved_cursor is None:
            self._saved_cursor = self.cursor()
        self.setCursor(shape)


def _clamp_offset(offset: float, extent: float, room: float) -> float:
    """Keep at least KEEP_VISIBLE logical pixels (or all) of an image `extent` long inside `room`."""
    keep = min(KEEP_VISIBLE, extent, room)
    return min(max(offset, keep - extent), room - keep)


def _zoom_step(zoom: float, direction: int) -> float:
    """The next zoom on the ladder 2^(n/2) (..., 50%, 71%, 100%, 141%, 200%, ...) in `direction`."""
    steps = 2 * math.log2(zoom)
    n = math.floor(steps + 1e-6) + 1 if direction > 0 else math.ceil(steps - 1e-6) - 1
    return 2 ** (n / 2)


def _label(painter: QPainter, corner: QPointF, text: str, right: bool = False) -> None:
    """A small caption on a dark plate at `corner` (its top-left, or top-right with `right`)."""
    metrics = painter.fontMetrics()
    width, height = metrics.horizontalAdvance(text) + 12, metrics.height() + 6
    plate = QRectF(corner.x() - width if right else corner.x(), corner.y(), width, height)
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(0, 0, 0, 150))
    painter.drawRoundedRect(plate, 4, 4)
    painter.setPen(QColor(255, 255, 255))
    painter.drawText(plate, Qt.AlignmentFlag.AlignCenter, text)
    painter.restore()

"""The image canvas, driven as a user would: real widget, real events, rendered pixels read back."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, Qt
from PySide6.QtGui import (
    QColor,
    QMouseEvent,
    QNativeGestureEvent,
    QPointingDevice,
    QWheelEvent,
)
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from inpaint_studio.ui.canvas import BACKGROUND, CanvasView, _Pyramid
from inpaint_studio.ui.qimage import argb32_qimage, array_to_qimage, qimage_to_array

REPO = Path(__file__).resolve().parent.parent
GREY = (100, 100, 100)


@pytest.fixture
def canvas(qtbot) -> CanvasView:
    view = CanvasView()
    qtbot.addWidget(view)
    view.resize(400, 300)
    view.show()
    qtbot.waitExposed(view)
    return view


def rendered(view: CanvasView) -> np.ndarray:
    """What the widget paints, as (H, W, 3) RGB."""
    return qimage_to_array(view.grab().toImage())[..., :3]


def solid(height: int, width: int, rgb=GREY) -> np.ndarray:
    return np.full((height, width, 3), rgb, np.uint8)


def place(view: CanvasView, zoom: float, image_point: tuple[float, float], widget_point: tuple[float, float]) -> None:
    """Zoom, then pan so that image_point lies at widget_point."""
    view.set_zoom(zoom)
    now = view.image_to_widget(QPointF(*image_point))
    view.pan_by(widget_point[0] - now.x(), widget_point[1] - now.y())


def wheel(view: CanvasView, position: QPointF, angle=None, pixels=None, modifiers=Qt.KeyboardModifier.NoModifier):
    event = QWheelEvent(
        position, view.mapToGlobal(position), pixels or QPoint(), angle or QPoint(), Qt.MouseButton.NoButton,
        modifiers, Qt.ScrollPhase.NoScrollPhase, False,
    )
    QApplication.sendEvent(view, event)


class PaintRects(QObject):
    """Records the rectangles of the paint events a widget receives."""

    def __init__(self, widget) -> None:
        super().__init__()
        self.rects = []
        widget.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.Paint:
            self.rects.append(event.rect())
        return False


# ------------------------------------------------------------------ mapping


@pytest.mark.parametrize("zoom", [0.3, 1.0, 2.5, 7.0])
def test_widget_image_round_trip(canvas, zoom):
    canvas.set_image(solid(200, 300))
    canvas.set_zoom(zoom)
    canvas.pan_by(13, -7)
    for x, y in [(0, 0), (37.25, 150.5), (399, 299)]:
        back = canvas.image_to_widget(canvas.widget_to_image(QPointF(x, y)))
        assert back.x() == pytest.approx(x) and back.y() == pytest.approx(y)


def test_a_click_reports_the_image_point_under_it(canvas, qtbot):
    canvas.set_image(solid(100, 80))
    place(canvas, 2.0, (10, 10), (0, 0))
    assert canvas.zoom == 2.0
    with qtbot.waitSignal(canvas.pointer_pressed) as pressed:
        QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(45, 25))
    x, y, event = pressed.args
    assert (x, y) == (32.5, 22.5)
    point = canvas.widget_to_image(QPointF(45, 25))
    assert (point.x(), point.y()) == (32.5, 22.5)


# ------------------------------------------------------------------ zoom


def test_fit_shows_the_whole_image_with_a_margin(canvas):
    canvas.set_image(solid(500, 1000))
    canvas.set_zoom(3.0)
    canvas.fit_to_window()
    visible = canvas.visible_image_rect()
    assert (visible.x(), visible.y(), visible.width(), visible.height()) == (0, 0, 1000, 500)
    top_left = canvas.image_to_widget(QPointF(0, 0))
    bottom_right = canvas.image_to_widget(QPointF(1000, 500))
    assert 0 < top_left.x() and bottom_right.x() < 400 and 0 < top_left.y() and bottom_right.y() < 300
    assert bottom_right.x() - top_left.x() > 360  # the margin is small


def test_actual_size_is_100_percent_around_the_view_centre(canvas):
    canvas.set_image(solid(500, 1000))
    centre = canvas.widget_to_image(QPointF(200, 150))
    canvas.actual_size()
    assert canvas.zoom == 1.0
    after = canvas.image_to_widget(centre)
    assert abs(after.x() - 200) <= 0.5 and abs(after.y() - 150) <= 0.5


def test_zoom_in_and_out_step_and_keep_the_centre(canvas, qtbot):
    canvas.set_image(solid(500, 1000))
    canvas.actual_size()
    centre = canvas.widget_to_image(QPointF(200, 150))
    with qtbot.waitSignal(canvas.zoom_changed) as changed:
        canvas.zoom_in()
    assert changed.args == [pytest.approx(2**0.5)]
    canvas.zoom_in()
    assert canvas.zoom == 2.0
    canvas.zoom_out()
    canvas.zoom_out()
    canvas.zoom_out()
    assert canvas.zoom == pytest.approx(0.5**0.5)
    after = canvas.image_to_widget(centre)
    assert abs(after.x() - 200) <= 0.5 and abs(after.y() - 150) <= 0.5


def test_zoom_is_clamped(canvas):
    canvas.set_image(solid(500, 1000))
    canvas.set_zoom(1000)
    assert canvas.zoom == 32.0
    canvas.set_zoom(1e-6)
    assert canvas.zoom > 0.15  # half the fit zoom (~0.38)


def test_wheel_zooms_at_the_cursor(canvas):
    canvas.set_image(solid(500, 1000))
    cursor = QPointF(123, 77)
    before_zoom = canvas.zoom
    under = canvas.widget_to_image(cursor)
    wheel(canvas, cursor, angle=QPoint(0, 240))
    assert canvas.zoom > before_zoom
    after = canvas.image_to_widget(under)
    assert abs(after.x() - cursor.x()) <= 0.5 and abs(after.y() - cursor.y()) <= 0.5
    wheel(canvas, cursor, angle=QPoint(0, -240))
    assert canvas.zoom == pytest.approx(before_zoom)


def test_shift_wheel_and_trackpad_pan(canvas):
    canvas.set_image(solid(500, 1000))
    canvas.set_zoom(2.0)
    zoom, origin = canvas.zoom, canvas.image_to_widget(QPointF(0, 0))
    wheel(canvas, QPointF(200, 150), angle=QPoint(0, -120), modifiers=Qt.KeyboardModifier.ShiftModifier)
    moved = canvas.image_to_widget(QPointF(0, 0))
    assert moved.x() < origin.x() and moved.y() == origin.y() and canvas.zoom == zoom
    wheel(canvas, QPointF(200, 150), angle=QPoint(0, 30), pixels=QPoint(0, 25))
    assert canvas.image_to_widget(QPointF(0, 0)).y() == moved.y() + 25 and canvas.zoom == zoom


def test_pinch_gesture_zooms_at_its_centre(canvas):
    canvas.set_image(solid(500, 1000))
    centre = QPointF(300, 100)
    under = canvas.widget_to_image(centre)
    zoom = canvas.zoom
    event = QNativeGestureEvent(
        Qt.NativeGestureType.ZoomNativeGesture, QPointingDevice.primaryPointingDevice(), 2,
        centre, centre, canvas.mapToGlobal(centre), 0.5, QPointF(), 1,
    )
    QApplication.sendEvent(canvas, event)
    assert canvas.zoom == pytest.approx(zoom * 1.5)
    after = canvas.image_to_widget(under)
    assert abs(after.x() - centre.x()) <= 0.5 and abs(after.y() - centre.y()) <= 0.5


def test_set_image_of_another_size_resets_to_fit(canvas):
    canvas.set_image(solid(100, 100))
    canvas.set_zoom(5.0)
    canvas.pan_by(-200, -100)
    canvas.set_image(solid(600, 900))
    visible = canvas.visible_image_rect()
    assert (visible.width(), visible.height()) == (900, 600)
    assert canvas.zoom == pytest.approx(min((400 - 24) / 900, (300 - 24) / 600))


def test_resizing_a_fitted_view_fits_again(canvas, qtbot):
    canvas.set_image(solid(500, 1000))
    canvas.resize(800, 600)
    qtbot.waitUntil(lambda: canvas.zoom == pytest.approx((800 - 24) / 1000))


def test_panning_never_loses_the_image(canvas):
    canvas.set_image(solid(500, 1000))
    canvas.set_zoom(2.0)
    canvas.pan_by(1e6, 1e6)
    assert not canvas.visible_image_rect().isEmpty()
    canvas.pan_by(-1e7, -1e7)
    assert not canvas.visible_image_rect().isEmpty()


# ------------------------------------------------------------------ rendering


def quadrants(height: int, width: int) -> np.ndarray:
    image = np.zeros((height, width, 3), np.uint8)
    image[: height // 2, : width // 2] = (255, 0, 0)
    image[: height // 2, width // 2 :] = (0, 255, 0)
    image[height // 2 :, : width // 2] = (0, 0, 255)
    image[height // 2 :, width // 2 :] = (250, 200, 50)
    return image


def test_zoom_1_renders_the_photo_pixel_for_pixel(canvas):
    photo = quadrants(100, 120)
    canvas.set_image(photo)
    place(canvas, 1.0, (0, 0), (50, 40))
    pixels = rendered(canvas)
    assert np.array_equal(pixels[40:140, 50:170], photo)
    assert tuple(pixels[10, 10]) == BACKGROUND.getRgb()[:3]
    assert tuple(pixels[200, 300]) == BACKGROUND.getRgb()[:3]


def test_zoom_4_shows_crisp_4x4_pixels(canvas):
    checker = (np.indices((16, 16)).sum(axis=0) % 2 * 255).astype(np.uint8)
    canvas.set_image(np.dstack([checker] * 3))
    place(canvas, 4.0, (0, 0), (20, 10))
    pixels = rendered(canvas)
    expected = np.kron(checker, np.ones((4, 4), np.uint8))
    assert np.array_equal(pixels[10:74, 20:84, 0], expected)
    assert np.array_equal(pixels[10:74, 20:84, 1], expected)


def test_pixels_stay_crisp_after_zooming_about_any_point(canvas):
    checker = (np.indices((40, 40)).sum(axis=0) % 2 * 255).astype(np.uint8)
    canvas.set_image(np.dstack([checker] * 3))
    canvas.set_zoom(4.0, QPointF(101.3, 77.7))
    origin = canvas.image_to_widget(QPointF(0, 0))
    assert origin.x() == round(origin.x()) and origin.y() == round(origin.y())  # on the device-pixel grid
    visible = canvas.visible_image_rect()
    x0, y0 = int(visible.x()) + 1, int(visible.y()) + 1
    corner = canvas.image_to_widget(QPointF(x0, y0))
    pixels = rendered(canvas)[int(corner.y()) : int(corner.y()) + 40, int(corner.x()) : int(corner.x()) + 40, 0]
    assert np.array_equal(pixels, np.kron(checker[y0 : y0 + 10, x0 : x0 + 10], np.ones((4, 4), np.uint8)))


def test_between_50_and_100_percent_the_photo_is_filtered_not_point_sampled(canvas):
    checker = (np.indices((300, 400)).sum(axis=0) % 2 * 255).astype(np.uint8)
    canvas.set_image(np.dstack([checker] * 3))
    canvas.set_zoom(0.75)
    corner = canvas.image_to_widget(QPointF(20, 20))
    patch = rendered(canvas)[int(corner.y()) : int(corner.y()) + 100, int(corner.x()) : int(corner.x()) + 100, 0]
    assert np.mean((patch == 0) | (patch == 255)) < 0.2


def test_below_100_percent_the_photo_is_averaged_not_aliased(canvas):
    # A 1-pixel checkerboard whose left half is red/black and right half green/black.
    height, width = 1600, 2400
    checker = np.indices((height, width)).sum(axis=0) % 2 == 0
    photo = np.zeros((height, width, 3), np.uint8)
    photo[:, : width // 2, 0] = np.where(checker[:, : width // 2], 255, 0)
    photo[:, width // 2 :, 1] = np.where(checker[:, width // 2 :], 255, 0)
    canvas.set_image(photo)
    assert canvas.zoom < 0.2
    pixels = rendered(canvas).astype(int)
    left = canvas.image_to_widget(QPointF(width / 4, height / 2))
    right = canvas.image_to_widget(QPointF(3 * width / 4, height / 2))
    for point, channel in ((left, 0), (right, 1)):
        x, y = int(point.x()), int(point.y())
        patch = pixels[y - 20 : y + 20, x - 20 : x + 20]
        assert np.abs(patch[..., channel] - 127.5).max() <= 3
        assert patch[..., 2].max() == 0 and patch[..., 1 - channel].max() == 0


def test_mask_overlay_blends_toward_the_overlay_colour(canvas):
    canvas.set_image(solid(100, 100))
    mask = np.zeros((100, 100), np.uint8)
    mask[20:40, 30:60] = 255
    canvas.set_mask(mask)
    canvas.set_overlay_color(QColor(255, 0, 0))
    canvas.set_overlay_opacity(0.5)
    place(canvas, 1.0, (0, 0), (0, 0))
    pixels = rendered(canvas).astype(int)
    assert np.abs(pixels[30, 45] - (178, 50, 50)).max() <= 2
    assert tuple(pixels[10, 10]) == GREY and tuple(pixels[50, 45]) == GREY
    canvas.set_overlay_opacity(0.0)
    assert tuple(rendered(canvas)[30, 45]) == GREY


def test_extra_overlays_show_in_their_own_colour_over_the_mask_and_follow_edits(canvas):
    canvas.set_image(solid(100, 100))
    mask = np.zeros((100, 100), np.uint8)
    mask[20:40, 30:60] = 255
    canvas.set_mask(mask)
    canvas.set_overlay_color(QColor(255, 0, 0))
    candidate = np.zeros((100, 100), np.uint8)
    candidate[60:80, 10:30] = 255
    canvas.set_extra_overlay("candidate", candidate, QColor(0, 0, 255), opacity=0.5)
    place(canvas, 1.0, (0, 0), (0, 0))
    pixels = rendered(canvas).astype(int)
    assert np.abs(pixels[70, 20] - (50, 50, 178)).max() <= 2  # blue where the candidate is
    assert pixels[30, 45, 0] > pixels[30, 45, 2]  # the mask stays red
    candidate[60:80, 40:60] = 255
    canvas.update_extra_overlay_region("candidate", (40, 60, 60, 80))
    assert np.abs(rendered(canvas)[70, 50].astype(int) - (50, 50, 178)).max() <= 2
    canvas.set_show_original(True)
    assert tuple(rendered(canvas)[70, 20]) == GREY  # the original is shown bare
    canvas.set_show_original(False)
    canvas.set_extra_overlay("candidate", None)
    assert tuple(rendered(canvas)[70, 20]) == GREY
    with pytest.raises(ValueError):
        canvas.set_extra_overlay("candidate", np.zeros((10, 10), np.uint8))


def test_overlay_colour_is_the_same_from_reduced_levels_and_follows_changes(canvas):
    canvas.set_image(solid(1000, 1600))
    mask = np.zeros((1000, 1600), np.uint8)
    mask[200:800, 400:1200] = 255
    canvas.set_mask(mask)
    canvas.set_overlay_color(QColor(255, 0, 0))
    canvas.set_overlay_opacity(0.5)
    assert canvas.zoom < 0.5  # drawn from a reduced level
    centre = canvas.image_to_widget(QPointF(800, 500))
    x, y = int(centre.x()), int(centre.y())
    assert np.abs(rendered(canvas)[y, x].astype(int) - (178, 50, 50)).max() <= 2
    canvas.set_overlay_color(QColor(0, 0, 255))
    assert np.abs(rendered(canvas)[y, x].astype(int) - (50, 50, 178)).max() <= 2
    canvas.set_overlay_opacity(1.0)
    assert np.abs(rendered(canvas)[y, x].astype(int) - (0, 0, 255)).max() <= 1


def test_update_mask_region_repaints_that_region_only(canvas, qtbot):
    photo = solid(400, 600)
    mask = np.zeros((400, 600), np.uint8)
    canvas.set_image(photo)
    canvas.set_mask(mask)
    before = rendered(canvas)  # at fit zoom: drawn from reduced levels
    QApplication.processEvents()  # the full repaint set_mask asked for
    paints = PaintRects(canvas)
    cv2.circle(mask, (300, 200), 30, 255, -1)
    canvas.update_mask_region((270, 170, 331, 231))
    qtbot.waitUntil(lambda: len(paints.rects) > 0)
    area = canvas.image_to_widget(QPointF(270, 170)), canvas.image_to_widget(QPointF(331, 231))
    for rect in paints.rects:
        assert area[0].x() - 3 <= rect.left() and rect.right() <= area[1].x() + 3
        assert area[0].y() - 3 <= rect.top() and rect.bottom() <= area[1].y() + 3
    after = rendered(canvas)
    changed = np.argwhere(np.any(after != before, axis=2))
    assert len(changed) > 100
    centre = canvas.image_to_widget(QPointF(300, 200))
    assert np.abs(changed - (centre.y(), centre.x())).max() <= 30 * canvas.zoom + 2
    assert after[int(centre.y()), int(centre.x()), 0] > before[int(centre.y()), int(centre.x()), 0] + 40


def test_update_image_region_refreshes_reduced_levels(canvas):
    photo = solid(400, 600)
    canvas.set_image(photo)
    canvas.set_zoom(0.25)
    rendered(canvas)  # builds the reduced levels
    photo[100:300, 200:400] = (0, 0, 255)
    canvas.update_image_region((200, 100, 400, 300))
    centre = canvas.image_to_widget(QPointF(300, 200))
    assert tuple(rendered(canvas)[int(centre.y()), int(centre.x())]) == (0, 0, 255)


def test_show_original_shows_the_comparison_without_overlay(canvas):
    canvas.set_image(solid(100, 100))
    canvas.set_comparison_image(solid(100, 100, (10, 200, 30)))
    mask = np.full((100, 100), 255, np.uint8)
    canvas.set_mask(mask)
    place(canvas, 1.0, (0, 0), (0, 0))
    assert tuple(rendered(canvas)[50, 50]) != GREY  # tinted by the overlay
    canvas.set_show_original(True)
    assert tuple(rendered(canvas)[50, 50]) == (10, 200, 30)
    canvas.set_show_original(False)
    assert tuple(rendered(canvas)[50, 50]) != (10, 200, 30)


def test_brush_outline_is_drawn_black_and_white_around_the_cursor(canvas):
    canvas.set_image(solid(100, 100))
    place(canvas, 2.0, (0, 0), (0, 0))
    canvas.set_brush_outline(20)  # 40 logical pixels on screen
    QTest.mouseMove(canvas, QPoint(100, 100))
    pixels = rendered(canvas).astype(int)
    ring = pixels[100, 75:85]  # the left side of the circle, 20 px from the centre
    assert ring.min() < 40 and ring.max() > 215
    assert tuple(pixels[100, 100]) == GREY
    canvas.set_brush_outline(None)
    assert np.all(rendered(canvas)[100, 75:85] == GREY)


def test_preview_path_is_drawn_in_image_coordinates(canvas):
    canvas.set_image(solid(100, 100))
    place(canvas, 2.0, (0, 0), (0, 0))
    canvas.set_preview_path([(10, 10), (60, 10), (60, 60)], closed=True)
    pixels = rendered(canvas).astype(int)
    assert np.any(np.abs(pixels[18:23, 60] - GREY).max(axis=1) > 60)  # on the top edge, y = 20
    assert np.any(np.abs(pixels[60, 55:66] - GREY).max(axis=1) > 60)  # on the closing diagonal y = x
    canvas.set_preview_path(None)
    assert np.all(rendered(canvas)[18:23, 60] == GREY)


@pytest.mark.parametrize("shape", [(203, 317), (203, 317, 3)])
def test_pyramid_levels_are_box_means_and_stay_in_step_with_edits(shape):
    rng = np.random.default_rng(2)
    base = rng.integers(0, 256, shape, dtype=np.uint8)
    pyramid = _Pyramid(base)
    assert pyramid.level(99)[0] == pyramid.top == 4  # 317 -> 159 -> 80 -> 40 -> 20
    padded = np.pad(base.astype(float), [(0, 1), (0, 3)] + [(0, 0)] * (base.ndim - 2), mode="edge")  # 204 x 320
    expected = padded.reshape(51, 4, 80, 4, *base.shape[2:]).mean(axis=(1, 3))
    assert np.abs(pyramid.level(2)[1] - expected).max() <= 1

    for x0, y0, x1, y1 in [(0, 0, 1, 1), (100, 50, 161, 111), (300, 190, 317, 203), (7, 3, 250, 9)]:
        base[y0:y1, x0:x1] = rng.integers(0, 256, base[y0:y1, x0:x1].shape, dtype=np.uint8)
        pyramid.update((x0, y0, x1, y1))
    fresh = _Pyramid(base.copy())
    for k in range(1, pyramid.top + 1):
        assert np.array_equal(pyramid.level(k)[1], fresh.level(k)[1]), k


# ------------------------------------------------------------------ pointer input


def test_middle_drag_pans_by_the_drag_distance(canvas, qtbot):
    canvas.set_image(solid(500, 1000))
    canvas.set_zoom(1.0)
    origin = canvas.image_to_widget(QPointF(0, 0))
    pressed = []
    canvas.pointer_pressed.connect(lambda *args: pressed.append(args))
    QTest.mousePress(canvas, Qt.MouseButton.MiddleButton, Qt.KeyboardModifier.NoModifier, QPoint(100, 100))
    QTest.mouseMove(canvas, QPoint(120, 95))
    QTest.mouseMove(canvas, QPoint(130, 90))
    QTest.mouseRelease(canvas, Qt.MouseButton.MiddleButton, Qt.KeyboardModifier.NoModifier, QPoint(130, 90))
    moved = canvas.image_to_widget(QPointF(0, 0))
    assert (moved.x() - origin.x(), moved.y() - origin.y()) == (30, -10)
    assert pressed == []


def test_pan_mode_left_drag_pans_and_reports_no_press(canvas):
    canvas.set_image(solid(500, 1000))
    canvas.set_zoom(1.0)
    canvas.setCursor(Qt.CursorShape.PointingHandCursor)
    events = []
    canvas.pointer_pressed.connect(lambda *args: events.append("pressed"))
    canvas.pointer_released.connect(lambda *args: events.append("released"))
    canvas.set_pan_mode(True)
    assert canvas.cursor().shape() == Qt.CursorShape.OpenHandCursor
    origin = canvas.image_to_widget(QPointF(0, 0))
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(200, 150))
    assert canvas.cursor().shape() == Qt.CursorShape.ClosedHandCursor
    QTest.mouseMove(canvas, QPoint(170, 160))
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(170, 160))
    moved = canvas.image_to_widget(QPointF(0, 0))
    assert (moved.x() - origin.x(), moved.y() - origin.y()) == (-30, 10)
    assert events == []
    canvas.set_pan_mode(False)
    assert canvas.cursor().shape() == Qt.CursorShape.PointingHandCursor


def test_left_button_reports_press_move_release_in_image_coordinates(canvas, qtbot):
    canvas.set_image(solid(100, 80))
    place(canvas, 2.0, (0, 0), (0, 0))
    events = []
    for name in ("pressed", "moved", "released", "double_clicked"):
        getattr(canvas, f"pointer_{name}").connect(lambda x, y, event, name=name: events.append((name, x, y)))
    hovered = []
    canvas.cursor_moved.connect(hovered.append)
    QTest.mouseMove(canvas, QPoint(21, 41))  # hover: cursor only
    assert events == [] and hovered[-1] == (10.5, 20.5)
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(20, 40))
    QTest.mouseMove(canvas, QPoint(30, 40))
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(30, 40))
    assert events == [("pressed", 10, 20), ("moved", 15, 20), ("released", 15, 20)]
    QTest.mouseMove(canvas, QPoint(390, 290))  # off the image
    assert hovered[-1] is None
    # A double-click arrives as press, release, double-click, release: the second press is reported too.
    events.clear()
    QTest.mouseClick(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(50, 50))
    double = QMouseEvent(
        QEvent.Type.MouseButtonDblClick, QPointF(50, 50), canvas.mapToGlobal(QPointF(50, 50)),
        Qt.MouseButton.LeftButton, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(canvas, double)
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(50, 50))
    assert [name for name, *_ in events] == ["pressed", "released", "pressed", "double_clicked", "released"]
    assert events[3] == ("double_clicked", 25, 25)


def test_mask_and_comparison_must_match_the_photo(canvas):
    with pytest.raises(ValueError):
        canvas.set_mask(np.zeros((10, 10), np.uint8))  # no photo yet
    canvas.set_image(solid(100, 80))
    with pytest.raises(ValueError):
        canvas.set_mask(np.zeros((80, 100), np.uint8))
    with pytest.raises(ValueError):
        canvas.set_comparison_image(solid(80, 100))


# ------------------------------------------------------------------ HiDPI


def test_hidpi_renders_at_device_pixels(tmp_path):
    """At devicePixelRatio 2 and zoom 0.5, one image pixel is one device pixel: a 1-pixel checkerboard stays exact."""
    script = textwrap.dedent(
        """
        import os, sys
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        os.environ["QT_SCALE_FACTOR"] = "2"
        import numpy as np
        from PySide6.QtCore import QPointF
        from PySide6.QtWidgets import QApplication
        from inpaint_studio.ui.canvas import CanvasView
        from inpaint_studio.ui.qimage import qimage_to_array
        app = QApplication([])
        view = CanvasView()
        view.resize(200, 150)
        view.show()
        assert view.devicePixelRatioF() == 2.0
        checker = (np.indices((300, 400)).sum(axis=0) % 2 * 255).astype(np.uint8)
        view.set_image(np.dstack([checker] * 3))
        view.set_zoom(0.5)
        assert view.zoom == 0.5
        corner = view.widget_to_image(QPointF(0, 0))
        x, y = round(corner.x()), round(corner.y())  # image pixel at device pixel (0, 0)
        pixels = qimage_to_array(view.grab().toImage())
        assert pixels.shape[:2] == (300, 400), pixels.shape
        assert np.array_equal(pixels[:, :, 0], checker[y : y + 300, x : x + 400])
        # Half a logical pixel is a whole device pixel: the image edge may start there.
        view.pan_by(10.5 - view.image_to_widget(QPointF(0, 0)).x(), 5.5 - view.image_to_widget(QPointF(0, 0)).y())
        assert view.image_to_widget(QPointF(0, 0)) == QPointF(10.5, 5.5)
        pixels = qimage_to_array(view.grab().toImage())
        assert np.array_equal(pixels[11:, 21:, 0], checker[: 300 - 11, : 400 - 21])
        assert np.all(pixels[:11, :, 0] == 54) and np.all(pixels[:, :21, 0] == 54)
        print("ok")
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr


# ------------------------------------------------------------------ numpy <-> QImage


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 3), (5, 7, 4)])
def test_qimage_round_trip_shares_memory(qapp, shape):
    array = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    image = array_to_qimage(array)
    assert np.array_equal(qimage_to_array(image), array)
    array[2, 3] = 0 if array[2, 3].max() else 1  # zero-copy: the wrapper sees the change
    assert np.array_equal(qimage_to_array(image), array)


def test_qimage_wraps_a_strided_crop_and_rejects_unpacked_pixels(qapp):
    big = np.random.default_rng(1).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    crop = big[3:13, 5:16]
    assert np.array_equal(qimage_to_array(array_to_qimage(crop)), crop)
    with pytest.raises(ValueError):
        array_to_qimage(big[:, ::2])
    with pytest.raises(ValueError):
        array_to_qimage(big.astype(np.float32))


def test_argb32_qimage_reads_native_32_bit_pixels(qapp):
    argb = np.array([[0xFF102030, 0x80800000]], np.uint32)  # opaque; half-transparent red, premultiplied
    image = argb32_qimage(argb.view(np.uint8).reshape(1, 2, 4), alpha=True)
    assert image.pixel(0, 0) == 0xFF102030
    assert image.pixelColor(1, 0).getRgb() == (255, 0, 0, 128)
    argb[0, 0] = 0xFF000000
    assert image.pixel(0, 0) == 0xFF000000

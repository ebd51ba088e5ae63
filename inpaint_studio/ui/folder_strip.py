"""The filmstrip: a dock with a thumbnail of every photo in the open folder.

Built for folders of thousands of photos. Opening one only sets the row
count: nothing is read from disk on the GUI thread. A thumbnail is asked for
when its row is painted (so only the rows on screen, newest first) and made
on at most two background threads (`io.thumbnails`), cached on disk, kept in
a small in-memory LRU, and delivered back through a queued signal. Rows show
a placeholder until then, and a distinct "cannot read" picture for a bad file.

Every row is drawn by one delegate: the thumbnail, the file name, a dot for a
photo with changes not yet exported and a check mark for one exported in this
session; the current photo is highlighted and kept in view. The strip turns
into a grid when its dock is tall enough, and into a column in a side dock.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPointF,
    QRect,
    QRectF,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QImage,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QDockWidget,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from inpaint_studio.io.thumbnails import (
    THUMBNAIL_SIZE,
    Thumbnail,
    ThumbnailCache,
    ThumbnailLoader,
    thumbnail_of_pixels,
)
from inpaint_studio.session.folder import FolderPhoto, FolderSession
from inpaint_studio.ui.background import on_gui_thread
from inpaint_studio.ui.qimage import array_to_qimage

STATE_ROLE = Qt.ItemDataRole.UserRole + 1  # "loading", "ready" or "error"
EDITED_ROLE = Qt.ItemDataRole.UserRole + 2
EXPORTED_ROLE = Qt.ItemDataRole.UserRole + 3
ERROR_ROLE = Qt.ItemDataRole.UserRole + 4

MIN_BOX, MAX_BOX, DEFAULT_BOX = 64, THUMBNAIL_SIZE, 112  # thumbnail area in logical pixels (Ctrl+wheel)
PAD = 5
MEMORY_BYTES = 96 << 20  # decoded thumbnails kept in memory
DRAIN_SECONDS = 0.006  # GUI time given to arriving thumbnails per turn of the event loop
EDITED_COLOUR = QColor(240, 160, 20)
EXPORTED_COLOUR = QColor(40, 160, 80)
BAD_COLOUR = QColor(200, 60, 50)


class ThumbnailBridge(QObject):
    """Runs the loader and brings its results to the GUI thread as QImages.

    Results wait in an inbox that one queued signal drains, a few milliseconds
    at a time, so a burst of thumbnails costs the GUI a few repaints, not one each.
    """

    ready = Signal(object, object, str, object)  # path, QImage or None, error, (width, height) or None

    def __init__(self, cache: ThumbnailCache, parent: QObject | None = None, threads: int = 2) -> None:
        super().__init__(parent)
        self._inbox: deque[tuple] = deque()
        self._lock = threading.Lock()
        self._wake = on_gui_thread(self, self._drain)
        self.loader = ThumbnailLoader(cache, self._deliver, threads=threads)

    def _deliver(self, thumbnail: Thumbnail) -> None:
        # On a loader thread: QImage (unlike QPixmap) may be built here. Converted to Qt's native
        # 32-bit layout (which also copies the pixels), so painting never converts it again.
        image = None
        pixels = thumbnail.pixels  # None when not thumbnail.ok
        if pixels is not None:
            alpha = pixels.shape[2] == 4
            image = array_to_qimage(pixels).convertToFormat(
                QImage.Format.Format_ARGB32_Premultiplied if alpha else QImage.Format.Format_RGB32
            )
        with self._lock:
            self._inbox.append((thumbnail.path, image, thumbnail.error or "", thumbnail.source_size))
            first = len(self._inbox) == 1
        if first:
            self._wake()

    def _drain(self) -> None:
        # At most a few milliseconds per turn of the event loop: from a warm disk cache hundreds of
        # thumbnails arrive per second, and timers, input and painting must get their turns.
        deadline = time.perf_counter() + DRAIN_SECONDS
        while time.perf_counter() < deadline:
            with self._lock:
                if not self._inbox:
                    return
                item = self._inbox.popleft()
            self.ready.emit(*item)
        self._wake()  # the rest at the next turn


class FolderModel(QAbstractListModel):
    def __init__(self, bridge: ThumbnailBridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session: FolderSession | None = None
        self.bridge = bridge
        bridge.ready.connect(self._thumbnail_ready)
        self._images: OrderedDict[Path, QImage] = OrderedDict()  # LRU, least recently used first
        self._scaled: dict[Path, tuple[int, QImage]] = {}  # what a row draws, scaled to the size it is drawn at
        self._previews: dict[Path, tuple[int, QImage]] = {}  # edited photos: (document revision, preview)
        self._bytes = 0
        self.memory_bytes = MEMORY_BYTES
        self._errors: dict[Path, str] = {}
        self._sizes: dict[Path, tuple[int, int]] = {}

    def set_session(self, session: FolderSession | None) -> None:
        self.bridge.loader.forget_pending()  # the old folder's rows are off screen now
        self.beginResetModel()
        self.session = session
        self._errors.clear()  # a file may have been repaired since
        self._previews.clear()
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex | None = None) -> int:  # noqa: N802
        return 0 if self.session is None or (parent is not None and parent.isValid()) else len(self.session.photos)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if self.session is None or not index.isValid():
            return None
        photo = self.session.photos[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return photo.name
        if role == Qt.ItemDataRole.DecorationRole:
            return self._image(photo)
        if role == STATE_ROLE:
            if photo.path in self._images or self._preview(photo) is not None:
                return "ready"
            return "error" if photo.path in self._errors or photo.error else "loading"
        if role == EDITED_ROLE:
            return photo.edited
        if role == EXPORTED_ROLE:
            return photo.exported
        if role == ERROR_ROLE:
            return photo.error or self._errors.get(photo.path)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(photo)
        return None

    def _image(self, photo: FolderPhoto) -> QImage | None:
        preview = self._preview(photo)
        if preview is not None:
            return preview
        path = photo.path
        image = self._images.get(path)
        if image is not None:
            self._images.move_to_end(path)
        elif path not in self._errors:
            self.bridge.loader.request(path)  # painted but missing: make it (a no-op if already asked)
        return image

    def _preview(self, photo: FolderPhoto) -> QImage | None:
        """A photo with fills is shown as it looks now, from its document, not from the file."""
        document = photo.document
        if document is None or not document.layers:
            self._previews.pop(photo.path, None)
            return None
        kept = self._previews.get(photo.path)
        if kept is None or kept[0] != document.revision:
            pixels = thumbnail_of_pixels(document.composite, self.bridge.loader.cache.size)
            image = array_to_qimage(pixels).convertToFormat(QImage.Format.Format_RGB32)
            kept = self._previews[photo.path] = (document.revision, image)
        return kept[1]

    def _tooltip(self, photo) -> str:
        lines = [photo.name]
        size = self._sizes.get(photo.path)
        if size:
            lines.append(f"{size[0]} × {size[1]}")
        error = photo.error or self._errors.get(photo.path)
        if error:
            lines.append(error)
        if photo.edited:
            lines.append("Edited — changes not exported yet")
        if photo.exported and photo.export_path is not None:
            lines.append(f"Exported to {photo.export_path.name}")
        return "\n".join(lines)

    def _thumbnail_ready(self, path: Path, image: QImage | None, error: str, size) -> None:
        if image is None:
            self._errors[path] = error
        else:
            self._remember(path, image)
            if size:
                self._sizes[path] = tuple(size)
        self.refresh_row(self.session.index_of(path) if self.session else None)

    def _remember(self, path: Path, image: QImage) -> None:
        self._forget(path)
        self._images[path] = image
        self._bytes += image.sizeInBytes()
        while self._bytes > self.memory_bytes and len(self._images) > 1:
            self._forget(next(iter(self._images)))

    def _forget(self, path: Path) -> None:
        old = self._images.pop(path, None)
        if old is not None:
            self._bytes -= old.sizeInBytes()
        _, scaled = self._scaled.pop(path, (None, None))
        if scaled is not None:
            self._bytes -= scaled.sizeInBytes()

    def scaled_image(self, row: int, width: int, height: int) -> QImage | None:
        """Row `row`'s thumbnail at exactly width x height device pixels, scaled once (smoothly) and kept."""
        assert self.session is not None  # there are rows only with a session
        photo = self.session.photos[row]
        image = self._preview(photo) or self._images.get(photo.path)
        if image is None:
            return None
        if image.width() == width and image.height() == height:
            return image
        source, scaled = self._scaled.get(photo.path, (None, None))
        if scaled is None or source != image.cacheKey() or scaled.width() != width or scaled.height() != height:
            if scaled is not None:
                self._bytes -= scaled.sizeInBytes()
            scaled = image.scaled(width, height, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation)
            self._scaled[photo.path] = (image.cacheKey(), scaled)
            self._bytes += scaled.sizeInBytes()
        return scaled

    def refresh_row(self, row: int | None) -> None:
        if row is not None and 0 <= row < self.rowCount():
            index = self.index(row)
            self.dataChanged.emit(index, index)

    def cached_count(self) -> int:
        return len(self._images)

    def error_count(self) -> int:
        return len(self._errors)


class ThumbnailDelegate(QStyledItemDelegate):
    """Draws a row: highlight, thumbnail (or placeholder / bad-file picture), markers, name."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.box = DEFAULT_BOX

    def cell_size(self, font: QFont) -> QSize:
        text = QFontMetrics(font).height()
        return QSize(self.box + 2 * PAD, self.box + 3 * PAD + text)

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:  # noqa: N802
        return self.cell_size(option.font)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        painter.save()
        painter.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform)
        rect = option.rect
        palette = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver)
        cell = QRectF(rect).adjusted(1.5, 1.5, -1.5, -1.5)
        if selected:
            fill = QColor(palette.color(QPalette.ColorRole.Highlight))
            fill.setAlpha(70)
            painter.setPen(QPen(palette.color(QPalette.ColorRole.Highlight), 2))
            painter.setBrush(fill)
            painter.drawRoundedRect(cell, 5, 5)
        elif hovered:
            fill = QColor(palette.color(QPalette.ColorRole.Highlight))
            fill.setAlpha(28)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(fill)
            painter.drawRoundedRect(cell, 5, 5)

        box = QRectF(rect.x() + PAD, rect.y() + PAD, self.box, self.box)
        state = index.data(STATE_ROLE)
        image = index.data(Qt.ItemDataRole.DecorationRole)  # asks for the thumbnail when missing
        if isinstance(image, QImage) and not image.isNull():
            picture = _fit(box, image.width(), image.height())
            # Drawn 1:1 from a copy scaled once to its device-pixel size: scaling at every paint
            # made scrolling stutter. Pixel-aligned, so the copy is never resampled again.
            ratio = painter.device().devicePixelRatioF() if painter.device() else 1.0
            picture = QRectF(round(picture.x()), round(picture.y()), round(picture.width()), round(picture.height()))
            model = cast(FolderModel, index.model())  # the strip's view shows a FolderModel
            scaled = model.scaled_image(index.row(), round(picture.width() * ratio), round(picture.height() * ratio))
            painter.drawImage(picture, scaled if scaled is not None else image)
            painter.setPen(QPen(QColor(0, 0, 0, 70), 1))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(picture.adjusted(-0.5, -0.5, 0.5, 0.5))
        elif state == "error":
            picture = _fit(box, 4, 3)
            self._draw_bad_file(painter, picture, palette)
        else:
            picture = _fit(box, 4, 3)
            placeholder = QColor(palette.color(QPalette.ColorRole.Mid))
            placeholder.setAlpha(60)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(placeholder)
            painter.drawRoundedRect(picture, 3, 3)

        if index.data(EDITED_ROLE):
            _badge(painter, QPointF(picture.right() - 8, picture.top() + 8), 5.5, EDITED_COLOUR)
        if index.data(EXPORTED_ROLE):
            centre = QPointF(picture.right() - 10, picture.bottom() - 10)
            _badge(painter, centre, 8, EXPORTED_COLOUR)
            tick = QPainterPath(centre + QPointF(-4, 0.2))
            tick.lineTo(centre + QPointF(-1.2, 3))
            tick.lineTo(centre + QPointF(4.2, -2.8))
            painter.setPen(_tick_pen())
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawPath(tick)

        name = index.data(Qt.ItemDataRole.DisplayRole) or ""
        font = QFont(option.font)
        font.setBold(selected)
        painter.setFont(font)
        metrics = QFontMetrics(font)
        text_rect = QRect(rect.x() + PAD, int(box.bottom()) + PAD, rect.width() - 2 * PAD, metrics.height())
        painter.setPen(palette.color(QPalette.ColorRole.Text))
        elided = metrics.elidedText(name, Qt.TextElideMode.ElideMiddle, text_rect.width())
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter, elided)
        painter.restore()

    def _draw_bad_file(self, painter: QPainter, picture: QRectF, palette: QPalette) -> None:
        """A dashed frame with a red '!' sign and 'Cannot read': unlike any photo or the placeholder."""
        tint = QColor(BAD_COLOUR)
        tint.setAlpha(30)
        pen = QPen(BAD_COLOUR, 1.2, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(tint)
        painter.drawRoundedRect(picture.adjusted(0.5, 0.5, -0.5, -0.5), 3, 3)
        small = QFont(painter.font())
        small.setPointSizeF(max(6.5, small.pointSizeF() * 0.85))
        text_height = QFontMetrics(small).height()
        radius = min(picture.height() * 0.2, 14)
        centre = QPointF(picture.center().x(), picture.center().y() - text_height / 2)
        _badge(painter, centre, radius, BAD_COLOUR)
        painter.setPen(QPen(Qt.GlobalColor.white, max(1.5, radius / 5), Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        painter.drawLine(centre + QPointF(0, -radius * 0.5), centre + QPointF(0, radius * 0.12))
        painter.drawPoint(centre + QPointF(0, radius * 0.5))
        painter.setFont(small)
        painter.setPen(BAD_COLOUR.darker(120))
        label = QRectF(picture.left(), centre.y() + radius + 1, picture.width(), text_height)
        painter.drawText(label, Qt.AlignmentFlag.AlignCenter, "Cannot read")


def _tick_pen() -> QPen:
    pen = QPen(Qt.GlobalColor.white, 2)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    return pen


def _badge(painter: QPainter, centre: QPointF, radius: float, colour: QColor) -> None:
    painter.setPen(QPen(Qt.GlobalColor.white, 1.5))
    painter.setBrush(colour)
    painter.drawEllipse(centre, radius, radius)


def _fit(box: QRectF, width: int, height: int) -> QRectF:
    """The largest rectangle of this aspect centred in `box`, never enlarged past `box`."""
    scale = min(box.width() / max(width, 1), box.height() / max(height, 1))
    w, h = width * scale, height * scale
    return QRectF(box.center().x() - w / 2, box.center().y() - h / 2, w, h)


class StripView(QListView):
    """The list: a row of cells, a grid when tall enough, a column when narrow."""

    zoom_requested = Signal(int)  # +1 / -1 (Ctrl+wheel)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # List mode with uniform sizes lays out thousands of rows in O(1); the delegate draws every cell.
        self.setViewMode(QListView.ViewMode.ListMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setUniformItemSizes(True)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setMouseTracking(True)  # hover highlight
        self.setSpacing(1)
        self.setLayoutMode(QListView.LayoutMode.SinglePass)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # a row to start with
        self.empty_text = "Open a folder to browse its photos (File > Open Folder…, Ctrl+Shift+O)"
        self.cell_size = lambda: QSize(DEFAULT_BOX, DEFAULT_BOX)  # set by the strip

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self.choose_layout(self.cell_size())

    def choose_layout(self, cell: QSize) -> None:
        """Row, grid or column, from the space the dock gives (not the viewport: scroll bars come and go)."""
        width, height = self.width() - 2 * self.frameWidth(), self.height() - 2 * self.frameWidth()
        bar = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        if width < 2 * cell.width() + bar:
            flow, wrapping = QListView.Flow.TopToBottom, False
        elif height < 2 * cell.height() + bar + 4:
            flow, wrapping = QListView.Flow.LeftToRight, False
        else:
            flow, wrapping = QListView.Flow.LeftToRight, True
        if (flow, wrapping) != (self.flow(), self.isWrapping()):
            self.setFlow(flow)
            self.setWrapping(wrapping)
            # A row scrolls only sideways, a column or a grid only up and down.
            row = flow == QListView.Flow.LeftToRight and not wrapping
            off, needed = Qt.ScrollBarPolicy.ScrollBarAlwaysOff, Qt.ScrollBarPolicy.ScrollBarAsNeeded
            self.setVerticalScrollBarPolicy(off if row else needed)
            self.setHorizontalScrollBarPolicy(needed if row else off)
            if self.currentIndex().isValid():
                QTimer.singleShot(0, lambda: self.scrollTo(self.currentIndex()))

    def dataChanged(  # noqa: N802
        self,
        top_left: QModelIndex | QPersistentModelIndex,
        bottom_right: QModelIndex | QPersistentModelIndex,
        roles: Sequence[int] = (),
    ) -> None:
        # A thumbnail or mark of one row: repaint that cell if it is on screen, nothing otherwise
        # (thumbnails of rows scrolled past keep arriving). The strip has no editors to update.
        if top_left == bottom_right and top_left.isValid():
            rect = self.visualRect(top_left)
            if rect.intersects(self.viewport().rect()):
                self.viewport().update(rect)
            return
        super().dataChanged(top_left, bottom_right, roles)

    def wheelEvent(self, event) -> None:  # noqa: N802
        delta = event.angleDelta()
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            if delta.y():
                self.zoom_requested.emit(1 if delta.y() > 0 else -1)
            event.accept()
            return
        if self.flow() == QListView.Flow.LeftToRight and not self.isWrapping() and abs(delta.y()) > abs(delta.x()):
            # A row scrolls sideways with an ordinary mouse wheel.
            bar = self.horizontalScrollBar()
            bar.setValue(bar.value() - delta.y())
            event.accept()
            return
        super().wheelEvent(event)

    def paintEvent(self, event) -> None:  # noqa: N802
        if self.model() is not None and self.model().rowCount() == 0:
            painter = QPainter(self.viewport())
            painter.setPen(self.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text))
            painter.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.empty_text)
            return
        super().paintEvent(event)


class FolderStrip(QDockWidget):
    """The dock the window shows while a folder is open."""

    photo_activated = Signal(int)  # the user picked this row (click, or keys inside the strip)

    def __init__(self, parent: QWidget | None = None, cache: ThumbnailCache | None = None) -> None:
        super().__init__("Folder", parent)
        self.setObjectName("folder-strip")
        self.view = StripView(self)
        self.delegate = ThumbnailDelegate(self.view)
        self.view.setItemDelegate(self.delegate)
        if cache is None:
            # Device pixels, so thumbnails stay sharp on a high-density screen.
            ratio = max(1.0, self.devicePixelRatioF())
            cache = ThumbnailCache(size=min(512, round(THUMBNAIL_SIZE * ratio)))
        self.bridge = ThumbnailBridge(cache, self)
        self.model = FolderModel(self.bridge, self)
        self.view.setModel(self.model)
        self.view.selectionModel().currentChanged.connect(self._current_changed)
        self._programmatic = False
        self._pending_row: int | None = None
        # Keys held down in the strip move the highlight at once and open the photo when they settle.
        self._activate_timer = QTimer(self)
        self._activate_timer.setSingleShot(True)
        self._activate_timer.timeout.connect(self._activate_pending)
        self.view.clicked.connect(lambda index: self._activate(index.row(), at_once=True))
        self.view.zoom_requested.connect(self._zoom)
        self.view.cell_size = self.cell_size
        self.view.setMinimumHeight(self.row_height())  # never so short that the names are cut off
        self.setWidget(self.view)

    # ------------------------------------------------------------ set-up

    @property
    def loader(self) -> ThumbnailLoader:
        return self.bridge.loader

    def set_session(self, session: FolderSession | None) -> None:
        self._activate_timer.stop()
        self.model.set_session(session)
        self.update_title()
        if session is not None and session.index is not None:
            self.set_current(session.index)

    def shutdown(self) -> None:
        self._activate_timer.stop()
        self.bridge.loader.shutdown(timeout=2.0)  # its threads are daemons: never hold up quitting

    # ------------------------------------------------------------ current photo and marks

    def set_current(self, row: int | None) -> None:
        """Highlight `row` and scroll it into view, without reporting it as the user's choice."""
        self._programmatic = True
        try:
            if row is None:
                self.view.clearSelection()
                return
            index = self.model.index(row)
            self.view.setCurrentIndex(index)
            self.view.scrollTo(index, QAbstractItemView.ScrollHint.EnsureVisible)
        finally:
            self._programmatic = False

    def refresh_row(self, row: int) -> None:
        """A photo's marks changed."""
        self.model.refresh_row(row)
        self.update_title()

    def update_title(self) -> None:
        session = self.model.session
        if session is None:
            self.setWindowTitle("Folder")
            return
        count = len(session.photos)
        title = f"{session.folder.name or session.folder} — {count} photo{'s' if count != 1 else ''}"
        edited = sum(photo.edited for photo in session.photos)
        if edited:
            title += f", {edited} edited"
        self.setWindowTitle(title)

    def _current_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        if self._programmatic or not current.isValid():
            return
        self._activate(current.row(), at_once=bool(QApplication.mouseButtons()))

    def _activate(self, row: int, at_once: bool) -> None:
        self._pending_row = row
        if at_once:
            self._activate_timer.stop()
            self._activate_pending()
        else:
            self._activate_timer.start(120)

    def _activate_pending(self) -> None:
        row, self._pending_row = self._pending_row, None
        session = self.model.session
        if row is not None and session is not None and row != session.index:
            self.photo_activated.emit(row)

    # ------------------------------------------------------------ size

    def cell_size(self) -> QSize:
        return self.delegate.cell_size(self.view.font()) + QSize(2 * self.view.spacing(), 2 * self.view.spacing())

    def row_height(self) -> int:
        """The list's height for one row of cells and a scroll bar."""
        bar = self.view.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        return self.cell_size().height() + bar + 2 * self.view.frameWidth() + 2

    def preferred_height(self) -> int:
        """The dock's height for one row: the list's and the title bar's."""
        title = QFontMetrics(self.font()).height() + 2 * self.style().pixelMetric(QStyle.PixelMetric.PM_DockWidgetTitleMargin) + 4
        return self.row_height() + title

    def _zoom(self, step: int) -> None:
        box = max(MIN_BOX, min(MAX_BOX, self.delegate.box + 16 * step))
        if box != self.delegate.box:
            self.delegate.box = box
            self.view.setMinimumHeight(self.row_height())
            self.view.doItemsLayout()
            self.view.choose_layout(self.cell_size())
            if self.view.currentIndex().isValid():
                self.view.scrollTo(self.view.currentIndex())


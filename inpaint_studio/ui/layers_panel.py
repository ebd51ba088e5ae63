"""The Layers panel: fills stacked over the original photo, topmost first.

Visibility (checkbox), rename (double-click), opacity (slider), reorder,
duplicate, merge down, delete and flatten, each through
`core.layer_commands`, so every change is one undo step.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from inpaint_studio.core import layer_commands as ops
from inpaint_studio.core.boxes import Box
from inpaint_studio.core.document import Document, DocumentEvent, ResultLayer
from inpaint_studio.core.patch import Patch
from inpaint_studio.ui.document_panel import DocumentPanel
from inpaint_studio.ui.icons import icon
from inpaint_studio.worker.provenance import provenance_summary

THUMBNAIL = 48
_LAYER_ROLE = Qt.ItemDataRole.UserRole


def _thumbnail(document: Document, layer: ResultLayer | None) -> QIcon:
    """The whole photo, or a fill where it is: the photo around the layer's box with only that layer on it.

    Cropped to the fill (with some of its surroundings), so fills far apart or
    small on a large photo can be told apart at a glance.
    """
    if layer is None:
        rgb = document.original
    else:
        x0, y0, x1, y1 = _around(layer.box, document.original.shape[1], document.original.shape[0])
        rgb = document.original[y0:y1, x0:x1].copy()
        for patch in layer.patches:
            Patch(patch.x - x0, patch.y - y0, patch.rgb, patch.alpha).composite_onto(rgb)
    step = max(1, max(rgb.shape[:2]) // THUMBNAIL)
    small = np.ascontiguousarray(rgb[::step, ::step])
    image = QImage(small.data, small.shape[1], small.shape[0], small.strides[0], QImage.Format.Format_RGB888).copy()
    pixmap = QPixmap(THUMBNAIL, THUMBNAIL)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    scaled = image.scaled(THUMBNAIL, THUMBNAIL, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    painter.drawImage((THUMBNAIL - scaled.width()) // 2, (THUMBNAIL - scaled.height()) // 2, scaled)
    painter.end()
    return QIcon(pixmap)


def _around(box: Box, width: int, height: int) -> Box:
    """`box` grown by half its size on every side (its surroundings), kept inside the photo."""
    x0, y0, x1, y1 = box
    margin = max(x1 - x0, y1 - y0) // 2 + 4
    return Box(max(x0 - margin, 0), max(y0 - margin, 0), min(x1 + margin, width), min(y1 + margin, height))


class LayersPanel(DocumentPanel):
    selection_changed = Signal()  # another layer is selected, or the selected one changed

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Layers", parent)
        self.setObjectName("layers")
        self._updating = False

        self.list = QListWidget()
        self.list.setIconSize(QSize(THUMBNAIL, THUMBNAIL))
        self.list.itemChanged.connect(self._item_changed)
        self.list.currentItemChanged.connect(lambda *_: None if self._updating else self._selection_changed())

        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity_label = QLabel("100%")
        self.opacity.sliderReleased.connect(self._opacity_released)
        self.opacity.valueChanged.connect(lambda value: self.opacity_label.setText(f"{value}%"))

        self.buttons = {}
        row = QHBoxLayout()
        for key, tip in (
            ("up", "Move the layer up"),
            ("down", "Move the layer down"),
            ("duplicate", "Duplicate the layer"),
            ("merge", "Merge the layer into the one below"),
            ("delete", "Delete the layer"),
            ("flatten", "Flatten: merge all visible fills into one layer"),
        ):
            button = QToolButton()
            button.setIcon(icon(f"layer-{key}"))
            button.setToolTip(tip)
            button.setAccessibleName(tip)
            button.clicked.connect(lambda checked=False, k=key: self._button(k))
            row.addWidget(button)
            self.buttons[key] = button

        opacity_row = QHBoxLayout()
        opacity_row.addWidget(QLabel("Opacity"))
        opacity_row.addWidget(self.opacity)
        opacity_row.addWidget(self.opacity_label)
        body = QWidget()
        self._layout = QVBoxLayout(body)
        self._layout.addWidget(self.list)
        self._layout.addLayout(opacity_row)
        self._layout.addLayout(row)
        self.setWidget(body)
        self.refresh()

    def add_row(self, widget: QWidget) -> None:
        """A row under the list for commands on the selected layer (e.g. its tries)."""
        self._layout.addWidget(widget)

    def _document_changed(self, what: DocumentEvent, box: Box | None) -> None:
        if what in (DocumentEvent.LAYERS, DocumentEvent.HISTORY):
            self.refresh()

    @property
    def selected_layer(self) -> ResultLayer | None:
        item = self.list.currentItem()
        return None if item is None else item.data(_LAYER_ROLE)

    def select(self, layer: ResultLayer | None) -> None:
        for row in range(self.list.count()):
            if self.list.item(row).data(_LAYER_ROLE) is layer:
                self.list.setCurrentRow(row)
                return

    def refresh(self) -> None:
        """Rebuild the list from the document, keeping the selection where possible."""
        selected = self.selected_layer
        self._updating = True
        self.list.clear()
        document = self.document
        if document is not None:
            for layer in reversed(document.layers):
                item = QListWidgetItem(_thumbnail(document, layer), layer.name)
                item.setData(_LAYER_ROLE, layer)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked if layer.visible else Qt.CheckState.Unchecked)
                made_by = provenance_summary(layer.provenance)
                tip = f"{layer.name} — {int(round(layer.opacity * 100))}% opacity"
                item.setToolTip(f"{tip}\n{made_by}" if made_by else tip)
                self.list.addItem(item)
            photo = QListWidgetItem(_thumbnail(document, None), f"Original photo ({document.photo.path.name})")
            photo.setData(_LAYER_ROLE, None)
            photo.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
            self.list.addItem(photo)
            self.select(selected if selected in document.layers else (document.layers[-1] if document.layers else None))
        self._updating = False
        self._selection_changed()

    def _selection_changed(self) -> None:
        layer = self.selected_layer
        layers = self.document.layers if self.document is not None else []  # a layer is listed only with a document
        has_layer = layer is not None and layer in layers
        index = layers.index(layer) if layer is not None and has_layer else -1
        self.opacity.setEnabled(has_layer)
        self.opacity.blockSignals(True)
        self.opacity.setValue(round((layer.opacity if layer is not None else 1.0) * 100))
        self.opacity.blockSignals(False)
        self.opacity_label.setText(f"{self.opacity.value()}%")
        self.buttons["up"].setEnabled(has_layer and index < len(layers) - 1)
        self.buttons["down"].setEnabled(has_layer and index > 0)
        self.buttons["merge"].setEnabled(has_layer and index > 0)
        for key in ("duplicate", "delete"):
            self.buttons[key].setEnabled(has_layer)
        self.buttons["flatten"].setEnabled(len(layers) > 1)
        self.selection_changed.emit()

    def _item_changed(self, item: QListWidgetItem) -> None:
        layer = item.data(_LAYER_ROLE)
        if self._updating or layer is None:
            return
        assert self.document is not None  # a layer is listed only with a document
        visible = item.checkState() == Qt.CheckState.Checked
        if visible != layer.visible:
            ops.set_layer_property(self.document, layer, "visible", visible)
        elif item.text().strip() and item.text() != layer.name:
            ops.set_layer_property(self.document, layer, "name", item.text().strip())

    def _opacity_released(self) -> None:
        layer = self.selected_layer
        if layer is not None:
            assert self.document is not None  # a layer is listed only with a document
            ops.set_layer_property(self.document, layer, "opacity", self.opacity.value() / 100)

    def _button(self, key: str) -> None:
        document, layer = self.document, self.selected_layer
        if document is None:
            return
        if key == "flatten":
            self.select(ops.flatten(document))
            return
        if layer is None:
            return
        index = document.layers.index(layer)
        if key == "up":
            ops.move_layer(document, layer, index + 1)
            self.select(layer)
        elif key == "down":
            ops.move_layer(document, layer, index - 1)
            self.select(layer)
        elif key == "duplicate":
            self.select(ops.duplicate_layer(document, layer))
        elif key == "merge":
            self.select(ops.merge_down(document, layer))
        elif key == "delete":
            ops.delete_layer(document, layer)

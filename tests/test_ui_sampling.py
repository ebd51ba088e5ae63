"""The sampling-area brush in the window: painted as a person does, shown while chosen, used by the next fill."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import on_the_desktop
from PySide6.QtCore import Qt
from test_ui_editor import mask_rectangle, wait_for_layers
from test_ui_main_window import drag

from inpaint_studio.core.sampling import SamplingMark
from inpaint_studio.ui.mask_tools import SAMPLING_OVERLAYS, Tool


@pytest.fixture
def window(window, qtbot):
    return on_the_desktop(window, qtbot)


def test_paint_include_and_exclude_see_them_while_the_tool_is_chosen_and_undo(qtbot, window):
    window.toolbox.widgetForAction(window.tool_actions[Tool.BRUSH]).setFocus()  # a toolbar button has the keys
    qtbot.keyClick(window.focusWidget(), Qt.Key.Key_B, Qt.KeyboardModifier.ShiftModifier)
    assert window.tools.tool == Tool.SAMPLING
    window.tools.set_brush_size(20)
    drag(qtbot, window, [(20, 20), (60, 20)])  # copy from here
    drag(qtbot, window, [(200, 150), (260, 150)], modifiers=Qt.KeyboardModifier.AltModifier)  # never from here
    document = window.document
    include, exclude = document.sampling_mask(SamplingMark.INCLUDE), document.sampling_mask(SamplingMark.EXCLUDE)
    assert include[20, 40] == 255 and exclude[150, 230] == 255
    assert not document.mask.any()  # the mask is untouched
    assert set(SAMPLING_OVERLAYS.values()) <= set(window.canvas._extra)  # shown while the tool is chosen
    assert document.history.undo_label == "Sampling area"

    qtbot.keyClick(window.focusWidget(), Qt.Key.Key_B)  # the mask brush: the overlays go
    assert not set(SAMPLING_OVERLAYS.values()) & set(window.canvas._extra)
    qtbot.keyClick(window.focusWidget(), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not exclude.any() and include[20, 40] == 255

    window.masks.clear_sampling_action.trigger()
    assert not include.any() and document.sampling_area() is None


def test_the_next_patchmatch_fill_copies_only_from_the_painted_area(qtbot, window):
    window.set_engine("patchmatch")
    window.set_tool(Tool.SAMPLING)
    window.tools.set_brush_size(30)
    drag(qtbot, window, [(20, 20), (80, 20), (80, 40)])
    mask_rectangle(qtbot, window, (150, 100, 190, 140))
    window.run_fill()
    wait_for_layers(qtbot, window, 1)
    layer = window.document.layers[0]
    assert layer.provenance.get("sampling_area") == "painted"
    box = layer.patches[0].box
    assert box.x1 >= 150 and box.y1 >= 100  # the fill covers the hole
    original = window.document.original.astype(float)
    filled = window.document.composite[105:135, 155:185].reshape(-1, 3).mean(axis=0)
    painted = original[12:45, 12:90].reshape(-1, 3).mean(axis=0)
    around = original[85:155, 135:205].reshape(-1, 3).mean(axis=0)
    assert np.linalg.norm(filled - painted) < np.linalg.norm(filled - around)  # copied from the painted corner

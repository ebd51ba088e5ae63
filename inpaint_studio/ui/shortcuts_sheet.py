"""Help > Keyboard Shortcuts: every shortcut of the window, read from its menus and actions, never typed twice."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QMainWindow, QMenu, QTreeWidget, QTreeWidgetItem, QVBoxLayout

from inpaint_studio.ui.actions import shortcut_text

# Keys that are not commands of their own: held, or modifying a drag.
HELD_KEYS = [
    ("Space (hold) + drag", "Pan the photo"),
    ("Middle button drag", "Pan the photo"),
    ("Wheel / Ctrl+wheel", "Zoom at the pointer"),
    ("\\ (hold)", "Show the original"),
    ("Alt or Ctrl (hold) while painting", "Remove from the mask"),
    ("Enter", "Remove what is masked (closes a polygon first)"),
    ("Esc", "Cancel the shape being drawn, or the fill"),
]


def shortcut_rows(window: QMainWindow) -> list[tuple[str, list[tuple[str, str]]]]:
    """(section, [(keys, command)]) for every menu, then the tools and other window commands, then held keys."""
    sections: list[tuple[str, list[tuple[str, str]]]] = []
    listed: set[int] = set()
    for menu_action in window.menuBar().actions():
        menu = menu_action.menu()
        if isinstance(menu, QMenu):
            rows = _menu_rows(menu, listed)
            if rows:
                sections.append((_plain(menu.title()), rows))
    others = [
        (shortcut_text(action), _plain(action.toolTip() or action.text()))
        for action in window.actions()
        if id(action) not in listed and shortcut_text(action)
    ]
    if others:
        sections.append(("Tools and brush", others))
    sections.append(("Canvas", HELD_KEYS))
    return sections


def _menu_rows(menu: QMenu, listed: set[int]) -> list[tuple[str, str]]:
    rows = []
    for action in menu.actions():
        sub = action.menu()
        if isinstance(sub, QMenu):
            rows += _menu_rows(sub, listed)
        elif shortcut_text(action):
            listed.add(id(action))
            rows.append((shortcut_text(action), _plain(action.text())))
    return rows


def _plain(text: str) -> str:
    """A menu text without its & accelerator marks."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&")


class ShortcutsDialog(QDialog):
    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.setWindowTitle("Keyboard Shortcuts")
        self.resize(560, 640)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Keys", "Command"])
        self.tree.setRootIsDecorated(False)
        for section, rows in shortcut_rows(window):
            header = QTreeWidgetItem([section])
            font = header.font(0)
            font.setBold(True)
            header.setFont(0, font)
            self.tree.addTopLevelItem(header)
            header.setFirstColumnSpanned(True)
            for keys, command in rows:
                self.tree.addTopLevelItem(QTreeWidgetItem([keys, command]))
        self.tree.resizeColumnToContents(0)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tree)
        layout.addWidget(buttons)



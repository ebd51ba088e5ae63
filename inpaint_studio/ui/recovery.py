"""The question asked at start-up when the app did not close properly: recover the autosaved work?"""

from __future__ import annotations

import time
from typing import Literal

from PySide6.QtWidgets import QMessageBox, QWidget

from inpaint_studio.io.autosave import RecoverableSession

Answer = Literal["recover", "discard", "later"]


def ask(parent: QWidget, session: RecoverableSession) -> Answer:
    """'recover', 'discard' or 'later' (asked again at the next start)."""
    when = time.strftime("%H:%M on %d %b", time.localtime(session.saved_at))
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Recover unsaved work")
    box.setText(f"Inpaint Studio did not close properly while you were editing '{session.source_name}'.")
    box.setInformativeText(f"Recover the work autosaved at {when}?")
    recover = box.addButton("Recover", QMessageBox.ButtonRole.AcceptRole)
    discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton("Not now", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(recover)
    box.exec()
    clicked = box.clickedButton()
    return "recover" if clicked is recover else "discard" if clicked is discard else "later"

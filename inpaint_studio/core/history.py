"""One document-wide undo history, bounded by memory rather than by a step count.

A command knows how to undo and redo itself on a document and how many bytes
it holds; commands store only the region they changed, so a brush stroke on a
24-megapixel photo costs kilobytes, not a snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

DEFAULT_BUDGET_BYTES = 1 << 30  # 1 GiB


class Command(Protocol):
    label: str

    @property
    def nbytes(self) -> int: ...

    def undo(self, document: Any) -> None: ...

    def redo(self, document: Any) -> None: ...


class History:
    """Undo and redo stacks of commands; the oldest steps go first when over budget."""

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self.budget_bytes = budget_bytes
        self._done: list[Command] = []
        self._undone: list[Command] = []
        self.dropped = 0  # steps forgotten to stay within the budget
        self.listeners: list[Callable[[], None]] = []

    def push(self, command: Command) -> None:
        """Record a command that has already been applied."""
        self._done.append(command)
        self._undone.clear()
        self._enforce_budget()
        self._notify()

    def undo(self, document: Any) -> Command | None:
        if not self._done:
            return None
        command = self._done.pop()
        command.undo(document)
        self._undone.append(command)
        self._notify()
        return command

    def redo(self, document: Any) -> Command | None:
        if not self._undone:
            return None
        command = self._undone.pop()
        command.redo(document)
        self._done.append(command)
        self._notify()
        return command

    @property
    def can_undo(self) -> bool:
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    @property
    def undo_label(self) -> str | None:
        return self._done[-1].label if self._done else None

    @property
    def redo_label(self) -> str | None:
        return self._undone[-1].label if self._undone else None

    @property
    def steps(self) -> list[str]:
        """Labels of every step, oldest first: the done ones, then the undone ones."""
        return [c.label for c in self._done] + [c.label for c in reversed(self._undone)]

    @property
    def position(self) -> int:
        """How many of `steps` are currently applied."""
        return len(self._done)

    def jump(self, document: Any, position: int) -> None:
        """Undo or redo until exactly `position` steps are applied."""
        position = min(max(position, 0), len(self._done) + len(self._undone))
        while len(self._done) > position:
            self.undo(document)
        while len(self._done) < position:
            self.redo(document)

    @property
    def nbytes(self) -> int:
        return sum(c.nbytes for c in self._done) + sum(c.nbytes for c in self._undone)

    def clear(self) -> None:
        self._done.clear()
        self._undone.clear()
        self.dropped = 0
        self._notify()

    def _enforce_budget(self) -> None:
        # Called after push, when nothing is left to redo: drop the oldest steps, never the newest.
        total = self.nbytes
        while total > self.budget_bytes and len(self._done) > 1:
            total -= self._done.pop(0).nbytes
            self.dropped += 1

    def _notify(self) -> None:
        for listener in list(self.listeners):
            listener()

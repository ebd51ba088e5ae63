"""User settings remembered between runs, as JSON in the user config folder.

A missing, unreadable or damaged file gives the defaults (never a crash), and
unknown or mistyped values are ignored one by one, so an old or hand-edited
file still loads. Saving is atomic. Listeners hear every change of a value,
so a front end can save the settings when they change, not only on a clean quit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from inpaint_studio.core import paths
from inpaint_studio.engines.registry import DEFAULT_ENGINE
from inpaint_studio.io.atomic import atomic_write

MAX_RECENT_FILES = 10
MIN_HISTORY_BUDGET_MB = 64


@dataclass
class Settings:
    engine: str = DEFAULT_ENGINE
    device: str = "auto"
    auto_run: bool = True
    brush_share: float = 0.03  # brush diameter as a share of the photo's longer side: the brush follows the photo
    brush_hardness: float = 0.8
    overlay_opacity: float = 0.5
    overlay_color: str = "#ff008c"  # the mask's colour on the canvas
    mask_grow_px: int = 4  # the amounts Select > Modify last used
    mask_shrink_px: int = 4
    mask_feather_px: int = 4
    wand_tolerance: int = 32  # the magic wand's, in levels
    wand_contiguous: bool = True
    object_select_method: str = "grabcut"  # the object selection tool's: "grabcut", or "sam" (Segment Anything)
    clone_aligned: bool = True  # the clone stamp's and healing brush's source keeps its distance
    theme: str = "system"  # "system" (follow the desktop's light or dark scheme), "light" or "dark"
    window_state: str = ""  # toolbars and docks as the user left them (Qt's saveState, base64)
    window_geometry: str = ""
    jpeg_quality: int = 0  # 0 = keep the photo's own quality
    recent_files: list[str] = field(default_factory=list)
    last_folder: str = ""
    history_budget_mb: int = 1024  # undo memory; the oldest steps are dropped beyond it
    autosave_minutes: int = 2  # 0 = never autosave on a timer
    models_dir: str = ""  # "" = the default folder in the user data dir
    model_mirror: str = ""  # base URL replacing the catalogue's hosts; "" = none
    engine_params: dict[str, dict[str, Any]] = field(default_factory=dict)  # engine id -> the parameters changed from defaults

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call `listener` after any value changes (not a saved field itself)."""
        self.__dict__.setdefault("_listeners", []).append(listener)

    def __setattr__(self, name: str, value: Any) -> None:
        changed = name in _FIELD_NAMES and self.__dict__.get(name, _UNSET) != value
        super().__setattr__(name, value)
        if changed:
            for listener in list(self.__dict__.get("_listeners", ())):
                listener()

    @property
    def history_budget_bytes(self) -> int:
        return max(self.history_budget_mb, MIN_HISTORY_BUDGET_MB) << 20

    def add_recent(self, path: Path) -> None:
        entry = str(Path(path).resolve())
        self.recent_files = [entry] + [p for p in self.recent_files if p != entry][: MAX_RECENT_FILES - 1]

    @classmethod
    def load(cls, path: Path | None = None) -> Settings:
        path = path or paths.settings_file()
        settings = cls()
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return settings
        if not isinstance(stored, dict):
            return settings
        for spec in fields(cls):
            value: Any = stored.get(spec.name)
            default = getattr(settings, spec.name)
            if value is None or type(value) is not type(default):
                if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
                    value = float(value)
                else:
                    continue
            if isinstance(value, list):
                value = [item for item in value if isinstance(item, str)]
            choices = _CHOICES.get(spec.name)
            if choices is not None and value not in choices:
                continue  # a value this version does not know
            setattr(settings, spec.name, value)
        return settings

    def save(self, path: Path | None = None) -> None:
        """Write the settings; raises OSError if the folder cannot be written."""
        path = path or paths.settings_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps(asdict(self), indent=2).encode("utf-8")
        atomic_write(path, lambda file: file.write(data))


_UNSET = object()
_CHOICES: dict[str, tuple[Any, ...]] = {"object_select_method": ("grabcut", "sam")}  # fields with a fixed set of values
_FIELD_NAMES = frozenset(spec.name for spec in fields(Settings))

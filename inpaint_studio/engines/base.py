"""The contract every inpainting engine fulfils.

An engine declares what it is (`EngineInfo`) and which parameters it takes
(`Param`), and implements one pure method, `inpaint`. Everything around it —
finding the mask regions, cropping with context, resizing to a working size,
padding, pasting back with a feathered seam — lives once in `pipeline.py`.

What a call needs besides pixels and parameters (progress, cancel, a preview
hook) comes in one `EngineContext`, and what the engine has to tell about the
run (a notice, the device that really did the work) goes back through it:
nothing is set on the engine from outside.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

import numpy as np

from inpaint_studio.core.devices import Device
from inpaint_studio.core.errors import EngineError
from inpaint_studio.core.jobs import CancelToken, ProgressFn, no_progress
from inpaint_studio.models.store import ModelFiles

# preview(rgb): the fill as it emerges, uint8 (H, W, 3) at the engine's working size.
PreviewFn = Callable[[np.ndarray], None]


class EngineKind(StrEnum):
    CLASSICAL = "classical"  # no weights; milliseconds to seconds
    LEARNED = "learned"  # a network with model files to download
    TEST = "test"  # for tests only


@dataclass
class RunReport:
    """What the engine told about one job besides its pixels (shared by the contexts of all its crops)."""

    notices: list[str] = field(default_factory=list)  # for the user, e.g. "finished on the CPU"
    device: Device | None = None  # where the work really ran (after a GPU fallback: the CPU)
    precision: str | None = None  # the arithmetic the network ran in ("bfloat16" ...), for engines that choose it


@dataclass(frozen=True)
class EngineContext:
    """Everything one `inpaint` call gets besides pixels and parameters, and the way back for what it tells."""

    progress: ProgressFn = no_progress  # fractions of this call, 0..1
    cancel: CancelToken = field(default_factory=CancelToken)
    preview: PreviewFn | None = None  # slow engines show their work in progress through it
    report: RunReport = field(default_factory=RunReport)
    # Engines that copy from the photo (`EngineInfo.copies_from_photo`): bool (H, W) of the working image,
    # True where they may copy from (the user's sampling area); None: anywhere outside the hole.
    sources: np.ndarray | None = None

    def raise_if_cancelled(self) -> None:
        self.cancel.raise_if_cancelled()

    def tell(self, notice: str) -> None:
        """Something the user should know about the result (said once per job)."""
        if notice not in self.report.notices:
            self.report.notices.append(notice)

    def ran_on(self, device: str) -> None:
        self.report.device = Device(device)

    def ran_in(self, precision: str) -> None:
        self.report.precision = precision


@dataclass(frozen=True)
class Param:
    """One user-settable engine parameter: an int, float, bool or choice of strings."""

    name: str
    label: str
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    help: str = ""
    # What the minimum means when it is a special value, e.g. "Auto" for steps = 0.
    minimum_label: str = ""

    def coerce(self, value: Any) -> Any:
        """Return `value` converted to this parameter's type, or raise EngineError."""
        kind = type(self.default)
        try:
            if kind is bool:
                if isinstance(value, str):
                    if value.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                        raise ValueError(value)
                    value = value.lower() in ("1", "true", "yes", "on")
                return bool(value)
            if kind is int:
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError(value)
                value = int(value)
            elif kind is float:
                value = float(value)
            else:
                value = str(value)
        except (TypeError, ValueError):
            raise EngineError(f"Parameter '{self.name}' must be a {kind.__name__}, got {value!r}.") from None
        if self.choices and value not in self.choices:
            raise EngineError(f"Parameter '{self.name}' must be one of {', '.join(self.choices)}; got {value!r}.")
        if self.minimum is not None and value < self.minimum:
            raise EngineError(f"Parameter '{self.name}' must be at least {self.minimum}; got {value}.")
        if self.maximum is not None and value > self.maximum:
            raise EngineError(f"Parameter '{self.name}' must be at most {self.maximum}; got {value}.")
        return value


@dataclass(frozen=True)
class EngineInfo:
    """What an engine is and how the shared pipeline should feed it."""

    id: str
    name: str
    description: str
    kind: EngineKind
    devices: tuple[Device, ...] = (Device.CPU,)
    # Longest side the engine works at. Larger crops are scaled down to it; with
    # `fixed_size` every crop is scaled (up or down) and padded to exactly this square.
    working_size: int | None = None
    fixed_size: bool = False
    pad_multiple: int = 1
    # Surrounding photo handed to the engine around each mask region:
    # max(context_margin, context_ratio * longest side of the region) pixels.
    context_margin: int = 16
    context_ratio: float = 0.25
    square_crop: bool = False
    # Fast enough to run on every stroke release (well under a second on a typical object).
    interactive: bool = True
    params: tuple[Param, ...] = field(default_factory=tuple)
    # Ids of the model files (in the model store) the engine needs before it can run.
    models: tuple[str, ...] = ()
    # It copies texture from elsewhere in the photo, so the user's sampling area applies (EngineContext.sources).
    copies_from_photo: bool = False


class Engine(ABC):
    """Base class of all engines. Subclasses set `info` and implement `inpaint`."""

    info: ClassVar[EngineInfo]

    def __init__(self, device: str = Device.CPU, model_store: ModelFiles | None = None) -> None:
        if device not in self.info.devices:
            raise EngineError(f"{self.info.name} cannot run on '{device}'.")
        self.device = Device(device)
        # Where the engine's model files live (inpaint_studio.models); engines
        # without `info.models` ignore it.
        self.model_store = model_store

    @classmethod
    def required_models(cls, params: Mapping[str, Any] | None = None) -> tuple[str, ...]:
        """The model ids a run with `params` needs (some engines choose a model by parameter)."""
        return cls.info.models

    def missing_models(self, params: Mapping[str, Any] | None = None) -> list[str]:
        store = self.model_store
        return [m for m in self.required_models(params) if store is None or not store.is_installed(m)]

    def readiness(self, params: Mapping[str, Any] | None = None) -> str | None:
        """None when the engine can run now with `params`, else a sentence saying what is missing."""
        missing = self.missing_models(params)
        if not missing:
            return None
        names = ", ".join(f"'{m}'" for m in missing)
        plural = "s" if len(missing) > 1 else ""
        return f"{self.info.name} needs the model{plural} {names}, which {'are' if plural else 'is'} not installed."

    @classmethod
    def resolve_params(cls, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Defaults overlaid with `params`, each validated; unknown names are refused.

        A class method: it needs only `info`, so callers need no engine instance.
        """
        known = {p.name: p for p in cls.info.params}
        resolved = {name: p.default for name, p in known.items()}
        for name, value in (params or {}).items():
            if name not in known:
                valid = ", ".join(known) or "none"
                raise EngineError(f"{cls.info.name} has no parameter '{name}' (valid: {valid}).")
            resolved[name] = known[name].coerce(value)
        return resolved

    @classmethod
    def accepted_params(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        """Like `resolve_params`, but values the engine refuses (or does not know) fall back to the defaults.

        For stored choices that may predate a change of the engine, such as settings.
        """
        known = {p.name: p for p in cls.info.params}
        resolved = {name: p.default for name, p in known.items()}
        for name, value in params.items():
            if name in known:
                try:
                    resolved[name] = known[name].coerce(value)
                except EngineError:
                    pass
        return resolved

    @abstractmethod
    def inpaint(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        params: Mapping[str, Any],
        context: EngineContext,
    ) -> np.ndarray:
        """Fill the masked pixels of `image`.

        image: uint8 (H, W, 3) RGB, C-contiguous. mask: uint8 (H, W), 255 = fill,
        0 = keep, never empty. params: already resolved. Returns a new uint8
        (H, W, 3) RGB image; pixels outside the mask are replaced by the input's
        during paste-back, so they may be anything. Calls `context.progress`
        with fractions of this call and `context.raise_if_cancelled()` between
        steps; an engine that runs elsewhere than asked says so with `context.ran_on`.
        """

    def paste_alpha(self, work_mask: np.ndarray) -> np.ndarray | None:
        """uint8 weights (working size) for pasting this engine's result, or None for the pipeline's feather.

        work_mask is the binary working-size mask (255 = fill) the engine was given.
        """
        return None

    def unload(self) -> None:  # noqa: B027 - a deliberate no-op default: classical engines hold nothing to free
        """Free memory held by the engine (models, caches). Classical engines hold none."""

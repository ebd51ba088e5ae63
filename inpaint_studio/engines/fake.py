"""A deterministic engine for tests: fills with a colour, reports progress, can fail or wait.

It is a real engine as far as the pipeline and worker can tell, so tests of
those exercise the same code paths users do, without weights or long runs.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from inpaint_studio.core.errors import EngineError
from inpaint_studio.engines.base import (
    Engine,
    EngineContext,
    EngineInfo,
    EngineKind,
    Param,
)


class FakeEngine(Engine):
    info = EngineInfo(
        id="fake",
        name="Fake (tests)",
        description="Fills the mask with one colour. For tests only.",
        kind=EngineKind.TEST,
        context_margin=8,
        context_ratio=0.0,
        params=(
            Param("color", "Fill colour", "255,0,255", help="R,G,B written into the mask."),
            Param("steps", "Steps", 4, minimum=1, maximum=10_000),
            Param("step_seconds", "Seconds per step", 0.0, minimum=0.0),
            Param("fail", "Fail on purpose", False),
        ),
    )

    def __init__(self, device: str = "cpu") -> None:
        super().__init__(device)
        self.calls: list[tuple[int, int]] = []  # (height, width) of every crop received

    def inpaint(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        params: Mapping[str, Any],
        context: EngineContext,
    ) -> np.ndarray:
        self.calls.append(mask.shape)
        steps = params["steps"]
        for step in range(steps):
            context.raise_if_cancelled()
            if params["step_seconds"]:
                time.sleep(params["step_seconds"])
            context.progress(step / steps)
        if params["fail"]:
            raise EngineError("The fake engine failed on purpose.")
        color = np.array([int(c) for c in params["color"].split(",")], dtype=np.uint8)
        out = image.copy()
        out[mask > 127] = color
        context.progress(1.0)
        return out

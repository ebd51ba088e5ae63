"""OpenCV's classical diffusion fills: Telea (fast marching) and Navier-Stokes.

No weights, milliseconds per region. They smear colour inward from the mask's
edge, which suits thin scratches and small spots better than large objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

from inpaint_studio.engines.base import (
    Engine,
    EngineContext,
    EngineInfo,
    EngineKind,
    Param,
)

_RADIUS = Param("radius", "Radius", 5, minimum=1, maximum=50, help="Neighbourhood (px) each filled pixel draws from.")


class _OpenCVEngine(Engine):
    flag: int

    def inpaint(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        params: Mapping[str, Any],
        context: EngineContext,
    ) -> np.ndarray:
        context.raise_if_cancelled()
        context.progress(0.0)
        # OpenCV works in BGR; the conversion is a channel swap both ways.
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        filled = cv2.inpaint(bgr, mask, float(params["radius"]), self.flag)
        context.progress(1.0)
        return cv2.cvtColor(filled, cv2.COLOR_BGR2RGB)


class TeleaEngine(_OpenCVEngine):
    flag = cv2.INPAINT_TELEA
    info = EngineInfo(
        id="telea",
        name="OpenCV Telea",
        description="Fast-marching diffusion (Telea 2004). Instant; best for scratches and small spots.",
        kind=EngineKind.CLASSICAL,
        params=(_RADIUS,),
    )


class NavierStokesEngine(_OpenCVEngine):
    flag = cv2.INPAINT_NS
    info = EngineInfo(
        id="ns",
        name="OpenCV Navier-Stokes",
        description="Fluid-dynamics diffusion (Bertalmio 2001). Instant; best for scratches and small spots.",
        kind=EngineKind.CLASSICAL,
        params=(_RADIUS,),
    )

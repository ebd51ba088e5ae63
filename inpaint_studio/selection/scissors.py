"""The magnetic lasso: between the clicked anchors the outline follows the strongest edges.

OpenCV's intelligent scissors (live wire) on a window of the photo around the
last anchor: preparing an anchor's map of shortest paths costs a tenth of a
second or so (the caller prepares it off the GUI thread), after which the
path to any pointer position inside the window is immediate. Outside the
window the path runs straight to the pointer.
"""

from __future__ import annotations

import cv2
import numpy as np

from inpaint_studio.core.boxes import Box

REACH = 384  # image pixels around an anchor that its paths can follow
CANNY = (32, 100)  # edge thresholds of the edge feature
GRADIENT_LIMIT = 200

Point = tuple[float, float]


class AnchorPaths:
    """Every edge-following path from one anchor, within REACH of it."""

    def __init__(self, image: np.ndarray, anchor: Point) -> None:
        height, width = image.shape[:2]
        ax, ay = int(round(anchor[0])), int(round(anchor[1]))
        self.anchor = (float(ax), float(ay))
        self.window = Box(max(ax - REACH, 0), max(ay - REACH, 0), min(ax + REACH + 1, width), min(ay + REACH + 1, height))
        tool = cv2.segmentation.IntelligentScissorsMB()
        tool.setEdgeFeatureCannyParameters(*CANNY)
        tool.setGradientMagnitudeMaxLimit(GRADIENT_LIMIT)
        tool.applyImage(np.ascontiguousarray(cv2.cvtColor(image[self.window.slices], cv2.COLOR_RGB2BGR)))
        tool.buildMap((ax - self.window.x0, ay - self.window.y0))
        self._tool = tool

    def path_to(self, target: Point) -> list[Point]:
        """The points from the anchor to `target` (image coordinates); straight where `target` is out of reach."""
        x, y = int(round(target[0])), int(round(target[1]))
        w = self.window
        if not (w.x0 <= x < w.x1 and w.y0 <= y < w.y1):
            return [self.anchor, (float(target[0]), float(target[1]))]
        contour = self._tool.getContour((x - w.x0, y - w.y0))
        points = [(float(px + w.x0), float(py + w.y0)) for px, py in np.asarray(contour).reshape(-1, 2).tolist()]
        if points and points[0] != self.anchor:
            points.reverse()  # from the anchor onwards
        return points or [self.anchor, (float(x), float(y))]

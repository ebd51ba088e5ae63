"""Find scratches, hairs and dust in a photo: a mask (255 = damage) to inpaint.

Two detectors give each pixel a damage evidence:

- `learned` (the default): a small U-Net trained on synthetic damage
  (`damage_net.py`); its evidence is the odds that damage changed the pixel.
  It marks the damage's own pixels, so the fill is not grown.
- `classical`: morphological line and spot filters (`classical.py`), no
  weights; evidence in units of local texture. It finds the body of a scratch,
  so the fill is grown by 2 px to take its faint rim too.

`DamageMap` keeps the evidence, so a new sensitivity only re-thresholds it
(hysteresis: evidence above the threshold seeds a region, weaker evidence
grows it): a slider preview costs milliseconds, and a higher sensitivity
always gives a superset of the mask of a lower one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from inpaint_studio.core.errors import InpaintStudioError
from inpaint_studio.core.jobs import CancelToken, ProgressFn, no_progress

# One sensitivity scale for both detectors. At 0.4: the classical filters' best mean F1 on the
# evaluation photos; for the learned detector, the best PSNR after filling among thresholds that
# flag at most 0.6 % of a clean photo, chosen on its validation photos (benchmarks/README.md).
DEFAULT_SENSITIVITY = 0.4


@dataclass(frozen=True)
class Detector:
    """How one detector's evidence becomes a mask."""

    name: str
    label: str  # shown in the GUI
    strict: float  # evidence that seeds a region at sensitivity 0
    loose: float  # ... at sensitivity 1 (interpolated geometrically in between)
    grow_share: float  # regions grow into evidence above this share of the seed threshold
    fill_grow: int  # px added around the mask before it is filled (see fill_mask)

    def threshold(self, sensitivity: float) -> float:
        if not 0.0 <= sensitivity <= 1.0:
            raise InpaintStudioError(f"Sensitivity must be between 0 and 1; got {sensitivity:g}.")
        return self.strict * (self.loose / self.strict) ** sensitivity


DETECTORS = {
    detector.name: detector
    for detector in (
        # Odds p / (1 - p): e^2.25 (p 0.90) .. e^-7.75 (p 0.0004); 0.4 seeds at e^-1.75 (p 0.15).
        Detector("learned", "Learned (U-Net)", math.exp(2.25), math.exp(-7.75), grow_share=0.5, fill_grow=0),
        Detector("classical", "Classical filters", 24.0, 3.0, grow_share=0.5, fill_grow=2),
    )
}
DEFAULT_DETECTOR = "learned"


def detector_named(name: str) -> Detector:
    try:
        return DETECTORS[name]
    except KeyError:
        raise InpaintStudioError(f"Unknown damage detector '{name}'; choose one of: {', '.join(DETECTORS)}.") from None


def threshold_for(sensitivity: float, detector: str = DEFAULT_DETECTOR) -> float:
    """Evidence needed to seed a damage region at `sensitivity` (0 = strict .. 1 = loose)."""
    return detector_named(detector).threshold(sensitivity)


class DamageMap:
    """Per-pixel damage evidence of one photo; `mask(sensitivity)` thresholds it."""

    def __init__(self, evidence: np.ndarray, detector: str = DEFAULT_DETECTOR) -> None:
        self.evidence = evidence  # float32 (H, W)
        self.detector = detector_named(detector)

    @property
    def shape(self) -> tuple[int, int]:
        return self.evidence.shape

    def mask(self, sensitivity: float = DEFAULT_SENSITIVITY) -> np.ndarray:
        """uint8 (H, W), 255 = damage: regions above the threshold, grown into weaker evidence."""
        threshold = self.detector.threshold(sensitivity)
        weak = (self.evidence >= self.detector.grow_share * threshold).astype(np.uint8)
        count, labels = cv2.connectedComponents(weak, connectivity=8)
        seeded = np.zeros(count, bool)
        seeded[labels[self.evidence >= threshold]] = True
        seeded[0] = False
        return np.where(seeded[labels], np.uint8(255), np.uint8(0))

    def fill_mask(self, sensitivity: float = DEFAULT_SENSITIVITY) -> np.ndarray:
        """What to inpaint at `sensitivity`: the mask, grown as this detector needs."""
        return fill_mask(self.mask(sensitivity), self.detector.fill_grow)


def damage_map(
    image: np.ndarray, detector: str = DEFAULT_DETECTOR, progress: ProgressFn = no_progress, cancel: CancelToken | None = None
) -> DamageMap:
    """The damage evidence of `image` (uint8 RGB), bright and dark damage together.

    `progress` hears the share done (the learned detector tile by tile; the classical filters, which
    take a fraction of the time, at the start and end); `cancel` stops the learned detector between tiles.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise InpaintStudioError(f"Damage detection needs an 8-bit RGB image; got {got}.")
    detector_named(detector)
    if detector == "classical":
        from inpaint_studio.restore.classical import classical_evidence

        progress(0.0)
        evidence = classical_evidence(image)
        progress(1.0)
        return DamageMap(evidence, detector)
    from inpaint_studio.restore.damage_net import damage_logits

    # Odds, so that thresholds interpolate geometrically like the classical evidence;
    # clipped so that float32 cannot overflow.
    logits = damage_logits(image, progress=progress, cancel=cancel)
    return DamageMap(np.exp(np.clip(logits, -30.0, 30.0)), detector)


def detect_damage(
    image: np.ndarray, sensitivity: float = DEFAULT_SENSITIVITY, detector: str = DEFAULT_DETECTOR
) -> np.ndarray:
    """Mask of scratches, hairs and dust in `image`: uint8 (H, W), 255 = damage."""
    threshold_for(sensitivity, detector)  # a bad value fails before the work
    return damage_map(image, detector).mask(sensitivity)


def fill_mask(mask: np.ndarray, grow: int) -> np.ndarray:
    """`mask` grown by `grow` px: what to inpaint.

    The classical detector marks the body of a scratch; its faint anti-aliased
    rim, left in place, would show as a halo around the fill.
    """
    if grow <= 0:
        return mask
    return cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))

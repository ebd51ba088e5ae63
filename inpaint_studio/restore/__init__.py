"""Photo restoration: find scratches, hairs and dust, then fill them with an engine.

Qt-free. `detect` finds damage, `degrade` draws known damage for tests and
benchmarks, `metrics` scores one against the other, `job` restores a file.
"""

from inpaint_studio.restore.degrade import Degraded, degrade
from inpaint_studio.restore.detect import (
    DEFAULT_SENSITIVITY,
    DamageMap,
    damage_map,
    detect_damage,
)
from inpaint_studio.restore.metrics import DetectionScore, score_detection

__all__ = [
    "DEFAULT_SENSITIVITY",
    "DamageMap",
    "Degraded",
    "DetectionScore",
    "damage_map",
    "degrade",
    "detect_damage",
    "score_detection",
]

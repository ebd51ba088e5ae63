"""Model weights: the catalogue of known files, the folder they are installed in, safe loading.

Qt-free and torch-free at import time: torch is imported only by the loaders
in `safe_load`, when a model is actually loaded.
"""

from inpaint_studio.models.catalogue import CATALOGUE, ModelFile, ModelInfo, model_info
from inpaint_studio.models.safe_load import load_state_dict, load_torchscript
from inpaint_studio.models.store import DEFAULT_MIRROR_ENV, ModelStatus, ModelStore, Verification
from inpaint_studio.models.trust import CA_BUNDLE_ENV

__all__ = [
    "CATALOGUE",
    "CA_BUNDLE_ENV",
    "DEFAULT_MIRROR_ENV",
    "ModelFile",
    "ModelInfo",
    "ModelStatus",
    "ModelStore",
    "Verification",
    "load_state_dict",
    "load_torchscript",
    "model_info",
]

"""Inpainting engines: the interface, the registry, the shared pipeline, and the engines."""

from inpaint_studio.core.jobs import CancelToken
from inpaint_studio.engines.base import Engine, EngineInfo, Param
from inpaint_studio.engines.pipeline import inpaint_image, inpaint_patches
from inpaint_studio.engines.registry import (
    DEFAULT_ENGINE,
    create_engine,
    engine_class,
    engine_ids,
    register_engine,
)

__all__ = [
    "CancelToken",
    "Engine",
    "EngineInfo",
    "Param",
    "inpaint_image",
    "inpaint_patches",
    "DEFAULT_ENGINE",
    "create_engine",
    "engine_class",
    "engine_ids",
    "register_engine",
]

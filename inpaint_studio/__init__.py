"""Inpaint Studio: remove objects and repair damaged photos with local inpainting engines."""

__version__ = "0.1.0"
APP_NAME = "Inpaint Studio"
LICENCE = "Apache-2.0"

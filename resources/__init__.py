"""Bundled resources (sample photo and mask, icons), shipped as `inpaint_studio.resources`."""

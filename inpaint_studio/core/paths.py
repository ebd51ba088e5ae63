"""Every folder the app keeps files in for the user, in one place.

The four base folders come from platformdirs (per-user, per-OS); everything
else is a named folder below one of them. Tests point the base folders
elsewhere by replacing these functions, and every derived path follows.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_DIR_NAME = "inpaint-studio"
LOG_DIR_ENV = "INPAINT_STUDIO_LOG_DIR"  # the log folder, for tests and for users who want it elsewhere


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP_DIR_NAME, appauthor=False))


def data_dir() -> Path:
    """The user data folder: models and autosaves live below it."""
    return Path(platformdirs.user_data_dir(APP_DIR_NAME, appauthor=False))


def cache_dir() -> Path:
    """Files that can be rebuilt: thumbnails, numba's compiled kernels."""
    return Path(platformdirs.user_cache_dir(APP_DIR_NAME, appauthor=False))


def log_dir() -> Path:
    """Where the log file lives (it may not exist yet)."""
    override = os.environ.get(LOG_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_log_dir(APP_DIR_NAME, appauthor=False))


def settings_file() -> Path:
    return config_dir() / "settings.json"


def models_dir() -> Path:
    """Where models go unless the user chose a folder."""
    return data_dir() / "models"


def autosave_dir() -> Path:
    return data_dir() / "autosave"


def thumbnails_dir() -> Path:
    return cache_dir() / "thumbnails"


def numba_cache_dir() -> Path:
    return cache_dir() / "numba"

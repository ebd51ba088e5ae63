"""`inpaint-studio --warm-up`: the default engine's kernels compiled into numba's cache ahead of the first fill."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from conftest import REPO


@pytest.mark.slow
def test_warm_up_compiles_into_the_cache_once_and_then_only_loads(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}

    def warm_up() -> tuple[int, int]:
        done = subprocess.run(
            [sys.executable, "-m", "inpaint_studio", "--warm-up"], env=env, cwd=REPO, capture_output=True, text=True,
            timeout=300, check=True,
        )
        match = re.search(r"PatchMatch is ready in [\d.]+ s: (\d+) kernel\(s\) compiled and cached, (\d+) loaded", done.stdout)
        assert match, done.stdout
        assert str(tmp_path / "numba") in done.stdout  # says where the cache is
        return int(match.group(1)), int(match.group(2))

    compiled, loaded = warm_up()
    assert compiled >= 8 and loaded == 0  # an empty cache: every kernel compiled (and written)
    assert warm_up() == (0, compiled)  # a new process finds them all

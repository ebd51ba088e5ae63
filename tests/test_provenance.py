"""Fill provenance: enough to know, and redo, how a layer was made."""

from __future__ import annotations

import numpy as np

from inpaint_studio.engines.patchmatch import PatchMatchEngine
from inpaint_studio.worker import FillRequest
from inpaint_studio.worker.provenance import fill_provenance


def test_provenance_holds_engine_device_every_parameter_and_the_seed():
    image = np.zeros((8, 8, 3), np.uint8)
    mask = np.zeros((8, 8), np.uint8)
    request = FillRequest.snapshot(image, mask, "patchmatch", device="cpu", params={"seed": 42})
    provenance = fill_provenance(PatchMatchEngine, request)
    assert provenance["engine"] == "patchmatch" and provenance["device"] == "cpu"
    assert provenance["seed"] == 42
    # Defaults are written out too, so a later change of defaults cannot change what it means.
    assert set(provenance["params"]) == {p.name for p in PatchMatchEngine.info.params}


def test_the_default_seed_is_recorded_when_the_user_never_set_one():
    request = FillRequest.snapshot(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.uint8), "patchmatch")
    assert fill_provenance(PatchMatchEngine, request)["seed"] == 0


def test_the_device_that_really_ran_is_recorded():
    request = FillRequest.snapshot(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.uint8), "patchmatch", device="cuda")
    assert fill_provenance(PatchMatchEngine, request, "cpu")["device"] == "cpu"

"""Fill provenance: enough to know, and redo, how a layer was made."""

from __future__ import annotations

from inpaint_studio.core.devices import Device
from inpaint_studio.engines.patchmatch import PatchMatchEngine
from inpaint_studio.worker.provenance import fill_provenance, provenance_summary


def test_provenance_holds_engine_device_every_parameter_and_the_seed():
    provenance = fill_provenance(PatchMatchEngine, {"seed": 42}, "cpu")
    assert provenance["engine"] == "patchmatch" and provenance["device"] == "cpu"
    assert provenance["seed"] == 42
    # Defaults are written out too, so a later change of defaults cannot change what it means.
    assert set(provenance["params"]) == {p.name for p in PatchMatchEngine.info.params}


def test_the_default_seed_is_recorded_when_the_user_never_set_one():
    assert fill_provenance(PatchMatchEngine, {}, "cpu")["seed"] == 0


def test_the_device_that_really_ran_is_recorded():
    # asked for CUDA, fell back to the CPU: the worker passes what ran (tests/test_learned_engines.py)
    assert fill_provenance(PatchMatchEngine, {}, Device.CPU) == fill_provenance(PatchMatchEngine, {}, "cpu")
    assert fill_provenance(PatchMatchEngine, {}, Device.CPU)["device"] == "cpu"


def test_the_summary_says_engine_seed_device_and_precision_in_one_line():
    assert provenance_summary(fill_provenance(PatchMatchEngine, {"seed": 7}, "cpu")) == "patchmatch, seed 7, on cpu"
    moebius_like = {"engine": "moebius", "device": "cpu", "seed": 3, "precision": "bfloat16", "params": {}}
    assert provenance_summary(moebius_like) == "moebius, seed 3, on cpu in bfloat16"
    assert provenance_summary({"tool": "retouch"}) == ""  # a hand-made layer: nothing to say

"""Loading model files never runs code hidden in them."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

# torch 2.13 deprecates TorchScript (the format big-lama and MI-GAN ship in) and
# warns about pickle protocols its weights-only reader was not written for.
pytestmark = [
    pytest.mark.filterwarnings("ignore:`torch.jit.:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning"),
]

from inpaint_studio.core.errors import ModelError  # noqa: E402
from inpaint_studio.models import load_state_dict, load_torchscript  # noqa: E402


class Payload:
    """Unpickling this creates the marker file: stands in for any code an attacker would run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("save", ["torch.save", "pickle.dump"])
def test_a_pickle_with_a_payload_is_refused_and_the_payload_does_not_run(tmp_path, save):
    marker = tmp_path / "payload-ran"
    path = tmp_path / "model.bin"
    state = {"weight": torch.zeros(2, 2), "trap": Payload(marker)}
    if save == "torch.save":
        torch.save(state, path)
    else:
        with open(path, "wb") as file:
            pickle.dump(state, file)

    with pytest.raises(ModelError, match=f"Refused to load the model file {path}"):
        load_state_dict(path)
    assert not marker.exists()

    # The trap is real: full unpickling would have run it.
    if save == "torch.save":
        torch.load(path, weights_only=False)
    else:
        with open(path, "rb") as file:
            pickle.load(file)
    assert marker.exists()


def test_a_plain_state_dict_loads_on_the_cpu(tmp_path):
    path = tmp_path / "diffusion_pytorch_model.bin"
    torch.save({"conv.weight": torch.arange(6.0).reshape(2, 3), "conv.bias": torch.ones(2)}, path)
    state = load_state_dict(path)
    assert set(state) == {"conv.weight", "conv.bias"}
    assert torch.equal(state["conv.weight"], torch.arange(6.0).reshape(2, 3))
    assert state["conv.bias"].device.type == "cpu"


def test_a_safetensors_file_loads(tmp_path):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    path = tmp_path / "model.safetensors"
    safetensors_torch.save_file({"a": torch.full((3,), 2.5), "b": torch.zeros(1, 2)}, str(path))
    state = load_state_dict(path)
    assert torch.equal(state["a"], torch.full((3,), 2.5)) and state["b"].shape == (1, 2)


@pytest.mark.parametrize("name", ["model.bin", "model.safetensors"])
def test_damaged_or_missing_files_are_model_errors_naming_the_file(tmp_path, name):
    path = tmp_path / name
    with pytest.raises(ModelError, match="does not exist"):
        load_state_dict(path)
    path.write_bytes(b"\x00not a model at all" * 10)
    with pytest.raises(ModelError, match=str(path)):
        load_state_dict(path)


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path):
    path = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), path)
    with pytest.raises(ModelError, match="does not hold a state dict"):
        load_state_dict(path)


class _Double(torch.nn.Module):
    def forward(self, x):
        return x * 2


def test_torchscript_loads_only_when_trusted(tmp_path):
    path = tmp_path / "double.pt"
    torch.jit.save(torch.jit.script(_Double()), str(path))
    with pytest.raises(ModelError, match="checksum does not match the catalogue; import it explicitly"):
        load_torchscript(path, trusted=False)
    module = load_torchscript(path, trusted=True)
    assert torch.equal(module(torch.ones(2)), torch.full((2,), 2.0))
    assert not module.training


def test_a_damaged_torchscript_file_is_a_model_error(tmp_path):
    path = tmp_path / "broken.pt"
    path.write_bytes(b"PK\x03\x04 truncated archive")
    with pytest.raises(ModelError, match="damaged or not a TorchScript file"):
        load_torchscript(path, trusted=True)
    with pytest.raises(ModelError, match="does not exist"):
        load_torchscript(tmp_path / "missing.pt", trusted=True)


def test_a_state_dict_that_does_not_fit_is_described_in_one_sentence():
    from inpaint_studio.models.safe_load import state_dict_mismatch

    network = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Conv2d(8, 4, 1))
    state = dict(network.state_dict())
    assert state_dict_mismatch(network, state) == ""
    del state["1.bias"]
    state["0.weight"] = torch.zeros(8, 3, 5, 5)
    for index in range(5):
        state[f"extra.{index}"] = torch.zeros(1)
    assert state_dict_mismatch(network, state) == (
        "1 tensor is missing from the file (1.bias), "
        "5 tensors are not in the network (extra.0, extra.1, extra.2 and 2 more) "
        "and 1 tensor has another shape (0.weight: [8, 3, 5, 5] in the file, [8, 3, 3, 3] expected)"
    )

"""What every learned (PyTorch) engine shares: load once, run on a device, survive a full GPU.

A subclass declares its model in `info.models` and converts between the
pipeline's uint8 arrays and its network's tensors (`to_tensors`,
`from_output`). This base loads the TorchScript file through the model store's
safe loader the first time it is needed and keeps it while the engine lives
(the worker keeps one engine across jobs, so a model loads once per session),
runs it under inference mode, and, when the GPU runs out of memory, moves the
model to the CPU and finishes the call there instead of failing the fill.

torch is imported inside methods only, so importing an engine module to list
engines stays cheap.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from inpaint_studio.core.devices import Device
from inpaint_studio.core.errors import EngineError, EngineNotReadyError
from inpaint_studio.engines.base import Engine, EngineContext
from inpaint_studio.engines.devices import free_device_memory, try_on_gpu
from inpaint_studio.models.store import ModelFiles

if TYPE_CHECKING:
    import torch

OOM_NOTICE = "Out of GPU memory; finished on the CPU."


class TorchEngine(Engine):
    """Base of engines that run one TorchScript network per crop."""

    # float16 on CUDA halves memory and is faster, but only networks whose layers
    # keep their accuracy in half precision may turn it on.
    half_on_cuda: ClassVar[bool] = False

    def __init__(self, device: str = Device.CPU, model_store: ModelFiles | None = None) -> None:
        super().__init__(device, model_store)
        self._model: Any = None
        self._model_path: Any = None  # the file it came from, for messages
        # Where the loaded model sits: the engine's device, or "cpu" after a fallback.
        self._model_device: str | None = None

    # ------------------------------------------------------------ conversions

    @abstractmethod
    def to_tensors(self, image: np.ndarray, mask: np.ndarray) -> tuple[torch.Tensor, ...]:
        """The network's float32 CPU inputs for one crop (uint8 RGB image, uint8 mask 255 = fill)."""

    @abstractmethod
    def from_output(self, output: torch.Tensor, image: np.ndarray) -> np.ndarray:
        """The uint8 (H, W, 3) RGB result from the network's float32 CPU output for `image`."""

    # ------------------------------------------------------------ model life cycle

    @property
    def model_id(self) -> str:
        return self.info.models[0]

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        """Load the model onto the engine's device, unless it is loaded already."""
        if self._model is not None:
            return
        if self.model_store is None:
            raise EngineNotReadyError(self.readiness() or f"{self.info.name} has no model store to load from.")
        # Raises a user-facing EngineNotReadyError when the file is missing.
        path = self.model_store.require(self.model_id)
        from inpaint_studio.models.safe_load import load_torchscript

        # The loader refuses (ModelError) a file that neither matched the
        # catalogue's checksum nor was imported by the user: TorchScript can run code.
        model = load_torchscript(path, trusted=self.model_store.is_trusted(self.model_id), map_location="cpu")
        model.eval()
        self._model, self._model_device, self._model_path = model, "cpu", path
        # A model that does not even fit stays on the CPU (and `_forward` says so).
        try_on_gpu(self.device, lambda: self._move_to(self.device), self._fall_back_to_cpu)

    def unload(self) -> None:
        """Drop the model and hand its memory back (GPU memory included)."""
        if self._model is None:
            return
        device = self._model_device or "cpu"
        self._model = None
        self._model_device = None
        free_device_memory(device)

    # ------------------------------------------------------------ running

    def inpaint(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        params: Mapping[str, Any],
        context: EngineContext,
    ) -> np.ndarray:
        context.raise_if_cancelled()
        context.progress(0.0)
        self.load()
        context.raise_if_cancelled()
        inputs = self.to_tensors(image, mask)
        self._check_signature(inputs)
        context.progress(0.1)
        output = self._forward(inputs, context)
        context.raise_if_cancelled()
        context.progress(0.9)
        result = self.from_output(output, image)
        context.progress(1.0)
        return result

    def _check_signature(self, inputs: tuple[torch.Tensor, ...]) -> None:
        """Refuse, before calling it, a TorchScript model whose forward does not take the engine's tensors
        (another engine's model file, say): TorchScript would fail with a message about its internals."""
        schema = getattr(getattr(self._model, "forward", None), "schema", None)
        if schema is None:
            return  # not TorchScript: nothing declared to check
        arguments = [a for a in schema.arguments if a.name != "self"]
        required = sum(1 for a in arguments if not a.has_default_value())
        takes_tensors = all(str(a.type) == "Tensor" for a in arguments[: len(inputs)])
        if required <= len(inputs) <= len(arguments) and takes_tensors:
            return
        declared = ", ".join(f"{a.name}: {a.type}" for a in arguments) or "nothing"
        raise EngineError(
            f"The {self.info.name} model file {self._model_path} takes ({declared}) where {self.info.name} "
            f"passes {len(inputs)} image tensor(s); it is not the right model file."
        )

    def _forward(self, inputs: tuple[torch.Tensor, ...], context: EngineContext) -> torch.Tensor:
        """Run the network where the model sits; on a GPU out-of-memory, move it to the CPU and rerun."""
        device = self._model_device or Device.CPU
        output = try_on_gpu(device, lambda: self._run_on_device(device, inputs), self._fall_back_to_cpu)
        if output is not None:
            context.ran_on(device)
            return output
        if self.device != Device.CPU:
            # The model stays on the CPU until the engine is unloaded: retrying the
            # GPU on every crop would mostly fail again, slower.
            context.tell(OOM_NOTICE)
        context.ran_on(Device.CPU)
        return self._run_on_device(Device.CPU, inputs)

    def _move_to(self, device: str) -> None:
        self._model = self._place(self._model, device)
        self._model_device = device

    def _fall_back_to_cpu(self) -> None:
        # A failed move can leave some weights on the GPU: move the whole model back.
        self._move_to("cpu")
        free_device_memory(self.device)

    def _run_on_device(self, device: str, inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """One forward pass on `device`; returns the output as a float32 CPU tensor."""
        import torch

        placed = [self._place(tensor, device) for tensor in inputs]
        # Without optimized_execution(False) TorchScript profiles and re-optimises
        # during the first calls, which take seconds each (big-lama: ~6 s).
        with torch.inference_mode(), torch.jit.optimized_execution(False):
            output = self._model(*placed)
        expected = (1, 3, *inputs[0].shape[2:])
        if not isinstance(output, torch.Tensor) or tuple(output.shape) != expected:
            got = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
            raise EngineError(f"{self.info.name}'s model returned {got}, expected {expected}; is it the right model file?")
        return output.to(device="cpu", dtype=torch.float32)

    def _place(self, obj: Any, device: str) -> Any:
        """`obj` (module or tensor) on `device`, in the precision used there.

        The one place tensors and the model move between devices: tests replace
        it to exercise the GPU code paths on a machine without a GPU.
        """
        return obj.to(device=device, dtype=self.dtype_on(device))

    def dtype_on(self, device: str) -> torch.dtype:
        """The precision the network runs in on `device`."""
        import torch

        return torch.float16 if device == "cuda" and self.half_on_cuda else torch.float32

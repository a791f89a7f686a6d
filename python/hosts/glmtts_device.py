"""Where GLM-TTS runs, and what the hosts do about its memory.

GLM-TTS is written for one CUDA GPU: besides its `DEVICE` global it calls `.cuda()`,
`.to('cuda')` and `device='cuda'` directly (the speech tokenizer, the wav loader, the YAML
loader). With GLMTTS_DEVICE=cpu the host hides every GPU from torch and enters `CudaToCpu`, a
torch function mode that rewrites those calls to the CPU inside the host process, so the
checkout is run unedited. onnxruntime follows by itself: GLM-TTS asks it for CUDA only when
torch sees a GPU.

Reduced precision (GLMTTS_DTYPE): GLM-TTS loads its LLM in float32; `load_llm_in` makes that
load produce the requested dtype directly (no float32 copy is ever allocated on the GPU), and
`sample_in_float32` keeps the output layer in float32, so the logits GLM-TTS samples from keep
full precision.
"""

from __future__ import annotations

import contextlib
import gc
import os
from typing import Any, Iterator


def hide_gpus() -> None:
    """Before torch is imported: CPU mode must not touch a GPU even where one is present."""
    os.environ["CUDA_VISIBLE_DEVICES"] = ""


def _is_cuda(device: Any) -> bool:
    import torch

    if isinstance(device, str):
        return device.startswith("cuda")
    return isinstance(device, torch.device) and device.type == "cuda"


def cuda_to_cpu_mode():
    """A torch function mode mapping CUDA placements to the CPU (built lazily: torch is
    imported only after hide_gpus())."""
    import torch
    from torch.overrides import TorchFunctionMode

    class CudaToCpu(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = dict(kwargs or {})
            if func is torch.Tensor.cuda:
                return args[0].cpu()
            if "device" in kwargs and _is_cuda(kwargs["device"]):
                kwargs["device"] = "cpu"
            if func is torch.Tensor.to:
                args = tuple("cpu" if _is_cuda(arg) else arg for arg in args)
            return func(*args, **kwargs)

    return CudaToCpu()


def enter_cpu_mode() -> None:
    """Maps GLM-TTS's CUDA calls to the CPU for the rest of the process. The mode holds for the
    thread that enters it: the hosts load and run the model on their main thread."""
    cuda_to_cpu_mode().__enter__()


@contextlib.contextmanager
def load_llm_in(glm_module: Any, dtype: Any) -> Iterator[None]:
    """While GLM-TTS's load_models() runs, its `LlamaForCausalLM.from_pretrained(path,
    dtype=torch.float32)` loads in `dtype` instead."""
    original = glm_module.LlamaForCausalLM

    class LoadInDtype:
        @staticmethod
        def from_pretrained(*args: Any, **kwargs: Any) -> Any:
            kwargs["dtype"] = dtype
            kwargs.pop("torch_dtype", None)
            return original.from_pretrained(*args, **kwargs)

    glm_module.LlamaForCausalLM = LoadInDtype
    try:
        yield
    finally:
        glm_module.LlamaForCausalLM = original


def sample_in_float32(llama: Any) -> None:
    """The output layer in float32, fed float32: GLM-TTS's log_softmax and its samplers then see
    float32 logits, not bfloat16 ones rounded to 3 significant digits."""
    import torch

    head = llama.lm_head
    head.float()
    head.register_forward_pre_hook(lambda _module, inputs: tuple(x.float() if torch.is_tensor(x) else x for x in inputs))


def release_cached_memory(torch: Any) -> None:
    """Returns the CUDA allocator's free blocks to the driver. Must run after the frames that held
    the tensors are gone (outside any `except` block whose traceback still references them)."""
    gc.collect()
    torch.cuda.empty_cache()  # a no-op where CUDA was never initialised

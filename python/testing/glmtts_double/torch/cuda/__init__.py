"""Test double of torch.cuda: no GPU, but empty_cache() is recorded and OOM can be raised."""

import os
import time


class OutOfMemoryError(RuntimeError):
    pass


def is_available() -> bool:
    return False


def empty_cache() -> None:
    from utils.double import record  # the GLM-TTS double's call log

    import sys

    failed = getattr(sys.modules.get("llm.glmtts"), "held_by_failed_call", None)
    # Whether a failed call's frames (its KV cache) were still alive: then nothing could be freed.
    record("torch.cuda.empty_cache", at=time.time(), frames_held=failed is not None and failed() is not None)


def manual_seed(seed: int) -> None:
    pass


def device_count() -> int:
    return int(os.environ.get("GLMTTS_DOUBLE_GPUS", "0"))

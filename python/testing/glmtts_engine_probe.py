#!/usr/bin/env python3
"""Loads the glm-tts host's engine as the host would (settings from the environment) and prints
what tests need to see inside it, as one JSON object: the LLM's parameter dtypes, the dtype of
the logits GLM-TTS samples from, and the process's peak memory. For the real-code tests only.

    GLMTTS_REPO=... GLMTTS_DEVICE=cpu GLMTTS_DTYPE=bfloat16 python glmtts_engine_probe.py
"""

import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hosts"))

from glm_tts_host import GlmTtsEngine  # noqa: E402
from glmtts_setup import GlmttsSettings, enter_repo  # noqa: E402


def main() -> None:
    settings = GlmttsSettings.from_env(os.environ)
    enter_repo(settings)
    started = time.monotonic()
    engine = GlmTtsEngine(settings)
    load_seconds = time.monotonic() - started
    torch = engine.torch
    llama = engine.llm.llama
    head = llama.lm_head.weight.dtype
    body = sorted({str(p.dtype) for name, p in llama.named_parameters() if not name.startswith("lm_head.")})
    with torch.inference_mode():
        ids = torch.tensor([[1, 2, 3]], device=engine.device)
        logits = llama(input_ids=ids).logits
    print(json.dumps({
        "device": str(engine.device),
        "bodyDtypes": body,
        "headDtype": str(head),
        "logitsDtype": str(logits.dtype),
        "loadSeconds": round(load_seconds, 2),
        "peakRssMb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


if __name__ == "__main__":
    main()

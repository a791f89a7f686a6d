"""Test double of GLM-TTS's llm/glmtts.py: the GLMTTS model, without a model."""

import os
import random
import time

import torch
from utils.double import record, seconds


class _Module:
    """Stands for the Llama model: records where it is moved (GLMTTS_DTYPE)."""

    def __init__(self, name):
        self.name = name

    def to(self, target):
        record(f"{self.name}.to", target=repr(target))
        return self


class GLMTTS:
    def __init__(self, llama_cfg_path=None, mode="PRETRAIN"):
        self.mode = mode
        self.llama = _Module("llm.llama")

    def inference(self, text, text_len, prompt_text, prompt_text_len, prompt_speech_token, prompt_speech_token_len,
                  beam_size=1, sampling=25, sample_method="ras", spk=None):
        """One speech token per text token, drawn from `random` as the real sampler draws from the
        state set_seed left: the same seed, text and prompt give the same tokens. A text containing
        GLMTTS_DOUBLE_OOM_MARKER raises CUDA out of memory; each call costs GLMTTS_DOUBLE_CHUNK_SECONDS."""
        marker = os.environ.get("GLMTTS_DOUBLE_OOM_MARKER")
        if marker and marker in "".join(chr(v) for v in text.values):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (test double)")
        start = time.time()
        time.sleep(seconds("GLMTTS_DOUBLE_CHUNK_SECONDS", "0.01"))
        record("gpu", start=start, end=time.time(), sample_method=sample_method)
        context = prompt_text.shape[1] + prompt_speech_token.shape[1]  # the prompt (and cache) sways the result
        return torch.tensor([[1 + (v + context + random.randrange(4000)) % 4000 for v in text.values]], dtype=torch.int64)

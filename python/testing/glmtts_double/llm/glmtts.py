"""Test double of GLM-TTS's llm/glmtts.py: the GLMTTS model, without a model."""

import os
import random
import time
import weakref

import torch
from utils.double import record, seconds


class _Module:
    """Stands for a torch module: records where it is moved and what is hooked on it."""

    def __init__(self, name, dtype=None):
        self.name = name
        self.dtype = dtype
        self.lm_head = None

    def to(self, target):
        record(f"{self.name}.to", target=repr(target))
        return self

    def float(self):
        record(f"{self.name}.float")
        return self

    def register_forward_pre_hook(self, hook):
        record(f"{self.name}.register_forward_pre_hook")


class LlamaForCausalLM(_Module):
    """Stands for transformers' class: records the dtype it is loaded in."""

    @classmethod
    def from_pretrained(cls, path, dtype=None):
        record("LlamaForCausalLM.from_pretrained", path=path, dtype=repr(dtype))
        model = cls("llm.llama", dtype)
        model.lm_head = _Module("llm.llama.lm_head", dtype)
        return model


# The "KV cache and activations" of the job running out of memory: alive while any frame of the
# failed call is (a traceback keeps them), so empty_cache() can tell whether it could free them.
held_by_failed_call = None


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
            global held_by_failed_call
            kv_cache = _Module("kv_cache")  # a local of the failing frame, as GLM-TTS's are
            held_by_failed_call = weakref.ref(kv_cache)
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (test double)")
        start = time.time()
        time.sleep(seconds("GLMTTS_DOUBLE_CHUNK_SECONDS", "0.01"))
        record("gpu", start=start, end=time.time(), sample_method=sample_method)
        context = prompt_text.shape[1] + prompt_speech_token.shape[1]  # the prompt (and cache) sways the result
        return torch.tensor([[1 + (v + context + random.randrange(4000)) % 4000 for v in text.values]], dtype=torch.int64)

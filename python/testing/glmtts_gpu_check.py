#!/usr/bin/env python3
"""What only a CUDA GPU can show about the glm-tts host, against GLM-TTS's real code where its
parts import without the text front end (whose WeTextProcessing/pynini a GPU machine may lack).
Prints one JSON object per check. Needs torch with CUDA and transformers; random weights only.

    python glmtts_gpu_check.py --repo /path/to/GLM-TTS

- oom: the host's synthesize() with a real allocation failure while a "KV cache" is held by
  the failing frames: the error it answers, and the memory the CUDA allocator still reserves
  afterwards, beside emptying the cache inside the `except` block (the old way).
- bf16: a Llama of GLM-TTS's kind loaded as glmtts_inference.load_models() loads it, in float32
  and through the host's GLMTTS_DTYPE=bfloat16 path (peak GPU memory of each, beside the old
  load-then-cast), then GLM-TTS's own LLM loop (llm/glmtts.py GLMTTS.inference, ras sampling)
  on the GPU in bfloat16 with the host's float32 output layer.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import sys
import tempfile
import time
import types

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hosts"))

GIB = 2**30


def report(check: str, **fields) -> None:
    print(json.dumps({"check": check, **fields}), flush=True)


def check_oom(torch) -> None:
    from glm_tts_host import GlmTtsEngine
    from ttsq_protocol import HostError, Job

    held_gib = 8
    total = torch.cuda.get_device_properties(0).total_memory

    def generate(job):  # stands for generate_long running out of memory mid-segment
        kv_cache = torch.empty(held_gib * GIB, dtype=torch.uint8, device="cuda")  # noqa: F841 (held by this frame)
        torch.empty(2 * total, dtype=torch.uint8, device="cuda")  # cannot fit: a real CUDA OOM

    # The engine's error path needs no model: an engine object with just what it reads.
    engine = GlmTtsEngine.__new__(GlmTtsEngine)
    engine.torch = torch
    engine.settings = types.SimpleNamespace(sample_rate=24000)
    engine.oom_types = (torch.cuda.OutOfMemoryError,)
    engine._generate = generate
    job = Job(id="oom", text="x" * 40, out_path=os.devnull, voice={"audioPath": "", "sha256": ""}, sample_rate=None, seed=None, pronunciations=[], options={})
    answer = {}
    try:
        engine.synthesize(job)
    except HostError as error:
        answer = {"code": error.code, "retryable": error.retryable}
    reserved_host = torch.cuda.memory_reserved() / GIB

    def old_way() -> float:
        try:
            generate(job)
        except Exception:
            gc.collect()
            torch.cuda.empty_cache()  # inside the handler: the traceback still holds kv_cache
            return torch.cuda.memory_reserved() / GIB
        return -1.0

    reserved_old = old_way()
    gc.collect()
    torch.cuda.empty_cache()
    report("oom", heldGiB=held_gib, **answer, reservedAfterHostGiB=round(reserved_host, 2), reservedWhenEmptiedInsideHandlerGiB=round(reserved_old, 2),
           reservedOnceHandlerLeftGiB=round(torch.cuda.memory_reserved() / GIB, 2))


def llama_config(vocab: int):
    from transformers import LlamaConfig

    # GLM-TTS's LLM is a Llama of about this shape (hidden 2048 class); smaller here to load fast.
    return LlamaConfig(vocab_size=vocab, hidden_size=1024, intermediate_size=4096, num_hidden_layers=16, num_attention_heads=16,
                       num_key_value_heads=16, max_position_embeddings=4096, tie_word_embeddings=False)


def check_bf16(torch, repo: str) -> None:
    from transformers import LlamaForCausalLM
    from glmtts_device import load_llm_in, release_cached_memory, sample_in_float32

    vocab = 40000
    special = {"pad": 0, "ats": 1000, "ate": 1000 + 32767, "boa": 33768, "eoa": 33769}
    folder = tempfile.mkdtemp(prefix="glmtts-gpu-llm-")
    torch.manual_seed(0)
    LlamaForCausalLM(llama_config(vocab)).save_pretrained(folder)
    # glmtts_inference.load_models(): LlamaForCausalLM.from_pretrained(llama_path, dtype=torch.float32).to(DEVICE)
    glm = types.SimpleNamespace(LlamaForCausalLM=LlamaForCausalLM)

    def peak_of(load) -> tuple[float, object]:
        release_cached_memory(torch)
        torch.cuda.reset_peak_memory_stats()
        model = load()
        return torch.cuda.max_memory_allocated() / GIB, model

    fp32_peak, model = peak_of(lambda: glm.LlamaForCausalLM.from_pretrained(folder, dtype=torch.float32).to("cuda"))
    del model
    old_peak, model = peak_of(lambda: glm.LlamaForCausalLM.from_pretrained(folder, dtype=torch.float32).to("cuda").to(torch.bfloat16))
    del model

    def host_load():
        with load_llm_in(glm, torch.bfloat16):
            return glm.LlamaForCausalLM.from_pretrained(folder, dtype=torch.float32).to("cuda")

    host_peak, llama = peak_of(host_load)
    sample_in_float32(llama)
    with torch.inference_mode():
        logits = llama(input_ids=torch.tensor([[1, 2, 3]], device="cuda")).logits
    report("bf16-load", float32PeakGiB=round(fp32_peak, 2), castAfterLoadPeakGiB=round(old_peak, 2), hostBf16PeakGiB=round(host_peak, 2),
           bodyDtype=str(llama.model.embed_tokens.weight.dtype), headDtype=str(llama.lm_head.weight.dtype), logitsDtype=str(logits.dtype))

    # GLM-TTS's own LLM wrapper and loop, on the GPU.
    os.chdir(repo)
    sys.path.insert(0, repo)
    try:
        from llm.glmtts import GLMTTS
    except Exception as error:  # peft, yaml... missing on this machine
        report("glmtts-loop", skipped=f"llm/glmtts.py did not import: {type(error).__name__}: {error}")
        return
    config_path = os.path.join(folder, "config.json")
    llm = GLMTTS(llama_cfg_path=config_path, mode="PRETRAIN")
    llm.llama = llama
    llm.llama_embedding = llama.model.embed_tokens
    llm.set_runtime_vars(special_token_ids=special)
    device = torch.device("cuda")
    text = torch.randint(1, 900, (1, 40), device=device)
    prompt_text = torch.randint(1, 900, (1, 20), device=device)
    prompt_speech = torch.randint(0, 32767, (1, 150), device=device)
    lengths = lambda t: torch.tensor([t.shape[1]], dtype=torch.int32, device=device)  # noqa: E731
    torch.manual_seed(0)
    torch.cuda.synchronize()
    started = time.monotonic()
    tokens = llm.inference(text=text, text_len=lengths(text), prompt_text=prompt_text, prompt_text_len=lengths(prompt_text),
                           prompt_speech_token=prompt_speech, prompt_speech_token_len=lengths(prompt_speech), sample_method="ras")
    torch.cuda.synchronize()
    seconds = time.monotonic() - started
    steps = int(tokens.shape[-1]) + 1
    report("glmtts-loop", dtype="bfloat16 (float32 output layer)", tokens=int(tokens.shape[-1]), seconds=round(seconds, 2), msPerStep=round(1000 * seconds / steps, 1))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", required=True)
    args = parser.parse_args()
    import torch

    report("device", torch=torch.__version__, cuda=torch.version.cuda, gpu=torch.cuda.get_device_name(0), gpus=torch.cuda.device_count())
    for name, run in (("oom", lambda: check_oom(torch)), ("bf16", lambda: check_bf16(torch, os.path.abspath(args.repo)))):
        try:
            run()
        except Exception as error:  # one check failing must not hide the others' figures
            import traceback

            traceback.print_exc()
            report(name, failed=f"{type(error).__name__}: {error}")
    with contextlib.suppress(Exception):
        report("memory", maxReservedGiB=round(torch.cuda.max_memory_reserved() / GIB, 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

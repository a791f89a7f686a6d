#!/usr/bin/env python3
"""Batched decoding of GLM-TTS's LLM stage (python/hosts/glmtts_batch.py) against GLM-TTS's own
loop, in one run: GLM-TTS's real GLMTTS wrapper and its `inference` loop, around a Llama with
random weights (no weights can be downloaded here).

    GLMTTS_REPO=/path/to/GLM-TTS .venv-glmtts/bin/python bench/glmtts_batch_decode.py          # tiny, CPU
    GLMTTS_REPO=/path/to/GLM-TTS python3 bench/glmtts_batch_decode.py --size 0.6b --device cuda --dtype bfloat16

Prints, as JSON lines then a table:
- `alone`: GLM-TTS's loop (GLMTTS.inference after set_seed), one request at a time, which is what
  the unbatched host does whatever the load: its speech tokens per second and real-time factor
  (25 tokens are one second of audio), and each request's time.
- `batched B`: B requests submitted together to the BatchDecoder (B = 1, 4, 16, 64): tokens per
  second, real-time factor, the ratio to `alone`, and each request's time to its last token
  beside its time alone (for one-chunk requests that is its time to first audio, less the flow).
- `equal`: on the CPU, whether every batched row gave exactly the tokens it gives alone.

Every request is one GLM-TTS text chunk with a prompt of `--prompt` speech tokens; the end of
audio is made unreachable so that each row decodes exactly 20 x its text length, and rows of one
run differ in length (text of 3 to 5 tokens: 60 to 100 speech tokens) so that they leave at
different steps.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python", "hosts"))

SIZES = {
    # The tiny Llama of the real-code tests' kind.
    "tiny": dict(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2, num_hidden_layers=2, vocab_size=40_000),
    # About 0.6 billion parameters, GLM-TTS's kind (its real config comes with the weights).
    "0.6b": dict(hidden_size=1536, intermediate_size=4096, num_attention_heads=12, num_key_value_heads=4, num_hidden_layers=20, vocab_size=40_000),
    # About 1.6 billion.
    "1.6b": dict(hidden_size=2048, intermediate_size=8192, num_attention_heads=16, num_key_value_heads=8, num_hidden_layers=24, vocab_size=40_000),
}
TOKENS_PER_SECOND_OF_AUDIO = 25


def build(repo: str, size: str, device, dtype):
    import torch
    from llm.glmtts import GLMTTS
    from glmtts_device import sample_in_float32

    folder = tempfile.mkdtemp(prefix="glmtts-batch-bench-")
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "max_position_embeddings": 8192, "rms_norm_eps": 1e-6, "tie_word_embeddings": False, **SIZES[size]}
    path = os.path.join(folder, "config.json")
    with open(path, "w") as file:
        json.dump(config, file)
    torch.manual_seed(0)
    llm = GLMTTS(llama_cfg_path=path, mode="PRETRAIN", spk_prompt_dict_path=os.path.join(repo, "configs", "spk_prompt_dict.yaml"))
    vocab = config["vocab_size"]
    special = {"ats": 8000, "ate": vocab - 2, "boa": 1, "eoa": vocab - 1, "pad": 0}
    with torch.no_grad():
        llm.llama.lm_head.weight[special["eoa"]] = 0
        llm.llama.lm_head.bias = None
    llm.set_runtime_vars(special)
    # The end of audio is never drawn: each row decodes exactly its max_len.
    llm.llama.lm_head.register_forward_hook(lambda _m, _i, out: out.index_fill(-1, torch.tensor([special["eoa"]], device=out.device), -1e4))
    llm = llm.to(device=device, dtype=dtype).eval()
    if dtype != torch.float32:
        sample_in_float32(llm.llama)
    parameters = sum(p.numel() for p in llm.parameters())
    return llm, parameters


def requests(count: int, prompt: int, device, seed: int = 0):
    import torch

    generator = torch.Generator().manual_seed(seed)
    made = []
    for index in range(count):
        text = 3 + index % 3
        made.append(
            {
                "prompt_text_token": torch.randint(2, 7000, (1, 12), generator=generator).to(device),
                "tts_text_token": torch.randint(2, 7000, (1, text), generator=generator).to(device),
                "prompt_speech_token": torch.randint(0, 30000, (1, prompt), generator=generator).to(torch.int32).to(device),
                "seed": 1000 + index,
            }
        )
    return made


def synchronize(torch, device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def alone(llm, request: dict, torch, device) -> tuple[list, float]:
    from utils import seed_util

    synchronize(torch, device)
    started = time.perf_counter()
    seed_util.set_seed(request["seed"])
    with contextlib.redirect_stdout(io.StringIO()):
        tokens = llm.inference(
            text=request["tts_text_token"],
            text_len=request["tts_text_token"].shape[1],
            prompt_text=request["prompt_text_token"],
            prompt_text_len=request["prompt_text_token"].shape[1],
            prompt_speech_token=request["prompt_speech_token"],
            prompt_speech_token_len=request["prompt_speech_token"].shape[1],
            sample_method="ras",
            spk=None,
        )
    synchronize(torch, device)
    return (tokens[0] - 0).tolist(), time.perf_counter() - started


def batched(decoder, batch: list) -> tuple[list, list, float]:
    results: list = [None] * len(batch)
    finished: list = [0.0] * len(batch)
    started = time.perf_counter()

    def one(index: int) -> None:
        request = batch[index]
        try:
            results[index] = decoder.decode(
                request["prompt_text_token"], request["tts_text_token"], request["prompt_speech_token"], seed=request["seed"], sample_method="ras"
            ).tokens
        except Exception as error:  # noqa: BLE001 (reported as a request with no tokens)
            print(json.dumps({"failed": index, "error": f"{type(error).__name__}: {error}"}), flush=True)
            results[index] = []
        finished[index] = time.perf_counter() - started

    threads = [threading.Thread(target=one, args=(index,)) for index in range(len(batch))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, finished, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", default=os.environ.get("GLMTTS_REPO", ""))
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--batches", default="1,4,16,64")
    parser.add_argument("--prompt", type=int, default=150, help="prompt speech tokens (6 s of reference audio)")
    parser.add_argument("--alone", type=int, default=4, help="requests run one at a time for the baseline")
    args = parser.parse_args()
    if not args.repo:
        sys.exit("GLMTTS_REPO (or --repo) must name a GLM-TTS checkout")
    sys.path.insert(1, os.path.abspath(args.repo))
    os.chdir(args.repo)
    import torch
    from glmtts_batch import BatchDecoder

    device = torch.device(args.device)
    llm, parameters = build(args.repo, args.size, device, getattr(torch, args.dtype))
    sizes = [int(b) for b in args.batches.split(",")]
    largest = requests(max(sizes + [args.alone]), args.prompt, device)
    info = {"size": args.size, "parameters": parameters, "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu", "dtype": args.dtype, "torch": torch.__version__}
    print(json.dumps({"bench": "setup", **info}), flush=True)

    alone(llm, largest[0], torch, device)  # warm-up
    expected, alone_seconds = [], []
    for request in largest[: args.alone]:
        tokens, seconds = alone(llm, request, torch, device)
        expected.append(tokens)
        alone_seconds.append(seconds)
    alone_tokens = sum(len(t) for t in expected)
    alone_rate = alone_tokens / sum(alone_seconds)
    rows = [("alone (GLM-TTS's loop)", 1, alone_rate, 1.0, statistics.median(alone_seconds), None)]
    print(json.dumps({"bench": "alone", "requests": args.alone, "tokens": alone_tokens, "tokens_per_s": round(alone_rate, 1), "rtf": round(alone_rate / TOKENS_PER_SECOND_OF_AUDIO, 3), "request_s": [round(s, 3) for s in alone_seconds]}), flush=True)

    decoder = BatchDecoder(llm, device, max_rows=max(sizes), wait_seconds=0.05)
    try:
        batched(decoder, largest[:1])  # warm-up
        for size in sizes:
            batch = largest[:size]
            tokens, finished, seconds = batched(decoder, batch)
            count = sum(len(t) for t in tokens)
            rate = count / seconds
            # Each request's time beside its time alone (requests of the same text length take the same time alone).
            alone_by_length = {len(expected[i]): alone_seconds[i] for i in range(len(expected))}
            ratios = [finished[i] / alone_by_length[len(tokens[i])] for i in range(size) if len(tokens[i]) in alone_by_length]
            equal = all(tokens[i] == expected[i] for i in range(min(size, len(expected))))
            rows.append((f"batched {size}", size, rate, rate / alone_rate, statistics.median(finished), max(ratios) if ratios else None))
            print(
                json.dumps(
                    {
                        "bench": f"batched {size}",
                        "tokens": count,
                        "seconds": round(seconds, 3),
                        "tokens_per_s": round(rate, 1),
                        "rtf": round(rate / TOKENS_PER_SECOND_OF_AUDIO, 3),
                        "vs_alone": round(rate / alone_rate, 2),
                        "request_s_median": round(statistics.median(finished), 3),
                        "request_vs_alone_max": round(max(ratios), 2) if ratios else None,
                        "equal_to_alone": equal,
                        "peak_rows": decoder.stats.peak_rows,
                    }
                ),
                flush=True,
            )
    finally:
        decoder.close()
    print(f"\n{args.size} Llama ({parameters / 1e6:.0f}M parameters), {info['device']}, {args.dtype}, prompt {args.prompt} speech tokens")
    print(f"{'run':<24}{'tokens/s':>10}{'audio s/s':>11}{'vs alone':>10}{'request s':>11}{'request vs alone':>18}")
    for name, _size, rate, ratio, request_s, worst in rows:
        print(f"{name:<24}{rate:>10.1f}{rate / TOKENS_PER_SECOND_OF_AUDIO:>11.2f}{ratio:>9.2f}x{request_s:>11.2f}{'' if worst is None else f'{worst:.2f}x':>18}")


if __name__ == "__main__":
    main()

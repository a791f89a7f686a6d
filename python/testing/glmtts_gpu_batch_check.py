#!/usr/bin/env python3
"""What only a CUDA GPU shows about the batched decoder (python/hosts/glmtts_batch.py), on GLM-TTS's
real GLMTTS wrapper around a Llama of GLM-TTS's kind with random weights. Prints one JSON object
per check.

    GLMTTS_REPO=/path/to/GLM-TTS python3 python/testing/glmtts_gpu_batch_check.py [--size 0.6b]

- admission: with the GPU filled up to room for the keys and values of about 16 rows, 64
  requests submitted at once: how many rows the decoder let into the batch (it reads free GPU
  memory before each row joins), and whether every request completed with its full length.
- oom: with the process capped (set_per_process_memory_fraction) below what 64 rows need, so that
  a real allocation fails mid-batch: how often the batch was halved, and whether every request
  still completed with its full length and, compared one by one, the tokens it gave at batch 64
  without the cap.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "hosts"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))

GIB = 2**30


def report(check: str, **fields) -> None:
    print(json.dumps({"check": check, **fields}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", default=os.environ.get("GLMTTS_REPO", ""))
    parser.add_argument("--size", default="0.6b")
    parser.add_argument("--prompt", type=int, default=600)
    args = parser.parse_args()
    sys.path.insert(1, os.path.abspath(args.repo))
    os.chdir(args.repo)
    import torch
    from glmtts_batch import BatchDecoder
    from glmtts_batch_decode import batched, build, requests

    device = torch.device("cuda")
    llm, _parameters = build(args.repo, args.size, device, torch.bfloat16)
    batch = requests(64, args.prompt, device, seed=3)
    logs: list = []
    decoder = BatchDecoder(llm, device, max_rows=64, wait_seconds=0.05, log=logs.append)
    try:
        reference, _finished, seconds = batched(decoder, batch)
        report("reference", rows=64, peak_rows=decoder.stats.peak_rows, seconds=round(seconds, 2))
    finally:
        decoder.close()
    per_row = decoder._kv_bytes_per_position() * (args.prompt + 12 + 5 + 100)
    lengths = [len(tokens) for tokens in reference]

    torch.cuda.empty_cache()
    free, _total = torch.cuda.mem_get_info()
    ballast = torch.empty(max(0, free - 16 * per_row - GIB // 2), dtype=torch.uint8, device=device)
    decoder = BatchDecoder(llm, device, max_rows=64, wait_seconds=0.05, log=logs.append)
    try:
        tokens, _finished, seconds = batched(decoder, batch)
        report(
            "admission",
            free_gib=round(torch.cuda.mem_get_info()[0] / GIB, 2),
            kv_mib_per_row=round(per_row / 2**20, 1),
            peak_rows=decoder.stats.peak_rows,
            halvings=decoder.stats.halvings,
            all_complete=[len(t) for t in tokens] == lengths,
            seconds=round(seconds, 2),
        )
    finally:
        decoder.close()
    del ballast
    torch.cuda.empty_cache()

    total = torch.cuda.get_device_properties(0).total_memory
    allowed = torch.cuda.memory_allocated() + 16 * per_row + GIB // 4
    torch.cuda.set_per_process_memory_fraction(allowed / total)
    decoder = BatchDecoder(llm, device, max_rows=64, wait_seconds=0.05, log=logs.append)
    try:
        tokens, _finished, seconds = batched(decoder, batch)
        report(
            "oom",
            allowed_gib=round(allowed / GIB, 2),
            halvings=decoder.stats.halvings,
            final_limit=decoder.limit,
            all_complete=[len(t) for t in tokens] == lengths,
            rows_equal_to_uncapped=sum(1 for a, b in zip(tokens, reference) if a == b),
            seconds=round(seconds, 2),
            log=logs[-3:],
        )
    finally:
        decoder.close()
        torch.cuda.set_per_process_memory_fraction(1.0)


if __name__ == "__main__":
    main()

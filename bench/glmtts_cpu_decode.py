#!/usr/bin/env python3
"""How fast GLM-TTS's LLM stage can decode on this CPU (GLMTTS_DEVICE=cpu), as an estimate for
docs/glm-tts.md: a Llama with random weights, decoded one token at a time with a KV cache the
way GLM-TTS's loop decodes (batch 1, float32), after a prompt of 200 tokens. GLM-TTS emits 25
tokens per second of audio, so ms per step x 25 / 1000 is the LLM's real-time factor.

    .venv-glmtts/bin/python bench/glmtts_cpu_decode.py [--layers 24 --hidden 1536]

The real model's size is not known here (its config comes with the weights): the default
shape, about 0.9B parameters with a 59k vocabulary, is an assumption, printed with the result.
"""

import argparse
import json
import statistics
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--layers", type=int, default=24)
    parser.add_argument("--hidden", type=int, default=1536)
    parser.add_argument("--vocab", type=int, default=59264)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    config = LlamaConfig(vocab_size=args.vocab, hidden_size=args.hidden, intermediate_size=4 * args.hidden, num_hidden_layers=args.layers,
                         num_attention_heads=args.hidden // 128, num_key_value_heads=args.hidden // 128, tie_word_embeddings=False)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    parameters = sum(p.numel() for p in model.parameters())
    per_step = []
    with torch.inference_mode():
        for _ in range(args.runs):
            out = model(input_ids=torch.randint(0, args.vocab, (1, 200)), use_cache=True)
            past, token = out.past_key_values, out.logits[:, -1:].argmax(-1)
            started = time.perf_counter()
            for _ in range(args.steps):
                out = model(input_ids=token, past_key_values=past, use_cache=True)
                past, token = out.past_key_values, out.logits[:, -1:].log_softmax(-1).argmax(-1)
            per_step.append(1000 * (time.perf_counter() - started) / args.steps)
    ms = statistics.median(per_step)
    print(json.dumps({"parameters": parameters, "threads": torch.get_num_threads(), "msPerStepMedian": round(ms, 1),
                      "msPerStepRuns": [round(x, 1) for x in per_step], "llmRealTimeFactor": round(ms * 25 / 1000, 2)}))


if __name__ == "__main__":
    main()

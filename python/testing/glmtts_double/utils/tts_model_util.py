"""Test double of GLM-TTS's utils/tts_model_util.py: Token2Wav (the flow and vocoder) as a tone."""

import math
import random

import torch


class Token2Wav:
    def __init__(self, flow=None, sample_rate=24000, device=None):
        self.sample_rate = sample_rate

    def token2wav_with_cache(self, token_list, prompt_token=None, prompt_feat=None, embedding=None):
        """40 ms of a 0.3-amplitude tone per token. Its pitch follows the tokens and its phase is
        drawn from `random` (the real flow starts from seeded noise): the audio depends on the
        text and the seed, and on nothing else."""
        count = int(self.sample_rate * 0.04) * max(1, len(token_list))
        step = 2 * math.pi * (180.0 + sum(token_list) % 120) / self.sample_rate
        phase = random.uniform(0.0, 2 * math.pi)
        wav = torch.Tensor([0.3 * math.sin(phase + step * i) for i in range(count)], (1, count))
        return wav, None

"""GLM-TTS's samplers, drawing from a generator of their own.

GLM-TTS samples each speech token with `ras_sampling` (cosyvoice/utils/common.py: nucleus
sampling, falling back to plain sampling when the token repeats within the last ten) or with
`GLMTTS.sampling_ids` (top-k), and both draw from torch's global generator, seeded once per text
chunk. A batch holds rows with different seeds, so each row needs a generator of its own; these
functions compute what GLM-TTS's compute, step by step in the same float32 arithmetic, and take
the draw from the row's generator. Seeded the same, a generator gives exactly the draws the
global one gives, so a row samples exactly the tokens the request samples alone (the real-code
tests compare the two on GLM-TTS's own functions).
"""

from __future__ import annotations

from typing import Any

import numpy

# ras_sampling's defaults in GLM-TTS (GLMTTS.sampling_ids_ras passes temperature=1).
TOP_P = 0.8
TOP_K = 25
REPETITION_WINDOW = 10
REPETITION_RATIO = 0.1


def nucleus(scores: Any, generator: Any, top_p: float = TOP_P, top_k: int = TOP_K) -> int:
    """The most probable tokens up to `top_p` of the mass (at most `top_k` of them), one drawn."""
    probabilities = scores.softmax(dim=0)
    ranked, order = _most_probable(probabilities, top_k)
    # GLM-TTS accumulates the mass one float32 addition at a time and compares it with top_p
    # as float32 (a Python float beside a float32 tensor); numpy.float32 rounds the same way.
    limit = numpy.float32(top_p)
    mass = numpy.float32(0.0)
    kept = 0
    for value in ranked[:top_k].tolist():
        if not mass < limit:
            break
        mass = numpy.float32(mass + numpy.float32(value))
        kept += 1
    drawn = ranked[:kept].clone().multinomial(1, replacement=True, generator=generator)
    return int(order[drawn].item())


def _most_probable(probabilities: Any, count: int) -> tuple[Any, Any]:
    """The `count` most probable tokens, in the order GLM-TTS's full stable sort gives them. A
    top-k is that order whenever no two of the first count + 1 values are equal (the order is
    then unique); where two are, the whole vocabulary is sorted stably, as GLM-TTS does. The
    top-k costs a fraction of sorting tens of thousands of tokens for every row at every step."""
    if probabilities.shape[0] > count:
        ranked, order = probabilities.topk(count + 1)
        if bool((ranked[1:] != ranked[:-1]).all()):
            return ranked[:count], order[:count]
    return probabilities.sort(descending=True, stable=True)


def plain(scores: Any, generator: Any) -> int:
    """One token drawn from the whole distribution."""
    return int(scores.softmax(dim=0).multinomial(1, replacement=True, generator=generator).item())


def ras(scores: Any, decoded: list, generator: Any) -> int:
    """Repetition-aware sampling: nucleus, unless that token already occurs in the last ten."""
    token = nucleus(scores, generator)
    repeats = sum(1 for previous in decoded[-REPETITION_WINDOW:] if previous == token)
    if repeats >= REPETITION_WINDOW * REPETITION_RATIO:
        token = plain(scores, generator)
    return token


def top_k(scores: Any, k: int, end_of_audio: int, ignore_eos: bool, generator: Any) -> int:
    """GLMTTS.sampling_ids with beam size 1: one of the k most probable, drawn again while it
    is the end of audio and that is not allowed yet."""
    while True:
        probabilities, indices = scores.softmax(dim=-1).topk(k)
        token = int(indices[probabilities.multinomial(1, replacement=True, generator=generator)].item())
        if not ignore_eos or token != end_of_audio:
            return token

"""Test double of GLM-TTS's utils/seed_util.py. The real set_seed seeds random, numpy, torch and
CUDA; the double's sampling and "flow noise" draw from `random` only, so seeding it is enough.
numpy.random.seed refuses seeds outside 0..2**32-1 with this ValueError: so does the double."""

import operator
import random

SEED_MAX = 2**32 - 1


def set_seed(seed):
    seed = operator.index(seed)  # numpy refuses a float or a string too (TypeError)
    if not 0 <= seed <= SEED_MAX:
        raise ValueError("Seed must be between 0 and 2**32 - 1")
    random.seed(seed)

"""What lets several segments run GLM-TTS at once in one host (GLMTTS_MAX_BATCH > 1).

GLM-TTS is written for one request at a time: its text front end, tokenizers and speech
tokenizer keep state, its `generate_long` seeds the global random generators at every chunk,
and forced readings live in one replace dictionary. A batched host runs each segment on a
thread of its own, so those shared parts are reached through these guards.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator


class Serialized:
    """Calls an object's methods one at a time across threads (GLM-TTS's front ends); other
    attributes are passed through as they are."""

    def __init__(self, target: Any, lock: threading.RLock):
        self._target = target
        self._lock = lock

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value):
            return value
        lock = self._lock

        def serialized(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return value(*args, **kwargs)

        return serialized


class ReadingsLock:
    """Forced readings are added to GLM-TTS's one replace dictionary for the time of a segment:
    a segment with readings runs its text alone (exclusive), segments that read through the
    dictionary (phoneme mode) share it, and the others need no lock."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._sharing = 0
        self._exclusive = False

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._condition:
            while self._exclusive:
                self._condition.wait()
            self._sharing += 1
        try:
            yield
        finally:
            with self._condition:
                self._sharing -= 1
                self._condition.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._condition:
            while self._exclusive or self._sharing:
                self._condition.wait()
            self._exclusive = True
        try:
            yield
        finally:
            with self._condition:
                self._exclusive = False
                self._condition.notify_all()

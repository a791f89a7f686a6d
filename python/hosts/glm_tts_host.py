#!/usr/bin/env python3
"""GLM-TTS engine host: loads the model once and serves segments over the engine-host protocol.

Each segment is fed to GLM-TTS the way its own demo (tools/gradio_app.py) feeds a request:
normalised prompt text and text, the four prompt features of the voice, a fresh `cache` dict,
the job's seed, `use_cache`, `use_phoneme` and `sample_method`, then `generate_long`. Unlike
the demo, it keeps each voice's prompt features (bounded LRU), honours forced readings for one
job at a time (refusing one GLM-TTS would not match), stops between GLM-TTS's text chunks when
canceled, turns CUDA out-of-memory into a retryable error while it keeps serving, breaks runs
of words GLM-TTS's splitter fails on, keeps the text normaliser's FST between starts, and runs
on the CPU with GLMTTS_DEVICE=cpu (glmtts_device.py). With GLMTTS_MAX_BATCH > 1 it takes that
many segments at once, each on a thread of its own, and decodes their LLM stage together
(glmtts_batch.py). Settings come from the environment (glmtts_setup.GlmttsSettings).

    GLMTTS_REPO=/opt/GLM-TTS python3 glm_tts_host.py            # serve (stdin/stdout)
    GLMTTS_REPO=/opt/GLM-TTS python3 glm_tts_host.py --check    # what is missing, no model load
"""

from __future__ import annotations

import collections
import contextlib
import os
import random
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import ttsq_protocol as protocol
from glmtts_batch import BatchDecoder
from glmtts_device import enter_cpu_mode, load_llm_in, release_cached_memory, sample_in_float32
from glmtts_setup import OPTION_NAMES, GlmttsSettings, SettingsError, enter_repo, job_options, repo_version, run_check
from glmtts_threads import ReadingsLock, Serialized
from glmtts_tn_cache import cached_zh_normalizer
from ttsq_phonemes import PronunciationError, load_inventory, reading_tokens
from ttsq_protocol import HostError, Job
from ttsq_wav import write_pcm16


def numpy_random_seed(seed: int) -> None:
    import numpy

    numpy.random.seed(seed)

# What GLM-TTS's normaliser ends a text with (ensure_proper_ending), stripped from a forced
# reading's key before it is looked for inside a sentence.
TRAILING_PUNCTUATION = "。.!?！？，,;；:：、 "
# A comma every this many words keeps a run far below the 60 GLM-TTS's splitter can take (an
# English word counts about 0.7 per syllable there).
WORDS_PER_BREAK = 8


@dataclass(frozen=True)
class PromptFeatures:
    """What GLM-TTS extracts from a reference voice; reused for every job with that voice."""

    prompt_text: str
    text_token: Any
    speech_token: list
    speech_feat: Any
    embedding: Any


class GlmTtsEngine:
    def __init__(self, settings: GlmttsSettings):
        self.settings = settings
        import torch  # after enter_repo(): CUDA_VISIBLE_DEVICES must be set before torch starts

        if settings.device == "cpu":
            enter_cpu_mode()
        import glmtts_inference as glm

        self.torch = torch
        self.glm = glm
        if settings.device is not None:
            glm.DEVICE = torch.device(settings.device)
        self.device = glm.DEVICE
        started = time.monotonic()
        text_normaliser = cached_zh_normalizer(settings.tn_cache) if settings.tn_cache else contextlib.nullcontext()
        with load_llm_in(glm, getattr(torch, settings.dtype)), text_normaliser:
            self.frontend, self.text_frontend, _, self.llm, self.flow = glm.load_models(
                use_phoneme=settings.use_phoneme, sample_rate=settings.sample_rate
            )
        if settings.dtype != "float32":
            sample_in_float32(self.llm.llama)
            release_cached_memory(torch)  # what loading left in the allocator's cache
        protocol.log(f"GLM-TTS loaded in {time.monotonic() - started:.1f} s on {self.device} ({settings.dtype})")
        self.inventory = load_inventory(settings.repo) if settings.use_phoneme else frozenset()
        self.voices: "collections.OrderedDict[tuple, PromptFeatures]" = collections.OrderedDict()
        oom = getattr(torch.cuda, "OutOfMemoryError", None)
        self.oom_types: tuple = (oom,) if isinstance(oom, type) else ()
        self.decoder: BatchDecoder | None = None
        if settings.max_batch > 1:
            self._enter_batch_mode()

    def _enter_batch_mode(self) -> None:
        """GLMTTS_MAX_BATCH > 1: segments run on threads of their own (protocol.serve_concurrently)
        and their LLM chunks are decoded together by one BatchDecoder. GLM-TTS's shared parts are
        guarded (glmtts_threads.py), and its per-chunk set_seed, which would reseed the global
        generators under another segment's flow, is replaced: each chunk's LLM draws come from
        the row's own generator, and its flow runs under a lock from that generator's state
        (`_flow_forward`), which is where GLM-TTS's own flow would start drawing."""
        frontend_lock = threading.RLock()
        self.frontend = Serialized(self.frontend, frontend_lock)
        self.text_frontend = Serialized(self.text_frontend, frontend_lock)
        self.voices_lock = threading.Lock()
        self.readings_lock = ReadingsLock()
        self.rng_lock = threading.Lock()
        self.chunk = threading.local()
        self.glm.seed_util.set_seed = lambda _seed: None
        self.decoder = BatchDecoder(
            self.llm,
            self.device,
            self.settings.max_batch,
            wait_seconds=self.settings.batch_wait_seconds,
            log=protocol.log,
            thread_setup=self.thread_setup,
        )

    def thread_setup(self) -> None:
        """What each thread running GLM-TTS needs: CPU mode is a torch mode, held per thread."""
        if self.settings.device == "cpu":
            enter_cpu_mode()

    @property
    def capabilities(self) -> dict:
        return {
            "engine": "glm-tts",
            "version": repo_version(self.settings.repo),
            "sampleRates": [self.settings.sample_rate],
            "cloning": True,
            "voiceFollowing": ["timbre", "emotion", "rate"],
            "phonemeControl": self.settings.use_phoneme,
            "languages": ["zh", "en"],
            "maxSegmentChars": self.settings.max_segment_chars,
            "maxBatch": self.settings.max_batch,
            "requiresVoice": True,
            "options": list(OPTION_NAMES),
            # The same seed, text and voice give the same audio; without a seed, results are not
            # reused. Not so for a batch on a GPU: its reduced-precision sums depend on the rows
            # beside a request, so a seed no longer names one result there.
            **({} if self.decoder is not None and self.decoder.on_cuda else {"deterministic": "seeded"}),
        }

    # -- per segment ---------------------------------------------------------------------------

    def synthesize(self, job: Job) -> dict:
        rate = self.settings.sample_rate
        if job.voice is None:
            raise HostError("E_ENGINE_REJECTED", "GLM-TTS clones a voice: send a reference voice with the segment")
        if job.sample_rate is not None and job.sample_rate != rate:
            raise HostError("E_ENGINE_REJECTED", f"this host's model is loaded for {rate} Hz, not {job.sample_rate} Hz")
        out_of_memory = None
        try:
            pcm = self._generate(job)
        except HostError:
            raise
        except Exception as error:
            if not self._is_oom(error):
                raise
            out_of_memory = f"GPU out of memory on a {len(job.text)}-character segment: {error}"
        if out_of_memory is not None:
            # Only now, outside the handler, are the traceback's frames (and the KV cache and
            # activations they hold) gone, so that emptying the cache gives their memory back.
            self.free_gpu_memory()
            raise HostError("E_ENGINE_OOM", out_of_memory, True)
        duration_ms = write_pcm16(job.out_path, rate, pcm)
        return {"sampleRate": rate, "durationMs": duration_ms}

    def _generate(self, job: Job) -> bytes:
        """GLM-TTS's generate_long on one segment, fed as its demo feeds it; 16-bit PCM out."""
        use_cache, use_phoneme, sample_method = self._options(job)
        readings = self._readings(job)
        if readings:
            use_phoneme = True  # the replace dictionary is applied by GLM-TTS's phoneme pass
        features = self._prompt_features(job.voice)
        norm_text = self._splittable(self.text_frontend.text_normalize(job.text))
        readings = self._applicable_readings(readings, norm_text)
        job.check_canceled()
        cache = {  # fresh for every job: generate_long appends each chunk's tokens to it
            "cache_text": [features.prompt_text],
            "cache_text_token": [features.text_token],
            "cache_speech_token": [list(features.speech_token)],
            "use_cache": use_cache,
        }
        flow_prompt_token = self.torch.tensor([list(features.speech_token)], dtype=self.torch.int32).to(self.device)
        with self._readings_guard(readings, use_phoneme), self._forced_readings(readings):
            speech, _, _, _ = self.glm.generate_long(
                frontend=self.frontend,
                text_frontend=self.text_frontend,
                llm=self.llm,
                flow=self.flow,
                text_info=[job.id, norm_text],
                cache=cache,
                device=self.device,
                embedding=features.embedding,
                seed=job.seed if job.seed is not None else 0,
                sample_method=sample_method,
                flow_prompt_token=flow_prompt_token,
                speech_feat=features.speech_feat,
                local_llm_forward=self._llm_forward(job),
                local_flow_forward=self._flow_forward(job),
                use_phoneme=use_phoneme,
            )
        return (speech.squeeze(0).clamp(-1.0, 1.0) * 32767.0).to(self.torch.int16).cpu().numpy().tobytes()

    def _options(self, job: Job) -> tuple[bool, bool, str]:
        try:
            use_cache, use_phoneme, sample_method = job_options(job.options)
        except ValueError as error:
            raise HostError("E_ENGINE_REJECTED", str(error)) from None
        if use_phoneme and not self.settings.use_phoneme:
            raise HostError("E_ENGINE_REJECTED", "this host was loaded without phoneme support (GLMTTS_USE_PHONEME=0)")
        return use_cache, use_phoneme, sample_method

    def _readings(self, job: Job) -> dict[str, str]:
        if not job.pronunciations:
            return {}
        if not self.settings.use_phoneme:
            raise HostError("E_ENGINE_REJECTED", "forced readings need a host loaded with phoneme support (GLMTTS_USE_PHONEME=1)")
        readings = {}
        for entry in job.pronunciations:
            try:
                readings[entry["text"]] = reading_tokens(entry["pinyin"], self.inventory)
            except PronunciationError as error:
                raise HostError("E_PRONUNCIATION_INVALID", f'{entry["text"]}: {error}') from None
        return readings

    def _splittable(self, norm_text: str) -> str:
        """The text, with commas added where GLM-TTS could not split it. Its split_hard indexes
        the 60th unit of any run that counts more than 60, and a run of long English words with
        no punctuation counts that in fewer than 60 words: IndexError, for a text that is
        perfectly readable. Such a run is broken with a comma every few words instead."""
        try:
            self.text_frontend.split_by_len(norm_text)
            return norm_text
        except IndexError:
            pass
        words = norm_text.split(" ")
        groups = [" ".join(words[i : i + WORDS_PER_BREAK]) for i in range(0, len(words), WORDS_PER_BREAK)]
        text = " ".join(group if group[-1:] in TRAILING_PUNCTUATION else group + "," for group in groups[:-1]) + " " + groups[-1]
        protocol.log(f"a run of {len(words)} words without punctuation was broken with commas every {WORDS_PER_BREAK} words: GLM-TTS cannot split it")
        return text.strip()

    def _applicable_readings(self, readings: dict[str, str], norm_text: str) -> dict[str, str]:
        """GLM-TTS matches forced readings against each of its text chunks after normalising the
        chunk again (generate_long: split_by_len, then text_normalize): the same chunks are made
        here to see what each key has become. A key rewritten by normalisation (digits, Latin,
        full-width characters) is matched in its normalised form; one that no chunk contains
        (it straddles two chunks, or normalisation changed it beyond recognition) is refused
        rather than silently ignored."""
        if not readings:
            return readings
        pieces = self.text_frontend.split_by_len(norm_text)
        chunks = [self.text_frontend.text_normalize(piece) for piece in pieces]
        applicable = {}
        for key, tokens in readings.items():
            normalised = self.text_frontend.text_normalize(key).strip().rstrip(TRAILING_PUNCTUATION)
            match = next((form for form in (key, normalised, normalised.lower()) if form and any(form in chunk for chunk in chunks)), None)
            # Every occurrence must lie inside one chunk: one cut in two would be read without it.
            if match is not None and sum(piece.count(match) for piece in pieces) < "".join(pieces).count(match):
                match = None
            if match is None:
                raise HostError(
                    "E_PRONUNCIATION_INVALID",
                    f'the forced reading for "{key}" cannot be applied: GLM-TTS reads this text as {chunks!r}, in which '
                    f'"{key}" (normalised: "{normalised}") does not occur whole. Give readings for words in Chinese characters as '
                    "they stand in the text (GLM-TTS rewrites digits, Latin letters and full-width characters), within one sentence.",
                )
            applicable[match] = tokens
        return applicable

    def _readings_guard(self, readings: dict[str, str], use_phoneme: bool):
        """In batch mode, the replace dictionary is changed by one segment at a time, and read
        by no other segment meanwhile (glmtts_threads.ReadingsLock)."""
        if self.decoder is None or not use_phoneme:
            return contextlib.nullcontext()
        return self.readings_lock.exclusive() if readings else self.readings_lock.shared()

    @contextlib.contextmanager
    def _forced_readings(self, readings: dict[str, str]):
        """Adds this job's readings to GLM-TTS's replace dictionary and restores it afterwards."""
        if not readings:
            yield
            return
        table = self.text_frontend.replace_dict
        saved = {key: table.get(key) for key in readings}
        table.update(readings)
        try:
            yield
        finally:
            for key, old in saved.items():
                if old is None:
                    table.pop(key, None)
                else:
                    table[key] = old

    def _prompt_features(self, voice: dict) -> PromptFeatures:
        """Extracted once per (audio hash, prompt text, sample rate); least recently used go first."""
        if self.decoder is None:
            return self._extract_prompt_features(voice)
        with self.voices_lock:  # one extraction per voice, however many segments ask at once
            return self._extract_prompt_features(voice)

    def _extract_prompt_features(self, voice: dict) -> PromptFeatures:
        key = (voice["sha256"], voice.get("promptText", ""), self.settings.sample_rate)
        cached = self.voices.get(key)
        if cached is not None:
            self.voices.move_to_end(key)
            return cached
        prompt_text = voice.get("promptText", "")
        if not prompt_text:
            protocol.log("warning: no transcript for this reference voice; GLM-TTS clones better with one")
        path = voice["audioPath"]
        started = time.monotonic()
        norm_prompt = self.text_frontend.text_normalize(prompt_text) + " "
        features = PromptFeatures(
            prompt_text=norm_prompt,
            text_token=self.frontend._extract_text_token(norm_prompt),
            speech_token=self.frontend._extract_speech_token([path]).reshape(-1).tolist(),  # a list even for one token
            speech_feat=self.frontend._extract_speech_feat(path, sample_rate=self.settings.sample_rate),
            embedding=self.frontend._extract_spk_embedding(path),
        )
        self.voices[key] = features
        protocol.log(f"prompt features extracted for voice {voice['sha256'][:12]} ({len(features.speech_token)} speech tokens, {time.monotonic() - started:.2f} s)")
        while len(self.voices) > self.settings.voice_cache_size:
            self.voices.popitem(last=False)
        return features

    def _llm_forward(self, job: Job):
        """GLM-TTS's own LLM step, with a cancel check before each of its text chunks; in batch
        mode the chunk is decoded in the batch instead, and a cancel takes its row out at once."""
        forward = self.glm.local_llm_forward
        decoder = self.decoder

        def checked(**kwargs: Any):
            job.check_canceled()
            if decoder is None:
                return forward(**kwargs)
            decoded = decoder.decode(
                kwargs["prompt_text_token"],
                kwargs["tts_text_token"],
                kwargs["prompt_speech_token"],
                seed=self._seed(job),
                sample_method=kwargs.get("sample_method", "ras"),
                sampling_k=kwargs.get("sampling", 25),
                canceled=job.canceled,
            )
            self.chunk.generator = decoded.generator
            return decoded.tokens

        return checked

    def _flow_forward(self, job: Job):
        """GLM-TTS's flow for one chunk. In batch mode it runs under the random-state lock, from
        the state GLM-TTS's own flow would start from: the seed's, advanced by the chunk's LLM
        draws (on CUDA, where those draws are taken on the CPU, the GPU generator starts from
        the seed)."""
        forward = self.glm.local_flow_forward
        if self.decoder is None:
            return forward
        torch = self.torch

        def seeded(**kwargs: Any):
            seed = self._seed(job)
            with self.rng_lock:
                random.seed(seed)
                numpy_random_seed(seed)
                torch.default_generator.set_state(self.chunk.generator.get_state())
                if self.decoder.on_cuda:
                    torch.cuda.manual_seed(seed)
                return forward(**kwargs)

        return seeded

    @staticmethod
    def _seed(job: Job) -> int:
        return job.seed if job.seed is not None else 0

    # -- memory ----------------------------------------------------------------------------------

    def _is_oom(self, error: BaseException) -> bool:
        return isinstance(error, self.oom_types) or "out of memory" in str(error).lower()

    def free_gpu_memory(self) -> None:
        """Returns cached CUDA blocks to the driver (after an OOM, and when idle)."""
        release_cached_memory(self.torch)


def main(argv: list[str]) -> int:
    if "--check" in argv:
        return run_check(os.environ)
    protocol.take_stdout()
    try:
        settings = GlmttsSettings.from_env(os.environ)
        enter_repo(settings)
        engine = GlmTtsEngine(settings)
    except SettingsError as error:
        protocol.fail_start(str(error))
    except Exception as error:  # a missing package or checkpoint: say which, then exit
        protocol.fail_start(f"GLM-TTS could not load: {type(error).__name__}: {error} (run with --check)")
    protocol.announce_ready(engine.capabilities)
    loop = protocol.HostLoop()
    if engine.decoder is None:
        loop.serve(engine.synthesize, on_idle=engine.free_gpu_memory, idle_seconds=settings.idle_free_seconds)
    else:
        try:
            loop.serve_concurrently(
                engine.synthesize, settings.max_batch, thread_setup=engine.thread_setup, on_idle=engine.free_gpu_memory, idle_seconds=settings.idle_free_seconds
            )
        finally:
            engine.decoder.close()
        # Every job is answered and flushed. A batched host leaves by os._exit: native threads
        # (torch's, onnxruntime's) started from the job threads can abort Python's finalisation
        # ("terminate called without an active exception", a signal instead of exit status 0).
        sys.stderr.flush()
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The batched decoder (python/hosts/glmtts_batch.py) against GLM-TTS's own code: its samplers
(cosyvoice/utils/common.py, GLMTTS.sampling_ids) and its LLM loop (GLMTTS.inference), on the
CPU with a tiny randomly initialised Llama inside GLM-TTS's real GLMTTS wrapper.

    GLMTTS_REPO=/path/to/GLM-TTS python -m unittest python/testing/test_glmtts_batch.py

Run by `npm run test:glmtts-real` in the GLM-TTS venv.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "hosts"))
REPO = os.environ.get("GLMTTS_REPO", "")
if REPO:
    sys.path.insert(1, os.path.abspath(REPO))

import torch  # noqa: E402

import glmtts_sampling as sampling  # noqa: E402
from glmtts_batch import BatchDecoder  # noqa: E402
from ttsq_protocol import Canceled, HostError  # noqa: E402

VOCAB = 400
SPECIAL = {"ats": 100, "ate": 398, "boa": 1, "eoa": 399, "pad": 0}


def tiny_glmtts():
    """GLM-TTS's GLMTTS wrapper around a tiny random Llama whose end of audio is reachable."""
    from llm.glmtts import GLMTTS

    folder = tempfile.mkdtemp(prefix="glmtts-batch-test-")
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "num_hidden_layers": 2,
        "vocab_size": VOCAB,
        "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": False,
    }
    path = os.path.join(folder, "config.json")
    with open(path, "w") as file:
        json.dump(config, file)
    torch.manual_seed(1234)
    llm = GLMTTS(llama_cfg_path=path, mode="PRETRAIN", spk_prompt_dict_path=os.path.join(REPO, "configs", "spk_prompt_dict.yaml"))
    with torch.no_grad():
        # A strong end-of-audio logit bias: rows end at different lengths, after their minimum.
        llm.llama.lm_head.weight.mul_(4.0)
        llm.llama.lm_head.weight[SPECIAL["eoa"]] += 0.35
    llm.set_runtime_vars(SPECIAL)
    llm.eval()
    return llm


def request(text_len: int, prompt_text_len: int, prompt_speech_len: int, salt: int):
    generator = torch.Generator().manual_seed(salt)
    return {
        "prompt_text_token": torch.randint(2, 100, (1, prompt_text_len), generator=generator),
        "tts_text_token": torch.randint(2, 100, (1, text_len), generator=generator),
        "prompt_speech_token": torch.randint(0, 290, (1, prompt_speech_len), generator=generator, dtype=torch.int64).to(torch.int32),
    }


# Eight mixed requests: text and prompt lengths, seeds, both samplers.
MIXED = [
    (request(3, 4, 20, 1), 7, "ras"),
    (request(6, 2, 9, 2), 8, "ras"),
    (request(2, 5, 31, 3), 2**32 - 1, "ras"),
    (request(5, 3, 14, 4), 0, "topk"),
    (request(4, 6, 5, 5), 7, "ras"),
    (request(1, 1, 40, 6), 99, "ras"),
    (request(7, 4, 12, 7), 12345, "topk"),
    (request(3, 2, 25, 8), 31337, "ras"),
]


def alone(llm, inputs: dict, seed: int, method: str) -> list:
    """GLM-TTS's own loop, as glmtts_inference.generate_long runs it: set_seed, then
    local_llm_forward (GLMTTS.inference)."""
    from utils import seed_util

    seed_util.set_seed(seed)
    with contextlib.redirect_stdout(io.StringIO()):  # its warnings about tokens outside the audio range
        tokens = llm.inference(
            text=inputs["tts_text_token"],
            text_len=inputs["tts_text_token"].shape[1],
            prompt_text=inputs["prompt_text_token"],
            prompt_text_len=inputs["prompt_text_token"].shape[1],
            prompt_speech_token=inputs["prompt_speech_token"],
            prompt_speech_token_len=inputs["prompt_speech_token"].shape[1],
            sample_method=method,
            spk=None,
        )
    return tokens[0].tolist(), torch.default_generator.get_state()


def in_threads(decoder: BatchDecoder, requests: list, canceled: dict | None = None, stagger: float = 0.0) -> dict:
    results: dict = {}

    def one(index: int, inputs: dict, seed: int, method: str) -> None:
        try:
            results[index] = decoder.decode(**inputs, seed=seed, sample_method=method, canceled=(canceled or {}).get(index))
        except BaseException as error:  # noqa: BLE001
            results[index] = error

    threads = []
    for index, (inputs, seed, method) in enumerate(requests):
        thread = threading.Thread(target=one, args=(index, inputs, seed, method))
        thread.start()
        threads.append(thread)
        if stagger:
            time.sleep(stagger)
    for thread in threads:
        thread.join(timeout=120)
    return results


@unittest.skipUnless(REPO, "GLMTTS_REPO is not set")
class BatchDecoderTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        os.chdir(REPO)
        cls.llm = tiny_glmtts()
        cls.expected = [alone(cls.llm, inputs, seed, method) for inputs, seed, method in MIXED]

    def test_samplers_draw_what_glmtts_draws(self) -> None:
        from cosyvoice.utils import common

        scores = torch.randn(2000, VOCAB, generator=torch.Generator().manual_seed(5)) * 3
        for index in range(scores.shape[0]):
            row = scores[index]
            if index % 7 == 0:  # ties among the most probable: the sampler's full-sort path
                row = (row * 2).round() / 2
            logp = row.log_softmax(dim=0)
            decoded = [int(t) for t in torch.randint(0, VOCAB, (index % 15,), generator=torch.Generator().manual_seed(index))]
            if index % 3 == 0 and decoded:
                decoded.append(int(logp.argmax()))  # the repetition fallback's path
            torch.manual_seed(index)
            theirs = int(common.ras_sampling(logp, decoded, 25).item())
            generator = torch.Generator().manual_seed(index)
            self.assertEqual(sampling.ras(logp, decoded, generator), theirs, f"ras, row {index}")
            self.assertTrue(torch.equal(generator.get_state(), torch.default_generator.get_state()), f"draws taken, row {index}")
            torch.manual_seed(index)
            theirs = int(self.llm.sampling_ids(logp, 25, 1, ignore_eos=index % 2 == 0).item())
            generator = torch.Generator().manual_seed(index)
            self.assertEqual(sampling.top_k(logp, 25, SPECIAL["eoa"], index % 2 == 0, generator), theirs, f"top-k, row {index}")

    def test_each_row_of_a_mixed_batch_gives_the_tokens_it_gives_alone(self) -> None:
        decoder = BatchDecoder(self.llm, torch.device("cpu"), max_rows=8, wait_seconds=0.2)
        try:
            results = in_threads(decoder, MIXED)
        finally:
            decoder.close()
        lengths = set()
        for index, (tokens, state) in enumerate(self.expected):
            self.assertEqual(results[index].tokens, tokens, f"row {index}")
            self.assertTrue(torch.equal(results[index].generator.get_state(), state), f"row {index}: the flow starts from GLM-TTS's state")
            lengths.add(len(tokens))
        self.assertGreater(len(lengths), 3, "the rows end at different steps")
        self.assertEqual(decoder.stats.peak_rows, 8)

    def test_rows_joining_between_steps_and_a_canceled_row_leave_the_others_unchanged(self) -> None:
        decoder = BatchDecoder(self.llm, torch.device("cpu"), max_rows=8)
        stop = threading.Event()
        # A row that cannot end before step 80 (twice its text), canceled once it is decoding.
        doomed = (request(40, 3, 10, 9), 5, "ras")

        def cancel_when_decoding() -> None:
            while not any(row.canceled is stop and len(row.tokens) >= 5 for row in list(decoder.active)):
                time.sleep(0.001)
            stop.set()

        watcher = threading.Thread(target=cancel_when_decoding, daemon=True)
        watcher.start()
        try:
            results = in_threads(decoder, MIXED[:2] + [doomed] + MIXED[3:], canceled={2: stop}, stagger=0.02)
        finally:
            decoder.close()
        self.assertIsInstance(results[2], Canceled)
        for index, (tokens, _state) in enumerate(self.expected):
            if index != 2:
                self.assertEqual(results[index].tokens, tokens, f"row {index}")

    def test_out_of_memory_halves_the_batch_and_every_row_still_gets_its_tokens(self) -> None:
        class FailsAboveTwoRows(BatchDecoder):
            """Fault injection (a test double of CUDA's allocator): a step of more than two rows
            raises the out-of-memory error CUDA would, in its last layer, after the first layers
            have added the step's keys and values to the cache (as a real one can)."""

            def _forward(self, **inputs):
                def fail(_module, args):
                    if args[0].shape[0] > 2:
                        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected)")

                hook = self.llama.model.layers[-1].register_forward_pre_hook(fail)
                try:
                    return super()._forward(**inputs)
                finally:
                    hook.remove()

        logs: list = []
        decoder = FailsAboveTwoRows(self.llm, torch.device("cpu"), max_rows=8, wait_seconds=0.2, log=logs.append)
        try:
            results = in_threads(decoder, MIXED)
        finally:
            decoder.close()
        for index, (tokens, _state) in enumerate(self.expected):
            self.assertEqual(results[index].tokens, tokens, f"row {index}")
        self.assertGreaterEqual(decoder.stats.halvings, 2, logs)
        self.assertTrue(any("halved" in line for line in logs), logs)

    def test_out_of_memory_while_a_row_joins_takes_it_back_and_it_still_gets_its_tokens(self) -> None:
        class FailsJoiningTwice(BatchDecoder):
            """Fault injection: the first two prompts run beside other rows run out of memory."""

            failures = 0

            def _forward(self, **inputs):
                if inputs.get("past_key_values") is None and self.active and self.failures < 2:
                    self.failures += 1
                    raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")
                return super()._forward(**inputs)

        decoder = FailsJoiningTwice(self.llm, torch.device("cpu"), max_rows=8, wait_seconds=0.2)
        try:
            results = in_threads(decoder, MIXED)
        finally:
            decoder.close()
        self.assertEqual(decoder.failures, 2)
        for index, (tokens, _state) in enumerate(self.expected):
            self.assertEqual(results[index].tokens, tokens, f"row {index}")

    def test_a_row_whose_sampling_fails_fails_alone_and_the_others_get_their_tokens(self) -> None:
        class SamplingFailsForOneSeed(BatchDecoder):
            """Fault injection: sampling for the row of seed 8 raises after a few tokens."""

            def _sample(self, row, logp):
                if row.seed == 8 and len(row.tokens) >= 3:
                    raise RuntimeError("probability tensor contains either inf, nan or element < 0 (injected)")
                return super()._sample(row, logp)

        decoder = SamplingFailsForOneSeed(self.llm, torch.device("cpu"), max_rows=8, wait_seconds=0.2)
        try:
            results = in_threads(decoder, MIXED)
        finally:
            decoder.close()
        self.assertIsInstance(results[1], HostError)
        self.assertEqual(results[1].code, "E_ENGINE_FAILED")
        for index, (tokens, _state) in enumerate(self.expected):
            if index != 1:
                self.assertEqual(results[index].tokens, tokens, f"row {index}")

    def test_a_fault_in_the_decoder_itself_fails_every_waiting_request_instead_of_leaving_it_waiting(self) -> None:
        class BrokenAfterFailure(BatchDecoder):
            """Fault injection: every step fails, and handling the failure fails too."""

            def _step(self):
                raise RuntimeError("a step failed (injected)")

            def _after_failure(self, error):
                raise RuntimeError("handling it failed too (injected)")

        decoder = BrokenAfterFailure(self.llm, torch.device("cpu"), max_rows=4)
        try:
            results = in_threads(decoder, MIXED[:3])
        finally:
            decoder.close()
        for index in range(3):
            self.assertIsInstance(results[index], HostError, f"row {index}")
            self.assertTrue(results[index].retryable)

    def test_out_of_memory_on_one_row_alone_is_a_retryable_error(self) -> None:
        class AlwaysOutOfMemory(BatchDecoder):
            """Fault injection: every decoding step runs out of memory."""

            def _forward(self, **inputs):
                if inputs.get("past_key_values") is not None:
                    raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")
                return super()._forward(**inputs)

        decoder = AlwaysOutOfMemory(self.llm, torch.device("cpu"), max_rows=4)
        try:
            results = in_threads(decoder, MIXED[:1])
        finally:
            decoder.close()
        self.assertIsInstance(results[0], HostError)
        self.assertEqual(results[0].code, "E_ENGINE_OOM")
        self.assertTrue(results[0].retryable)


if __name__ == "__main__":
    unittest.main()

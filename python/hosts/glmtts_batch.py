"""Batched decoding of GLM-TTS's LLM stage, many requests through the model at once.

GLM-TTS's first stage (`GLMTTS.inference`, llm/glmtts.py) is a Llama that emits one speech
token per decoding step, one request at a time; on a GPU a step costs about the same for one
sequence as for sixty-four. `BatchDecoder` runs that loop for every request in flight together,
on one thread, while the requests' own threads run the rest of GLM-TTS (text front end, flow,
vocoder). A request is one of GLM-TTS's text chunks: `decode()` takes what `local_llm_forward`
takes and returns what it returns.

Continuous batching: a request joins between two steps (its prompt is run alone, then its keys
and values are merged into the batch's cache, left-padded), and leaves the step it ends, so a
long request never holds short ones back and nothing waits for a batch to drain.

Where it differs from GLM-TTS's own loop, and why:
- The prompt is run alone (exactly GLM-TTS's first forward), then decoding steps run batched
  with an attention mask over the left padding and explicit position ids.
- Each request samples with a generator of its own, seeded as GLM-TTS seeds the global one per
  chunk (glmtts_sampling.py), since rows with different seeds share the step. On the CPU the
  tokens are exactly GLM-TTS's. On CUDA the draws are taken on the CPU from a copy of the step's
  log-probabilities (one transfer per step instead of GLM-TTS's many small synchronisations per
  row), so a seed gives other, equally likely tokens than GLM-TTS's own loop on the GPU gives,
  the same at every batch size.
- Only the PRETRAIN and LORA modes' prompt layout is built (the hosts never use SFT speakers);
  GLM-TTS's warning about tokens outside the audio range is not printed.
- Memory: before a request joins on CUDA, the keys and values the batch would need are checked
  against free GPU memory; a CUDA out-of-memory error halves the batch (the rows taken out start
  again later, which gives the same tokens, since a row depends only on its prompt and seed) and
  the step is retried, instead of failing the requests.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import glmtts_sampling as sampling
from ttsq_protocol import Canceled, HostError

# After an out-of-memory halving, the batch may grow by one row per this many clean steps.
REGROW_AFTER_STEPS = 64
# Share of free GPU memory a joining row's keys and values may take.
MEMORY_HEADROOM = 0.8
# GLMTTS.inference's bounds on speech tokens per text token, which local_llm_forward leaves at
# their defaults: the end of audio is masked before min, decoding stops at max.
MIN_TOKEN_TEXT_RATIO = 2
MAX_TOKEN_TEXT_RATIO = 20


@dataclass
class Row:
    """One request: a text chunk's prompt, its bounds and sampler, its tokens so far."""

    embeds: Any  # the prompt's input embeddings, [1, length, hidden]
    min_len: int
    max_len: int
    sample_method: str
    top_k: int
    seed: int
    canceled: Optional[threading.Event]
    generator: Any = None
    tokens: list = field(default_factory=list)
    length: int = 0  # real (unpadded) positions in the cache
    done: threading.Event = field(default_factory=threading.Event)
    error: Optional[BaseException] = None

    def restart(self, torch: Any) -> None:
        """Back to its first step: the same prompt and seed give the same tokens again."""
        self.generator = torch.Generator().manual_seed(self.seed)
        self.tokens = []
        self.length = 0

    def is_canceled(self) -> bool:
        return self.canceled is not None and self.canceled.is_set()


@dataclass(frozen=True)
class Decoded:
    """A request's speech tokens (relative to GLM-TTS's first audio token, as local_llm_forward
    returns them) and its generator as the last draw left it: the flow draws from there on, as
    GLM-TTS's flow draws from the global generator after the LLM's draws."""

    tokens: list
    generator: Any


@dataclass
class DecoderStats:
    steps: int = 0
    peak_rows: int = 0
    rows_done: int = 0
    halvings: int = 0


class BatchDecoder:
    """Decodes up to `max_rows` GLM-TTS requests at once on a thread of its own."""

    def __init__(
        self,
        llm: Any,
        device: Any,
        max_rows: int,
        wait_seconds: float = 0.0,
        log: Callable[[str], None] = lambda _message: None,
        thread_setup: Callable[[], None] = lambda: None,
    ):
        import torch

        self.torch = torch
        self.llm = llm
        self.llama = llm.llama
        self.device = device
        self.on_cuda = getattr(device, "type", str(device)).startswith("cuda")
        if self.on_cuda:
            # With a padding mask, torch picks cuDNN's attention, which builds a graph for every new
            # key length (each step's), 70 ms a step on an H200, and fails when short of workspace
            # memory; the memory-efficient and flash kernels take the mask as it is.
            torch.backends.cuda.enable_cudnn_sdp(False)
        self.max_rows = max_rows
        self.limit = max_rows  # lowered by out-of-memory errors, regrown slowly
        self.wait_seconds = wait_seconds
        self.log = log
        self.stats = DecoderStats()
        self.pending: "collections.deque[Row]" = collections.deque()
        self.active: list[Row] = []
        self.joining: Optional[Row] = None  # taken from `pending`, not yet in `active`
        self.cache: Any = None  # the batch's DynamicCache, left-padded to `mask`'s width
        self.mask: Any = None  # [rows, width]: 1 where a row has a real position
        self.clean_steps = 0
        self.wake = threading.Condition()
        self.closed = False
        oom = getattr(torch.cuda, "OutOfMemoryError", None)
        self.oom_types: tuple = (oom,) if isinstance(oom, type) else ()
        self.thread = threading.Thread(target=self._run, args=(thread_setup,), name="glmtts-batch-decoder", daemon=True)
        self.thread.start()

    # -- the requests' side ----------------------------------------------------------------------

    def decode(
        self,
        prompt_text_token: Any,
        tts_text_token: Any,
        prompt_speech_token: Any,
        seed: int,
        sample_method: str = "ras",
        sampling_k: int = 25,
        canceled: Optional[threading.Event] = None,
    ) -> Decoded:
        """GLM-TTS's local_llm_forward for one chunk, decoded in the batch."""
        torch = self.torch
        llm = self.llm
        if sample_method not in ("ras", "topk"):
            raise ValueError(f"Unknown sample_method: {sample_method}")
        text_len = tts_text_token.shape[1]
        speech = prompt_speech_token
        if prompt_speech_token.shape[1] != 0 and prompt_text_token.shape[1] != 0:
            speech = prompt_speech_token + llm.ats
        with torch.inference_mode():
            begin = torch.tensor([llm.boa], device=tts_text_token.device).unsqueeze(0)
            input_ids = torch.cat([prompt_text_token, tts_text_token, begin, speech], dim=1).to(torch.long)
            embeds = llm.llama_embedding(input_ids.to(self.device))
        row = Row(embeds=embeds, min_len=int(text_len * MIN_TOKEN_TEXT_RATIO), max_len=int(text_len * MAX_TOKEN_TEXT_RATIO), sample_method=sample_method, top_k=sampling_k, seed=seed, canceled=canceled)
        row.restart(torch)
        if row.max_len == 0:
            return Decoded([], row.generator)
        with self.wake:
            if self.closed:
                raise HostError("E_ENGINE_FAILED", "the batch decoder has stopped", True)
            self.pending.append(row)
            self.wake.notify_all()
        while not row.done.wait(0.05):
            if row.is_canceled():
                with self.wake:
                    self.wake.notify_all()
        if row.error is not None:
            raise row.error
        return Decoded([token - llm.ats for token in row.tokens], row.generator)

    def close(self) -> None:
        with self.wake:
            self.closed = True
            self.wake.notify_all()
        self.thread.join(timeout=30)

    # -- the decoding thread --------------------------------------------------------------------

    def _run(self, thread_setup: Callable[[], None]) -> None:
        try:
            thread_setup()
            self._loop()
        finally:
            # However the loop ended (closed, or a fault in the decoder itself), no request is
            # left waiting for tokens that will never come.
            with self.wake:
                self.closed = True
                rows = list(self.active) + list(self.pending) + ([self.joining] if self.joining is not None else [])
            for row in rows:
                self._finish(row, HostError("E_ENGINE_FAILED", "the batch decoder stopped", True))

    def _loop(self) -> None:
        while True:
            with self.wake:
                while not self.closed and not self.pending and not self.active:
                    self.wake.wait()
                if self.closed:
                    break
                if not self.active and self.wait_seconds > 0:
                    # An idle decoder gives a first request a moment for others to arrive with it.
                    deadline = time.monotonic() + self.wait_seconds
                    while len(self.pending) < self.limit and not self.closed and (left := deadline - time.monotonic()) > 0:
                        self.wake.wait(left)
            try:
                self._drop_canceled()
                self._admit()
                if self.active:
                    self._step()
            except Exception as error:  # noqa: BLE001 (every row must hear of it)
                failure = error
            else:
                continue
            self._after_failure(failure)

    def _after_failure(self, error: BaseException) -> None:
        """Outside the except block: an out-of-memory error's frames (the step's activations) are
        gone by now, so emptying the cache gives their memory back. A row that was joining
        starts again later, or fails with the error."""
        joining, self.joining = self.joining, None
        if self._is_oom(error) and joining is not None:
            self._free_memory()
            if not self.active:
                self._finish(joining, HostError("E_ENGINE_OOM", f"GPU out of memory starting one request alone: {error}", True))
                return
            # The rows decoding are not at fault: the batch stops growing at its size for now.
            joining.restart(self.torch)
            with self.wake:
                self.pending.appendleft(joining)
            self.limit = len(self.active)
            self.stats.halvings += 1
            self.clean_steps = 0
            self.log(f"GPU out of memory adding a row to {len(self.active)}: the batch stays at {self.limit} for now")
            return
        if self._is_oom(error):
            self._halve(error)
            return
        for row in list(self.active) + ([joining] if joining is not None else []):
            self._finish(row, error)
        self._reset_batch()

    def _is_oom(self, error: BaseException) -> bool:
        return isinstance(error, self.oom_types) or "out of memory" in str(error).lower()

    def _halve(self, error: BaseException) -> None:
        self._free_memory()
        rows = len(self.active)
        if rows <= 1:
            for row in list(self.active):
                self._finish(row, HostError("E_ENGINE_OOM", f"GPU out of memory decoding one request alone: {error}", True))
            self.limit = max(1, self.limit // 2)
            self._reset_batch()
            return
        # The failed step may have appended its keys and values to some layers already.
        width = self.mask.shape[1]
        for layer in self._layers(self.cache):
            layer.keys, layer.values = layer.keys[:, :, :width], layer.values[:, :, :width]
        self.limit = max(1, rows // 2)
        self.stats.halvings += 1
        self.clean_steps = 0
        keep, back = self.active[: self.limit], self.active[self.limit :]
        self._select(list(range(len(keep))))
        for row in reversed(back):
            row.restart(self.torch)
            self.pending.appendleft(row)
        self.log(f"GPU out of memory at {rows} rows: the batch is halved to {self.limit}; {len(back)} rows start again")

    def _free_memory(self) -> None:
        import gc

        gc.collect()
        if self.on_cuda:
            self.torch.cuda.empty_cache()

    def _drop_canceled(self) -> None:
        with self.wake:
            for row in [row for row in self.pending if row.is_canceled()]:
                self.pending.remove(row)
                self._finish(row, Canceled())
        gone = [index for index, row in enumerate(self.active) if row.is_canceled()]
        if gone:
            for index in gone:
                self._finish(self.active[index], Canceled())
            self._select([index for index in range(len(self.active)) if index not in gone])

    def _admit(self) -> None:
        """Runs each waiting request's prompt alone and merges it into the batch, while there is
        room (the batch limit, and on CUDA free memory for its keys and values)."""
        while len(self.active) < self.limit:
            with self.wake:
                if not self.pending:
                    return
                row = self.pending[0]
                if self.active and not self._fits(row):
                    return
                self.pending.popleft()
                self.joining = row
            cache, logits = self._prefill(row)
            self._sample_alone(row, logits[0])
            if not row.done.is_set():
                self._merge(row, cache)
            self.joining = None

    def _fits(self, row: Any) -> bool:
        if not self.on_cuda:
            return True
        width = max(self.mask.shape[1] if self.mask is not None else 0, row.embeds.shape[1]) + row.max_len
        needed = self._kv_bytes_per_position() * width * (len(self.active) + 1)
        held = self._kv_bytes_per_position() * (self.mask.numel() if self.mask is not None else 0)
        free, _total = self.torch.cuda.mem_get_info(self.device)
        reusable = self.torch.cuda.memory_reserved(self.device) - self.torch.cuda.memory_allocated(self.device)
        return needed - held < (free + reusable) * MEMORY_HEADROOM

    def _kv_bytes_per_position(self) -> int:
        config = self.llama.config
        heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        element = self.llama.model.embed_tokens.weight.element_size()
        return 2 * config.num_hidden_layers * heads * head_dim * element

    def _forward(self, **inputs: Any) -> Any:
        """One call of GLM-TTS's Llama (a seam the out-of-memory tests wrap)."""
        return self.llama(**inputs)

    def _prefill(self, row: Row) -> tuple[Any, Any]:
        """GLM-TTS's first forward, exactly: the prompt alone, no mask, fresh cache."""
        with self.torch.inference_mode():
            outputs = self._forward(inputs_embeds=row.embeds, use_cache=True, return_dict=True, past_key_values=None)
            logits = outputs["logits"][:, -1].log_softmax(dim=-1)
        row.length = row.embeds.shape[1]
        return outputs["past_key_values"], logits

    def _step(self) -> None:
        torch = self.torch
        with torch.inference_mode():
            last = torch.tensor([[row.tokens[-1]] for row in self.active], device=self.device)
            embeds = self.llm.llama_embedding(last)
            step_mask = torch.ones((len(self.active), 1), dtype=self.mask.dtype, device=self.device)
            mask = torch.cat([self.mask, step_mask], dim=1)
            positions = torch.tensor([[row.length] for row in self.active], device=self.device)
            outputs = self._forward(
                inputs_embeds=embeds, attention_mask=mask, position_ids=positions, past_key_values=self.cache, use_cache=True, return_dict=True
            )
            logits = outputs["logits"][:, -1].log_softmax(dim=-1)
        self.cache = outputs["past_key_values"]
        self.mask = mask
        for row in self.active:
            row.length += 1
        self.stats.steps += 1
        self.clean_steps += 1
        if self.limit < self.max_rows and self.clean_steps >= REGROW_AFTER_STEPS:
            self.limit += 1
            self.clean_steps = 0
        if self.on_cuda:
            logits = logits.cpu()
        for index, row in enumerate(self.active):
            self._sample_alone(row, logits[index])
        finished = [index for index, row in enumerate(self.active) if row.done.is_set()]
        if finished:
            self._select([index for index in range(len(self.active)) if index not in finished])

    def _sample_alone(self, row: Row, logp: Any) -> None:
        """Samples one row; a fault in its sampling (a row's own logits, say) fails that row
        only, while the others carry on. Out of memory goes to the batch's handling."""
        try:
            self._sample(row, logp)
        except Exception as error:  # noqa: BLE001
            if self._is_oom(error):
                raise
            self._finish(row, HostError("E_ENGINE_FAILED", f"sampling failed: {type(error).__name__}: {error}", False))

    def _sample(self, row: Row, logp: Any) -> None:
        """One token for the row, as GLM-TTS's loop takes it at step len(row.tokens)."""
        if row.is_canceled():
            self._finish(row, Canceled())
            return
        if self.on_cuda and logp.device.type != "cpu":
            logp = logp.cpu()
        step = len(row.tokens)
        early = step < row.min_len
        eoa = self.llm.eoa
        if row.sample_method == "ras":
            if early:
                logp = logp.clone()
                logp[eoa] = -float("inf")
            token = sampling.ras(logp, row.tokens, row.generator)
        else:
            token = sampling.top_k(logp, row.top_k, eoa, early, row.generator)
        if token == eoa:
            self._finish(row)
            return
        row.tokens.append(token)
        if len(row.tokens) >= row.max_len:
            self._finish(row)

    def _finish(self, row: Row, error: Optional[BaseException] = None) -> None:
        if row.done.is_set():
            return
        row.error = error
        if error is None:
            self.stats.rows_done += 1
        row.done.set()

    # -- the batch's cache ----------------------------------------------------------------------

    def _layers(self, cache: Any) -> list:
        return cache.layers

    def _merge(self, row: Row, cache: Any) -> None:
        """The row's prompt cache joins the batch: both left-padded to the wider of the two."""
        torch = self.torch
        row_mask = torch.ones((1, row.length), dtype=torch.long, device=self.device)
        if not self.active:
            self.cache, self.mask, self.active = cache, row_mask, [row]
            return
        width = max(self.mask.shape[1], row.length)
        for batch_layer, row_layer in zip(self._layers(self.cache), self._layers(cache)):
            batch_layer.keys = torch.cat([self._pad(batch_layer.keys, width), self._pad(row_layer.keys, width)], dim=0)
            batch_layer.values = torch.cat([self._pad(batch_layer.values, width), self._pad(row_layer.values, width)], dim=0)
        self.mask = torch.cat([self._pad(self.mask, width, dim=1), self._pad(row_mask, width, dim=1)], dim=0)
        self.active.append(row)
        self.stats.peak_rows = max(self.stats.peak_rows, len(self.active))

    def _pad(self, tensor: Any, width: int, dim: int = -2) -> Any:
        missing = width - tensor.shape[dim]
        if missing == 0:
            return tensor
        shape = list(tensor.shape)
        shape[dim] = missing
        return self.torch.cat([self.torch.zeros(shape, dtype=tensor.dtype, device=tensor.device), tensor], dim=dim)

    def _select(self, keep: list) -> None:
        """Keeps these rows (by index) and drops the padding no remaining row needs."""
        if not keep:
            self._reset_batch()
            return
        self.active = [self.active[index] for index in keep]
        index = self.torch.tensor(keep, device=self.device)
        width = self.mask.shape[1]
        start = width - max(row.length for row in self.active)
        self.mask = self.mask.index_select(0, index)[:, start:]
        for layer in self._layers(self.cache):
            layer.keys = layer.keys.index_select(0, index)[:, :, start:]
            layer.values = layer.values.index_select(0, index)[:, :, start:]

    def _reset_batch(self) -> None:
        self.active, self.cache, self.mask = [], None, None

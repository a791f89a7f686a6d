"""The host side of the engine-host protocol (docs/engine-protocol.md), for hosts in Python.

stdin is read on a thread of its own so that `cancel` and `ping` arrive while a segment is being
synthesised; the engine runs on the main thread, one segment (or one batch, for a host whose
maxBatch is larger) at a time. stdout carries protocol messages only: `take_stdout()` moves every
other writer (print, C libraries) to stderr first.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, NoReturn, Optional, TextIO

PROTOCOL_VERSION = 1


class HostError(Exception):
    """A failure answered as `error {code, message, retryable}` for the segment."""

    def __init__(self, code: str, message: str, retryable: bool = False):
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable


class Canceled(HostError):
    def __init__(self) -> None:
        super().__init__("E_CANCELED", "the segment was canceled", False)


@dataclass
class Job:
    """One `synthesize` request, as sent, and its cancel flag."""

    id: str
    text: str
    out_path: str
    voice: Optional[dict]
    sample_rate: Optional[int]
    seed: Optional[int]
    pronunciations: list
    options: dict
    canceled: threading.Event = field(default_factory=threading.Event)

    def check_canceled(self) -> None:
        """Raises Canceled if the supervisor asked to stop this segment."""
        if self.canceled.is_set():
            raise Canceled()


_protocol_out: Optional[TextIO] = None
_write_lock = threading.Lock()


def take_stdout() -> None:
    """Keeps the real stdout for protocol messages and points file descriptor 1 at stderr, so
    that nothing a library prints (GLM-TTS prints progress) can corrupt the message stream."""
    global _protocol_out
    if _protocol_out is not None:
        return
    sys.stdout.flush()
    _protocol_out = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr


def send(message: dict) -> None:
    line = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    with _write_lock:
        out = _protocol_out or sys.stdout
        out.write(line + "\n")
        out.flush()


def log(message: str) -> None:
    """A log line on stderr, which the supervisor forwards to its own log."""
    print(message, file=sys.stderr, flush=True)


def send_error(job_id: Optional[str], code: str, message: str, retryable: bool) -> None:
    error: dict[str, Any] = {"type": "error", "code": code, "message": message, "retryable": retryable}
    if job_id is not None:
        error["id"] = job_id
    send(error)


def _optional_int(message: dict, key: str) -> Optional[int]:
    value = message.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f'"{key}" must be an integer, got {json.dumps(value)}')
    return value


# Seeds are what numpy.random.seed takes (GLM-TTS seeds numpy, random and torch from one).
SEED_MAX = 2**32 - 1


def _seed(message: dict) -> Optional[int]:
    seed = _optional_int(message, "seed")
    if seed is not None and not 0 <= seed <= SEED_MAX:
        raise ValueError(f'"seed" must be between 0 and {SEED_MAX}, got {seed}')
    return seed


def parse_job(message: dict) -> Job:
    """Checks a `synthesize` request's fields; raises ValueError naming the first bad one."""
    for key in ("id", "text", "outPath"):
        if not isinstance(message.get(key), str):
            raise ValueError(f'"synthesize" needs a string "{key}"')
    voice = message.get("voice")
    if voice is not None:
        if not isinstance(voice, dict) or not isinstance(voice.get("audioPath"), str) or not isinstance(voice.get("sha256"), str):
            raise ValueError('"voice" must be an object with string "audioPath" and "sha256"')
        if not isinstance(voice.get("promptText", ""), str):
            raise ValueError('"voice.promptText" must be a string')
    pronunciations = message.get("pronunciations") or []
    if not isinstance(pronunciations, list) or not all(
        isinstance(p, dict) and isinstance(p.get("text"), str) and isinstance(p.get("pinyin"), str) for p in pronunciations
    ):
        raise ValueError('"pronunciations" must be a list of {"text", "pinyin"} strings')
    options = message.get("options") or {}
    if not isinstance(options, dict):
        raise ValueError('"options" must be an object')
    return Job(
        id=message["id"],
        text=message["text"],
        out_path=message["outPath"],
        voice=voice,
        sample_rate=_optional_int(message, "sampleRate"),
        seed=_seed(message),
        pronunciations=pronunciations,
        options=options,
    )


Answer = Callable[[Job, "dict | HostError"], None]


class HostLoop:
    """Reads requests on a thread; runs jobs on the caller's thread, one at a time (`serve`) or
    in batches of up to the host's maxBatch (`serve_batches`), or each on a thread of its own
    (`serve_concurrently`)."""

    def __init__(self) -> None:
        self._jobs: "queue.Queue[Optional[Job]]" = queue.Queue()
        self._active: dict[str, Job] = {}
        self._canceled: set[str] = set()  # ids canceled before or while they run
        self._lock = threading.Lock()

    def _read(self, stdin: TextIO) -> None:
        for raw in stdin:
            line = raw.strip()
            if not line:
                continue
            try:
                message = json.loads(line)
                if not isinstance(message, dict):
                    raise ValueError("not a JSON object")
            except ValueError as error:
                send_error(None, "E_ENGINE_PROTOCOL", f"could not parse the request line: {error}", False)
                continue
            kind = message.get("type")
            if kind == "synthesize":
                try:
                    self._jobs.put(parse_job(message))
                except ValueError as error:
                    job_id = message.get("id") if isinstance(message.get("id"), str) else None
                    send_error(job_id, "E_ENGINE_PROTOCOL", str(error), False)
            elif kind == "cancel" and isinstance(message.get("id"), str):
                with self._lock:
                    # Remembered, so a job still queued (or being taken off the queue) is stopped too.
                    self._canceled.add(message["id"])
                    active = self._active.get(message["id"])
                    if active is not None:
                        active.canceled.set()
            elif kind == "ping" and isinstance(message.get("id"), str):
                send({"type": "pong", "id": message["id"]})
            elif kind == "shutdown":
                break
            else:
                send_error(None, "E_ENGINE_PROTOCOL", f"unknown request type {json.dumps(kind)}", False)
        self._jobs.put(None)  # shutdown or end of input: finish what is queued, then stop

    def serve(
        self,
        synthesize: Callable[[Job], dict],
        on_idle: Optional[Callable[[], None]] = None,
        idle_seconds: float = 0.0,
        stdin: TextIO = sys.stdin,
    ) -> None:
        """Answers each job with `done` (synthesize returns {sampleRate, durationMs}) or `error`.
        `on_idle` runs once each time the host has had nothing to do for `idle_seconds`."""

        def one(jobs: list[Job], answer: Answer) -> None:
            answer(jobs[0], synthesize(jobs[0]))

        self.serve_batches(one, 1, 0.0, on_idle, idle_seconds, stdin)

    def serve_batches(
        self,
        run_batch: Callable[[list[Job], Answer], None],
        max_batch: int,
        gather_seconds: float,
        on_idle: Optional[Callable[[], None]] = None,
        idle_seconds: float = 0.0,
        stdin: TextIO = sys.stdin,
    ) -> None:
        """Takes up to `max_batch` jobs (waiting up to `gather_seconds` for more after the first)
        and hands them to `run_batch`, which answers each through `answer(job, outcome or
        HostError)`; a job it leaves unanswered, or all of them if it raises, get an error."""
        threading.Thread(target=self._read, args=(stdin,), name="protocol-reader", daemon=True).start()
        idle_since = time.monotonic()
        idle_done = on_idle is None or idle_seconds <= 0
        while True:
            try:
                timeout = None if idle_done else max(0.0, idle_since + idle_seconds - time.monotonic())
                first = self._jobs.get(timeout=timeout)
            except queue.Empty:
                on_idle()  # type: ignore[misc]
                idle_done = True
                continue
            if first is None:
                return
            jobs, last = self._gather(first, max_batch, gather_seconds)
            self._run(jobs, run_batch)
            if last:
                return
            idle_since = time.monotonic()
            idle_done = on_idle is None or idle_seconds <= 0

    def serve_concurrently(
        self,
        synthesize: Callable[[Job], dict],
        max_jobs: int,
        thread_setup: Callable[[], None] = lambda: None,
        on_idle: Optional[Callable[[], None]] = None,
        idle_seconds: float = 0.0,
        stdin: TextIO = sys.stdin,
    ) -> None:
        """Runs each job on a thread of its own as soon as it arrives, up to `max_jobs` at once
        (the supervisor sends no more than the host's maxBatch): for an engine that batches its
        jobs' work internally, continuously, rather than in fixed groups. `thread_setup` runs
        first on each of those threads. On end of input, what is running finishes first."""
        threading.Thread(target=self._read, args=(stdin,), name="protocol-reader", daemon=True).start()
        running = threading.BoundedSemaphore(max_jobs)
        idle = threading.Condition()
        in_flight = [0]

        def one(jobs: list[Job], answer: Answer) -> None:
            answer(jobs[0], synthesize(jobs[0]))

        def run(job: Job) -> None:
            try:
                self._run([job], one)
            finally:
                with idle:
                    in_flight[0] -= 1
                    idle.notify_all()
                running.release()

        executor = ThreadPoolExecutor(max_workers=max_jobs, thread_name_prefix="job", initializer=thread_setup)
        idle_since, idle_done = time.monotonic(), on_idle is None or idle_seconds <= 0
        try:
            while True:
                try:
                    timeout = None if idle_done else max(0.0, idle_since + idle_seconds - time.monotonic())
                    job = self._jobs.get(timeout=timeout)
                except queue.Empty:
                    with idle:
                        quiet = in_flight[0] == 0
                    if quiet:
                        on_idle()  # type: ignore[misc]
                        idle_done = True
                    else:
                        idle_since = time.monotonic()
                    continue
                if job is None:
                    return
                running.acquire()
                with idle:
                    in_flight[0] += 1
                executor.submit(run, job)
                idle_since, idle_done = time.monotonic(), on_idle is None or idle_seconds <= 0
        finally:
            executor.shutdown(wait=True)

    def _gather(self, first: Job, max_batch: int, gather_seconds: float) -> tuple[list[Job], bool]:
        """The first job and whatever else arrives in time; True if input ended meanwhile."""
        jobs = [first]
        deadline = time.monotonic() + gather_seconds
        while len(jobs) < max_batch:
            try:
                job = self._jobs.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if job is None:
                return jobs, True
            jobs.append(job)
        return jobs, False

    def _run(self, jobs: list[Job], run_batch: Callable[[list[Job], Answer], None]) -> None:
        answered: set[str] = set()

        def answer(job: Job, outcome: "dict | HostError") -> None:
            if job.id in answered:
                return
            answered.add(job.id)
            with self._lock:
                self._active.pop(job.id, None)
                self._canceled.discard(job.id)
            if isinstance(outcome, HostError):
                send_error(job.id, outcome.code, outcome.message, outcome.retryable)
            else:
                send({"type": "done", "id": job.id, "outPath": job.out_path, **outcome})

        with self._lock:
            for job in jobs:
                self._active[job.id] = job
                if job.id in self._canceled:
                    job.canceled.set()
        pending = []
        for job in jobs:
            if job.canceled.is_set():
                answer(job, Canceled())
            else:
                pending.append(job)
        try:
            if pending:
                run_batch(pending, answer)
        except HostError as error:
            for job in pending:
                answer(job, error)
        except Exception as error:  # an engine bug must not take the host down with it
            traceback.print_exc(file=sys.stderr)
            for job in pending:
                answer(job, HostError("E_ENGINE_FAILED", f"{type(error).__name__}: {error}", False))
        for job in pending:
            answer(job, HostError("E_ENGINE_FAILED", "the engine returned no result for this segment", False))


def announce_ready(capabilities: dict) -> None:
    send({"type": "ready", "protocol": PROTOCOL_VERSION, "capabilities": capabilities})


def fail_start(message: str) -> NoReturn:
    """Answers a host that cannot load: `error E_ENGINE_START_FAILED`, then exit 1."""
    send_error(None, "E_ENGINE_START_FAILED", message, True)
    sys.exit(1)

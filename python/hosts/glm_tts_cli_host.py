#!/usr/bin/env python3
"""GLM-TTS through its official script, for people who keep `glmtts_inference.py` as it is.

The host takes up to GLMTTS_CLI_BATCH segments at once (its maxBatch). For each batch it writes
`examples/<name>.jsonl` in the checkout, runs `glmtts_inference.py --data=<name>` from the
checkout's root, and reads each expected WAV. The script exits 0 even when an item failed, so
every output is checked; its float32 WAVs become 16-bit PCM. The script loads the model on
every run (1-2 minutes), which a batch shares: still, use the `glm-tts` host unless you must
run the official code untouched. It always uses seed 0, the KV cache and the
"ras" sampler, and has no forced readings, so the host refuses what it cannot honour.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Callable

import ttsq_protocol as protocol
from glmtts_setup import OPTION_NAMES, GlmttsSettings, SettingsError, job_options, repo_version, run_check
from ttsq_protocol import Canceled, HostError, Job
from ttsq_wav import floats_to_pcm16, read_mono_floats, write_pcm16

STOP_GRACE_SECONDS = 5.0
# After the first segment, how long to wait for more to share the run (a run costs minutes).
GATHER_SECONDS = 0.5
CPU_LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "glmtts_cpu_launch.py")


@dataclass
class ScriptItem:
    uttid: str
    prompt_text: str
    prompt_speech: str
    syn_text: str


class OfficialScript:
    """One run of glmtts_inference.py over a batch of items, in its own uniquely named files."""

    runs = 0

    def __init__(self, settings: GlmttsSettings, use_phoneme: bool):
        OfficialScript.runs += 1
        self.settings = settings
        self.use_phoneme = use_phoneme
        self.name = f"ttsq_{os.getpid()}_{OfficialScript.runs}"
        self.jsonl = os.path.join(settings.repo, "examples", f"{self.name}.jsonl")
        # Where the script writes: <repo>/outputs/pretrain<exp_name>/<data>/<uttid>.wav
        self.out_root = os.path.join(settings.repo, "outputs", f"pretrain_{self.name}")
        self.out_dir = os.path.join(self.out_root, self.name)

    def run(self, items: list[ScriptItem], all_canceled: Callable[[], bool]) -> tuple[dict[str, str], str]:
        """Returns ({uttid: wav path} for the items that came out, the script's output). Stops
        the script, raising Canceled, once `all_canceled()` says no item is wanted any more."""
        with open(self.jsonl, "w", encoding="utf-8") as handle:
            for item in items:
                handle.write(json.dumps(item.__dict__, ensure_ascii=False) + "\n")
        # CPU mode runs the script through a launcher that maps its CUDA calls to the CPU.
        launcher = [CPU_LAUNCHER] if self.settings.device == "cpu" else []
        command = [self.settings.python, *launcher, "glmtts_inference.py", f"--data={self.name}", f"--exp_name=_{self.name}",
                   f"--sample_rate={self.settings.sample_rate}"] + (["--use_phoneme"] if self.use_phoneme else [])
        env = dict(os.environ)
        if self.settings.device == "cpu":
            env["CUDA_VISIBLE_DEVICES"] = ""
        elif self.settings.visible_gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = self.settings.visible_gpu
        with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as output:
            process = subprocess.Popen(command, cwd=self.settings.repo, env=env, stdin=subprocess.DEVNULL,
                                       stdout=output, stderr=subprocess.STDOUT, preexec_fn=_die_with_host)
            while process.poll() is None:
                if all_canceled():
                    process.terminate()
                    try:
                        process.wait(STOP_GRACE_SECONDS)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait()
                    raise Canceled()
                time.sleep(0.05)
            output.seek(0)
            text = output.read()
        if process.returncode != 0:
            oom = _is_oom(text)
            raise HostError("E_ENGINE_OOM" if oom else "E_ENGINE_FAILED",
                            f"glmtts_inference.py exited with status {process.returncode}: {_tail(text)}", oom)
        found = {item.uttid: os.path.join(self.out_dir, f"{item.uttid}.wav") for item in items}
        return {uttid: path for uttid, path in found.items() if os.path.isfile(path)}, text

    def clean(self) -> None:
        try:
            os.remove(self.jsonl)
        except FileNotFoundError:
            pass
        shutil.rmtree(self.out_root, ignore_errors=True)


def _load_prctl() -> "Callable[..., int] | None":
    """libc's prctl, looked up once in the host: the child must not import anything between
    fork and exec (another thread may hold the import lock at the fork)."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None  # not Linux: an orphaned script ends by itself when its run is done


_PRCTL = _load_prctl()
PR_SET_PDEATHSIG = 1


def _die_with_host() -> None:
    """Runs in the script's process before it starts: the kernel kills the script when this
    host dies (the supervisor kills hosts with SIGKILL), so no orphan keeps a GPU busy."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL)


def _is_oom(output: str) -> bool:
    return "out of memory" in output.lower()


def _tail(output: str, lines: int = 5) -> str:
    return " | ".join(line.strip() for line in output.strip().splitlines()[-lines:])


def _item_error(output: str, uttid: str) -> str:
    """The script's own log line for a failed item ("Error processing <uttid>: ...")."""
    match = re.search(rf"Error processing {re.escape(uttid)}: (.*)", output)
    return match.group(1).strip() if match else _tail(output)


class GlmTtsCliEngine:
    def __init__(self, settings: GlmttsSettings):
        self.settings = settings

    @property
    def capabilities(self) -> dict:
        return {
            "engine": "glm-tts-cli",
            "version": f"{repo_version(self.settings.repo)} (official script)",
            "sampleRates": [self.settings.sample_rate],
            "cloning": True,
            "voiceFollowing": ["timbre", "emotion", "rate"],
            "phonemeControl": False,
            "languages": ["zh", "en"],
            "maxSegmentChars": self.settings.max_segment_chars,
            "maxBatch": self.settings.cli_batch,
            "requiresVoice": True,
            "options": list(OPTION_NAMES),
            # The same seed, text and voice give the same audio; without a seed, results are not reused.
            "deterministic": "seeded",
        }

    def _use_phoneme(self, job: Job) -> bool:
        if job.voice is None:
            raise HostError("E_ENGINE_REJECTED", "GLM-TTS clones a voice: send a reference voice with the segment")
        if job.sample_rate is not None and job.sample_rate != self.settings.sample_rate:
            raise HostError("E_ENGINE_REJECTED", f"this host runs GLM-TTS at {self.settings.sample_rate} Hz, not {job.sample_rate} Hz")
        if job.pronunciations:
            raise HostError("E_ENGINE_REJECTED", "the official script takes no forced readings; use the glm-tts host")
        if job.seed not in (None, 0):
            raise HostError("E_ENGINE_REJECTED", f"the official script always uses seed 0, not {job.seed}; use the glm-tts host")
        try:
            use_cache, use_phoneme, sample_method = job_options(job.options)
        except ValueError as error:
            raise HostError("E_ENGINE_REJECTED", str(error)) from None
        if not use_cache or sample_method != "ras":
            raise HostError("E_ENGINE_REJECTED", "the official script always runs with use_cache and sample_method ras")
        return use_phoneme

    def run_batch(self, jobs: list[Job], answer: protocol.Answer) -> None:
        """Answers what the script cannot do at once, then runs it once per `use_phoneme` value."""
        groups: dict[bool, list[Job]] = {}
        for job in jobs:
            try:
                groups.setdefault(self._use_phoneme(job), []).append(job)
            except HostError as error:
                answer(job, error)
        for use_phoneme, group in groups.items():
            try:
                self._run_script(group, use_phoneme, answer)
            except HostError as error:  # the whole run failed: its segments, not the other group's
                for job in group:
                    answer(job, error)

    def _run_script(self, jobs: list[Job], use_phoneme: bool, answer: protocol.Answer) -> None:
        items = [ScriptItem(uttid=f"seg{i}", prompt_text=job.voice.get("promptText", ""), prompt_speech=job.voice["audioPath"], syn_text=job.text)
                 for i, job in enumerate(jobs)]

        def all_canceled() -> bool:
            # A canceled segment is answered at once; the run goes on for the others.
            for job in jobs:
                if job.canceled.is_set():
                    answer(job, Canceled())
            return all(job.canceled.is_set() for job in jobs)

        script = OfficialScript(self.settings, use_phoneme)
        outcomes: "list[tuple[Job, dict | HostError]]" = []
        try:
            wavs, output = script.run(items, all_canceled)
            for item, job in zip(items, jobs):
                if job.canceled.is_set():
                    outcomes.append((job, Canceled()))
                    continue
                try:
                    outcomes.append((job, self._result(job, wavs.get(item.uttid), output, item.uttid)))
                except HostError as error:
                    outcomes.append((job, error))
        finally:
            # The script's files are gone before any segment is answered: a worker that moves on
            # at `done` finds the checkout as it was.
            script.clean()
        for job, outcome in outcomes:
            answer(job, outcome)

    def _result(self, job: Job, path: "str | None", output: str, uttid: str) -> dict:
        """The segment's WAV from the script, as 16-bit PCM at `job.out_path`."""
        if path is None:
            reason = _item_error(output, uttid)
            if _is_oom(reason):
                raise HostError("E_ENGINE_OOM", f"GPU out of memory in glmtts_inference.py: {reason}", True)
            raise HostError("E_ENGINE_FAILED", f"glmtts_inference.py wrote no audio for this segment: {reason}", False)
        rate, samples = read_mono_floats(path)
        if rate != self.settings.sample_rate:
            raise HostError("E_ENGINE_FAILED", f"glmtts_inference.py wrote {rate} Hz, expected {self.settings.sample_rate} Hz")
        return {"sampleRate": rate, "durationMs": write_pcm16(job.out_path, rate, floats_to_pcm16(samples))}


def main(argv: list[str]) -> int:
    if "--check" in argv:
        return run_check(os.environ)
    protocol.take_stdout()
    try:
        settings = GlmttsSettings.from_env(os.environ)
    except SettingsError as error:
        protocol.fail_start(str(error))
    os.makedirs(os.path.join(settings.repo, "examples"), exist_ok=True)
    engine = GlmTtsCliEngine(settings)
    protocol.announce_ready(engine.capabilities)
    protocol.HostLoop().serve_batches(engine.run_batch, settings.cli_batch, GATHER_SECONDS)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

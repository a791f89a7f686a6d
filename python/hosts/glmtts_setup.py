"""What both GLM-TTS hosts share: their settings, entering the GLM-TTS checkout, and `--check`.

Settings come from the environment, all read here:

    GLMTTS_REPO                the GLM-TTS checkout (its code uses paths relative to it)
    GLMTTS_SAMPLE_RATE         24000 (HiFT vocoder) or 32000 (Vocos); one per loaded model
    GLMTTS_USE_PHONEME         1 (default) loads the phoneme front end: forced readings work
    GLMTTS_DEVICE              cuda (default when present), cuda:N, or cpu (CPU mode: slow, no GPU needed)
    GLMTTS_GPUS                e.g. 0,1,2,3: host slot i (TTSQ_HOST_SLOT) uses GPU i mod 4
    GLMTTS_DTYPE               float32 (as GLM-TTS ships), bfloat16 or float16 for the LLM
    GLMTTS_VOICE_CACHE         voices whose prompt features are kept (64)
    GLMTTS_TN_CACHE            folder keeping the Chinese text normaliser's FST between starts
                               (~/.cache/tts-queue/glmtts-tn; off: rebuild it at every start, as GLM-TTS does)
    GLMTTS_IDLE_FREE_SECONDS   free the CUDA cache after this long idle (60; 0 = never)
    GLMTTS_MAX_SEGMENT_CHARS   longest segment taken (300; GLM-TTS splits it further itself)
    GLMTTS_PYTHON              interpreter for the official script (glm-tts-cli host)
    GLMTTS_CLI_BATCH           segments per run of the official script (glm-tts-cli host; 8)
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Mapping, Optional

from glmtts_device import hide_gpus
from glmtts_drift import MANIFEST
from glmtts_drift import check as drift_problems

SAMPLE_RATES = (24000, 32000)
DTYPES = ("float32", "bfloat16", "float16")

# Import names whose pip package is named otherwise, for the hints --check prints.
PIP_NAMES = {
    "yaml": "PyYAML", "tn": "WeTextProcessing", "onnxruntime": "onnxruntime-gpu", "hyperpyyaml": "HyperPyYAML",
    "sklearn": "scikit-learn", "whisper": "openai-whisper", "x_transformers": "x-transformers",
}


SAMPLE_METHODS = ("ras", "topk")
OPTION_NAMES = ("use_cache", "use_phoneme", "sample_method")


def job_options(options: dict) -> tuple[bool, bool, str]:
    """A job's GLM-TTS switches (use_cache, use_phoneme, sample_method), with the defaults of
    GLM-TTS's own demo; raises ValueError naming what is wrong."""
    unknown = sorted(set(options) - set(OPTION_NAMES))
    if unknown:
        raise ValueError(f"unknown GLM-TTS options {unknown}; the options are {', '.join(OPTION_NAMES)}")
    use_cache = options.get("use_cache", True)
    use_phoneme = options.get("use_phoneme", False)
    sample_method = options.get("sample_method", "ras")
    if not isinstance(use_cache, bool) or not isinstance(use_phoneme, bool):
        raise ValueError("use_cache and use_phoneme must be true or false")
    if sample_method not in SAMPLE_METHODS:
        raise ValueError(f"sample_method must be one of {', '.join(SAMPLE_METHODS)}, got {sample_method!r}")
    return use_cache, use_phoneme, sample_method


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable and what it takes."""


def _integer(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _tn_cache(env: Mapping[str, str]) -> Optional[str]:
    raw = env.get("GLMTTS_TN_CACHE", "").strip()
    if raw.lower() == "off":
        return None
    if not raw:
        return os.path.join(os.path.expanduser("~"), ".cache", "tts-queue", "glmtts-tn")
    return os.path.abspath(raw)


@dataclass(frozen=True)
class GlmttsSettings:
    repo: str
    sample_rate: int
    use_phoneme: bool
    device: Optional[str]
    visible_gpu: Optional[str]
    dtype: str
    voice_cache_size: int
    idle_free_seconds: float
    max_segment_chars: int
    python: str
    cli_batch: int
    tn_cache: Optional[str]
    max_batch: int = 1
    batch_wait_seconds: float = 0.0

    @staticmethod
    def from_env(env: Mapping[str, str]) -> "GlmttsSettings":
        repo = env.get("GLMTTS_REPO", "").strip()
        if not repo:
            raise SettingsError("GLMTTS_REPO is not set: point it at a GLM-TTS checkout (git clone of zai-org/GLM-TTS)")
        repo = os.path.abspath(repo)
        if not os.path.isfile(os.path.join(repo, "glmtts_inference.py")):
            raise SettingsError(f"GLMTTS_REPO={repo} has no glmtts_inference.py: is it a GLM-TTS checkout?")
        sample_rate = _integer(env, "GLMTTS_SAMPLE_RATE", 24000, 0, 10**6)
        if sample_rate not in SAMPLE_RATES:
            raise SettingsError(f"GLMTTS_SAMPLE_RATE must be 24000 or 32000, got {sample_rate}")
        phoneme = env.get("GLMTTS_USE_PHONEME", "1").strip().lower()
        if phoneme not in ("0", "1", "true", "false"):
            raise SettingsError(f"GLMTTS_USE_PHONEME must be 1 or 0, got {phoneme!r}")
        dtype = env.get("GLMTTS_DTYPE", "float32").strip() or "float32"
        if dtype not in DTYPES:
            raise SettingsError(f"GLMTTS_DTYPE must be one of {', '.join(DTYPES)}, got {dtype!r}")
        device = env.get("GLMTTS_DEVICE", "").strip() or None
        visible_gpu = None
        if device is not None and not (device in ("cuda", "cpu") or (device.startswith("cuda:") and device[5:].isdigit())):
            raise SettingsError(f"GLMTTS_DEVICE must be cuda, cuda:N or cpu, got {device!r}")
        if device is not None and device.startswith("cuda:"):
            # GLM-TTS's speech tokenizer calls .cuda() (the current device): pin the process to
            # that GPU instead, so every part of the model lands on the same one.
            visible_gpu, device = device[5:], "cuda"
        gpus = [g.strip() for g in env.get("GLMTTS_GPUS", "").split(",") if g.strip()]
        if gpus and (device == "cpu" or visible_gpu is not None):
            raise SettingsError(f"GLMTTS_GPUS gives each host its GPU: it cannot be combined with GLMTTS_DEVICE={env['GLMTTS_DEVICE'].strip()}; set one of them")
        if gpus:
            slot = _integer(env, "TTSQ_HOST_SLOT", 0, 0, 10**6)
            visible_gpu, device = gpus[slot % len(gpus)], "cuda"
        try:
            idle = float(env.get("GLMTTS_IDLE_FREE_SECONDS", "").strip() or 60)
        except ValueError:
            raise SettingsError(f"GLMTTS_IDLE_FREE_SECONDS must be a number of seconds, got {env['GLMTTS_IDLE_FREE_SECONDS']!r}") from None
        if not 0 <= idle <= 86400:
            raise SettingsError(f"GLMTTS_IDLE_FREE_SECONDS must be between 0 and 86400, got {idle}")
        return GlmttsSettings(
            repo=repo,
            sample_rate=sample_rate,
            use_phoneme=phoneme in ("1", "true"),
            device=device,
            visible_gpu=visible_gpu,
            dtype=dtype,
            voice_cache_size=_integer(env, "GLMTTS_VOICE_CACHE", 64, 1, 100_000),
            idle_free_seconds=idle,
            max_segment_chars=_integer(env, "GLMTTS_MAX_SEGMENT_CHARS", 300, 50, 2000),
            python=env.get("GLMTTS_PYTHON", "").strip() or sys.executable,
            cli_batch=_integer(env, "GLMTTS_CLI_BATCH", 8, 1, 64),
            tn_cache=_tn_cache(env),
            max_batch=_integer(env, "GLMTTS_MAX_BATCH", 1, 1, 256),
            batch_wait_seconds=_integer(env, "GLMTTS_BATCH_WAIT_MS", 10, 0, 1000) / 1000,
        )


def enter_repo(settings: GlmttsSettings) -> None:
    """Makes GLM-TTS importable and its relative paths (ckpt/, configs/) valid."""
    if settings.device == "cpu":
        hide_gpus()  # CPU mode: GLM-TTS must not find a GPU to put part of itself on
    elif settings.visible_gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = settings.visible_gpu
    if settings.repo not in sys.path:
        sys.path.insert(1, settings.repo)
    os.chdir(settings.repo)


def repo_version(repo: str) -> str:
    """`GLM-TTS <commit>` from the checkout's git metadata, without running git."""
    try:
        with open(os.path.join(repo, ".git", "HEAD"), encoding="utf-8") as handle:
            head = handle.read().strip()
        if head.startswith("ref: "):
            with open(os.path.join(repo, ".git", *head[5:].split("/")), encoding="utf-8") as handle:
                head = handle.read().strip()
        return f"GLM-TTS {head[:12]}"
    except OSError:
        return "GLM-TTS (unknown commit)"


# -- --check -------------------------------------------------------------------------------------

def checkpoint_paths(sample_rate: int, use_phoneme: bool) -> list[str]:
    """Files and folders load_models() opens, relative to the checkout."""
    paths = [
        "ckpt/speech_tokenizer/config.json",
        "ckpt/vq32k-phoneme-tokenizer",
        "ckpt/llm/config.json",
        "ckpt/flow/flow.pt",
        "ckpt/flow/config.yaml",
        "ckpt/hift/hift.pt" if sample_rate == 24000 else "ckpt/vocos2d/generator_jit.ckpt",
        "frontend/campplus.onnx",
    ]
    if use_phoneme:
        paths += ["configs/G2P_all_phonemes.json", "configs/G2P_able_1word.json", "configs/G2P_replace_dict.jsonl"]
    return paths


def _imports(path: str) -> tuple[set[str], set[str]]:
    """Module names a file imports: (required, optional). An import inside `try` with an
    `except ImportError` (GLM-TTS's ttsfrd) is optional."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    optional_nodes: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
            h.type is not None and "ImportError" in ast.unparse(h.type) for h in node.handlers
        ):
            for inner in node.body:
                optional_nodes.update(id(n) for n in ast.walk(inner))
    required: set[str] = set()
    optional: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from utils import seed_util` may name a module: try module.name as well
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        (optional if id(node) in optional_nodes else required).update(names)
    return required, optional - required


# HyperPyYAML tags name what loading builds: `!new:flow.flow.Flow` imports flow.flow.
_YAML_TAG = re.compile(r"!(?:new|name|apply|module):([A-Za-z_][\w.]*)")
FLOW_CONFIG = "ckpt/flow/config.yaml"


def yaml_modules(repo: str) -> list[str]:
    """Modules the flow config's HyperPyYAML tags import when the model is loaded ([] without
    the config). `!new:a.b.C` names class C of module a.b; `!module:a.b` the module itself."""
    try:
        with open(os.path.join(repo, FLOW_CONFIG), encoding="utf-8") as handle:
            text = handle.read()
    except OSError:
        return []
    modules = set()
    for match in _YAML_TAG.finditer(text):
        dotted = match.group(1)
        is_module = text[match.start() + 1 : match.start() + 8] == "module:"
        if is_module:
            modules.add(dotted)
        elif "." in dotted:  # a bare name (`!apply:setattr`) is a builtin
            modules.add(dotted.rsplit(".", 1)[0])
    return sorted(modules)


def python_packages(repo: str, entry: str = "glmtts_inference.py", extra_modules: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """Third-party modules the entry script (and `extra_modules`, e.g. what the flow config's
    tags build) reach through the checkout's own modules: (required, optional), top-level
    names, found by reading the code (nothing is imported)."""
    seen: set[str] = set()
    todo = [os.path.join(repo, entry)]
    required: set[str] = set()
    optional: set[str] = set()
    pending: list[tuple[str, set[str]]] = [(name, required) for name in extra_modules]
    while todo or pending:
        if todo:
            path = todo.pop()
            if path in seen:
                continue
            seen.add(path)
            needed, maybe = _imports(path)
            pending += [(n, required) for n in needed] + [(n, optional) for n in maybe]
        named, pending = pending, []
        for name, bucket in named:
            parts = name.split(".")
            local = None
            for depth in range(len(parts), 0, -1):
                base = os.path.join(repo, *parts[:depth])
                for candidate in (base + ".py", os.path.join(base, "__init__.py")):
                    if os.path.isfile(candidate):
                        local = candidate
                        break
                if local:
                    break
            if local is not None:
                todo.append(local)
            elif os.path.isdir(os.path.join(repo, parts[0])):
                continue  # a folder of the checkout without that module: not a package to install
            elif parts[0] not in sys.stdlib_module_names:
                bucket.add(parts[0])
    return sorted(required), sorted(optional - required)


# Run by `--check` in GLMTTS_PYTHON, from the checkout: imports what loading the model imports
# (glmtts_inference, then the modules the flow config's tags build) and, where it is there,
# loads the text tokenizer, which may carry code of its own. One JSON line per failure.
_IMPORT_PROBE = """
import importlib, json, os, sys
sys.path.insert(0, os.getcwd())
def fail(what, error):
    print(json.dumps({"what": what, "error": f"{type(error).__name__}: {error}", "module": getattr(error, "name", None)}), flush=True)
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except BaseException as error:
        fail(f"import {name}", error)
tokenizer = os.path.join("ckpt", "vq32k-phoneme-tokenizer")
if os.path.isdir(tokenizer):
    try:
        from transformers import AutoTokenizer
        AutoTokenizer.from_pretrained(tokenizer, trust_remote_code=True)
    except BaseException as error:
        fail("the text tokenizer in " + tokenizer, error)
"""


def import_problems(settings: "GlmttsSettings", modules: list[str]) -> list[dict]:
    """What fails when GLM-TTS's own imports run in its interpreter, with no GPU touched."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    try:
        done = subprocess.run([settings.python, "-c", _IMPORT_PROBE, *modules], cwd=settings.repo, env=env,
                              capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as error:
        return [{"what": f"running {settings.python}", "error": str(error), "module": None}]
    problems = []
    for line in done.stdout.splitlines():
        try:
            problems.append(json.loads(line))
        except ValueError:
            continue  # GLM-TTS prints as it imports
    if done.returncode != 0 and not problems:
        tail = " ".join(done.stderr.strip().splitlines()[-2:])
        problems.append({"what": "importing GLM-TTS", "error": f"the interpreter exited with status {done.returncode}: {tail}", "module": None})
    return problems


def run_check(env: Mapping[str, str]) -> int:
    """Prints what is present and what is missing; exit status 0 only if nothing is missing.
    Loads no model: reads the checkout's code, imports what loading imports in a subprocess,
    compares what the hosts use with the checkout (glmtts_drift) and asks torch about CUDA."""
    missing: list[str] = []

    def report(ok: bool, what: str, fix: str = "") -> None:
        print(f"{'ok     ' if ok else 'MISSING'}  {what}" + ("" if ok or not fix else f"  -> {fix}"))
        if not ok:
            missing.append(what)

    version = sys.version_info
    report((3, 10) <= version[:2] <= (3, 12), f"Python {version[0]}.{version[1]} (GLM-TTS supports 3.10-3.12)", "use Python 3.10, 3.11 or 3.12")
    try:
        settings = GlmttsSettings.from_env(env)
    except SettingsError as error:
        report(False, str(error))
        print(f"\n{len(missing)} missing; the checkpoints and packages cannot be checked without a checkout.")
        return 1
    report(True, f"GLM-TTS checkout at {settings.repo} ({repo_version(settings.repo)})")
    for relative in checkpoint_paths(settings.sample_rate, settings.use_phoneme):
        present = os.path.exists(os.path.join(settings.repo, relative))
        fix = "download the weights into ckpt/ (docs/glm-tts.md, step 2)" if relative.startswith("ckpt/") else "part of the GLM-TTS repository: clone it again"
        report(present, relative, fix)
    if settings.repo not in sys.path:
        sys.path.insert(0, settings.repo)  # as when serving: modules in the checkout are importable
    built = yaml_modules(settings.repo)
    if not built:
        print(f"note     {FLOW_CONFIG} is absent: the modules its tags build (flow/, x_transformers, einops) are not checked")
    required, optional = python_packages(settings.repo, extra_modules=tuple(built))
    absent = [name for name in required if importlib.util.find_spec(name) is None]
    for name in absent:
        report(False, f"Python package {name}", f"pip install -r python/requirements-glmtts.txt (package {PIP_NAMES.get(name, name)})")
    if not absent:
        report(True, f"Python packages: all {len(required)} that glmtts_inference.py and the flow config import")
    for name in optional:
        if importlib.util.find_spec(name) is None:
            print(f"note     optional package {name} is absent; GLM-TTS falls back to another")
    if not absent:  # with a package missing, the import would only repeat the same finding
        problems = import_problems(settings, ["glmtts_inference", *built])
        for problem in problems:
            package = PIP_NAMES.get(problem["module"] or "", problem["module"])
            report(False, f"{problem['what']}: {problem['error']}", f"pip install {package}" if package else "")
        if not problems:
            report(True, f"GLM-TTS's imports run in {settings.python}" + (" and its text tokenizer loads" if os.path.isdir(os.path.join(settings.repo, "ckpt", "vq32k-phoneme-tokenizer")) else ""))
    drift = drift_problems(settings.repo)
    for problem in drift:
        report(False, f"drift: {problem}", "use the GLM-TTS commit docs/glm-tts.md names, or update the hosts")
    if not drift:
        report(True, f"the hosts' use of GLM-TTS matches this checkout ({len(MANIFEST)} functions, attributes and options compared)")
    if settings.device == "cpu":
        report(True, "CPU mode (GLMTTS_DEVICE=cpu): no GPU needed; expect minutes per segment with the real weights")
    elif importlib.util.find_spec("torch") is None:
        report(False, "CUDA (not checked: torch is missing)", "install torch with CUDA support")
    else:
        if settings.visible_gpu is not None:
            os.environ["CUDA_VISIBLE_DEVICES"] = settings.visible_gpu
        import torch

        if torch.cuda.is_available():
            names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            report(True, f"CUDA: {', '.join(names)}")
        else:
            driver = "an NVIDIA driver is present (nvidia-smi)" if shutil.which("nvidia-smi") else "no NVIDIA driver (nvidia-smi) either"
            report(False, f"CUDA: torch sees no GPU; {driver}", "install torch with CUDA support, or run on the CPU with GLMTTS_DEVICE=cpu")
    print(f"\n{len(missing)} missing." if missing else "\nEverything GLM-TTS needs is here.")
    return 1 if missing else 0

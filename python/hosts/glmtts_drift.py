#!/usr/bin/env python3
"""Everything the two GLM-TTS hosts use from GLM-TTS's code, in one manifest, and a check of a
checkout against it: functions and their parameters, attributes, module globals, and the
official script's command line and files.

    python3 glmtts_drift.py /opt/GLM-TTS     # `ok` lines, or what differs; exit status 0 or 1

The checkout is only read (with `ast`), never imported: this runs without torch or the weights,
against a fresh clone before upgrading, and against the test double, which must match too.
"""

from __future__ import annotations

import ast
import os
import sys
from dataclasses import dataclass
from typing import Union

INFERENCE = "glmtts_inference.py"
FRONTEND = "cosyvoice/cli/frontend.py"
HOST, CLI = "the glm-tts host", "the glm-tts-cli host"
Trees = dict[str, Union[ast.Module, str]]  # file -> its syntax tree, or why it cannot be read
Func = Union[ast.FunctionDef, ast.AsyncFunctionDef]


def own_nodes(node: ast.AST) -> list[ast.AST]:
    """The nodes inside `node`, not those of functions or classes defined inside it."""
    found, todo = [], list(ast.iter_child_nodes(node))
    while todo:
        found.append(child := todo.pop())
        if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            todo.extend(ast.iter_child_nodes(child))
    return found


def defs(scope: ast.Module | ast.ClassDef) -> dict[str, Func]:
    return {n.name: n for n in scope.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def scope_of(tree: ast.Module, dotted: str) -> tuple[ast.Module | ast.ClassDef | None, str, str]:
    """`Class.name` -> (the class, "Class", "name"); `name` -> (the module, "", "name")."""
    owner, _, name = dotted.rpartition(".")
    found = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == owner), None)
    return (found if owner else tree), owner, name


def reachable(scope: ast.Module | ast.ClassDef, start: str) -> list[Func]:
    """`start` and what it calls in the same scope (`f()` in a module, `self.f()` in a class),
    directly or not: a helper that GLM-TTS factors out still counts."""
    table, seen, todo = defs(scope), [], [start]
    while todo:
        func = table.get(todo.pop())
        if func is None or func in seen:
            continue
        seen.append(func)
        for n in own_nodes(func):
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name):
                todo.append(n.func.id)
            elif isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and ast.unparse(n.func.value) == "self":
                todo.append(n.func.attr)
    return seen


@dataclass(frozen=True)
class Function:
    """A function (`name`) or method (`Class.name`), called with `positional` arguments by
    position and `keywords` by name; `returns`: the length of the tuple the caller unpacks;
    `called_by`: a function of glmtts_inference.py that must go on calling it."""

    file: str
    name: str
    user: str
    positional: int = 0
    keywords: tuple[str, ...] = ()
    returns: int | None = None
    called_by: str | None = None

    def problems(self, tree: ast.Module, trees: Trees) -> list[str]:
        scope, owner, name = scope_of(tree, self.name)
        func = defs(scope).get(name) if scope else None
        if func is None:
            return [f"{self.file}: no {'method' if owner else 'function'} {self.name}() ({self.user} calls it)"]
        a, out, what = func.args, [], f"{self.file}: {self.name}()"
        positional = [p.arg for p in a.posonlyargs + a.args][1 if owner else 0 :]  # without self
        required = positional[: len(positional) - len(a.defaults)]
        by_name = [p.arg for p in a.args][1 if owner and not a.posonlyargs else 0 :] + [p.arg for p in a.kwonlyargs]
        if self.positional > len(positional) and a.vararg is None:
            out.append(f"{what} takes {len(positional)} positional parameters, {self.user} passes {self.positional}")
        out += [f"{what} has no parameter '{k}' ({self.user} passes it)" for k in self.keywords if k not in by_name and a.kwarg is None]
        # A new parameter without a default breaks every call the host makes.
        kwonly = [p.arg for p, default in zip(a.kwonlyargs, a.kw_defaults) if default is None]
        out += [f"{what} has a required parameter '{p}' that {self.user} does not pass"
                for p in required[self.positional :] + kwonly if p not in self.keywords]
        for n in own_nodes(func):
            if self.returns and isinstance(n, ast.Return) and isinstance(n.value, ast.Tuple) and len(n.value.elts) != self.returns:
                out.append(f"{what} returns {len(n.value.elts)} values, {self.user} unpacks {self.returns}")
        caller = trees.get(INFERENCE)
        if self.called_by and isinstance(caller, ast.Module) and self.called_by in defs(caller):
            calls = [n.func for n in own_nodes(defs(caller)[self.called_by]) if isinstance(n, ast.Call)]
            if not any(getattr(f, "attr", getattr(f, "id", None)) == name for f in calls):
                out.append(f"{INFERENCE}: {self.called_by}() no longer calls {name}() ({self.user} relies on it)")
        return out


@dataclass(frozen=True)
class Attribute:
    """`Class.name` (assigned as `self.name =` in the class) or a module global `name`;
    `read_by`: the function or method that must read it for the host's use to have effect."""

    file: str
    name: str
    user: str
    read_by: str | None = None

    def problems(self, tree: ast.Module, trees: Trees) -> list[str]:
        scope, owner, name = scope_of(tree, self.name)
        if scope is None:
            return [f"{self.file}: no class {owner} ({self.user} uses {self.name})"]
        wanted = f"self.{name}" if owner else name
        nodes = ast.walk(scope) if owner else iter(scope.body)  # globals: module-level assignments only
        targets = [t for n in nodes if isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign))
                   for t in (n.targets if isinstance(n, ast.Assign) else [n.target])]
        if not any(ast.unparse(t) == wanted for t in targets):
            return [f"{self.file}: {self.name} is never assigned ({self.user} uses it)"]
        reads = [n for f in reachable(scope, self.read_by) for n in own_nodes(f)] if self.read_by else []
        if self.read_by and not any(isinstance(n, (ast.Name, ast.Attribute)) and isinstance(n.ctx, ast.Load)
                                    and ast.unparse(n) == wanted for n in reads):
            return [f"{self.file}: {self.read_by}() no longer reads {self.name} ({self.user} relies on it)"]
        return []


@dataclass(frozen=True)
class Options:
    """argparse options: "value" takes one, "flag" is store_true, "on" a store_true that
    defaults to True (the cli host relies on it being on without passing it)."""

    file: str
    options: tuple[tuple[str, str], ...]
    user: str

    def problems(self, tree: ast.Module, trees: Trees) -> list[str]:
        found = {}
        for n in ast.walk(tree):
            if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "add_argument" and n.args and isinstance(n.args[0], ast.Constant):
                kw = {k.arg: ast.unparse(k.value) for k in n.keywords}
                flag = kw.get("action") == "'store_true'"
                found[n.args[0].value] = ("on" if kw.get("default") == "True" else "flag") if flag else "value"
        return [f"{self.file}: no option {o} ({self.user} passes it)" if o not in found
                else f"{self.file}: option {o} is now a {found[o]}, {self.user} expects a {kind}"
                for o, kind in self.options if found.get(o) != kind]


@dataclass(frozen=True)
class InFunction:
    """What `function` of the file must contain (None: anywhere in the module), one of:
    keys: exactly the keys it reads as `variable["key"]` (one the host sets but nobody reads is
          ignored; one read but not set is a KeyError);
    call: `call` is called with exactly `keywords`, none by position (the glm-tts host swaps
          in a wrapper that takes **kwargs only);
    code: a statement or expression, as `ast.unparse` writes it (paths and log lines)."""

    file: str
    function: str | None
    user: str
    variable: str = ""
    keys: tuple[str, ...] = ()
    call: str = ""
    keywords: tuple[str, ...] = ()
    code: str = ""

    def problems(self, tree: ast.Module, trees: Trees) -> list[str]:
        where = f"{self.file}: {self.function or 'the module'}{'()' if self.function else ''}"
        if self.function and self.function not in defs(tree):
            return [f"{self.file}: no function {self.function}() ({self.user} relies on it)"]
        nodes = own_nodes(defs(tree)[self.function]) if self.function else list(ast.walk(tree))
        if self.variable:
            read = {n.slice.value for n in nodes if isinstance(n, ast.Subscript) and ast.unparse(n.value) == self.variable
                    and isinstance(n.slice, ast.Constant) and isinstance(n.slice.value, str)}
            return [f"{where} does not read {self.variable}['{k}'] ({self.user} sets it)" for k in self.keys if k not in read] + [
                f"{where} reads {self.variable}['{k}'], which {self.user} does not set" for k in sorted(read - set(self.keys))]
        if self.call:
            calls = [n for n in nodes if isinstance(n, ast.Call) and ast.unparse(n.func) == self.call]
            wrong = [c for c in calls if c.args or sorted(str(k.arg) for k in c.keywords) != sorted(self.keywords)]
            if not calls or wrong:
                seen = f"calls `{ast.unparse(wrong[0])}`" if wrong else f"no longer calls {self.call}()"
                return [f"{where} {seen}; {self.user} expects keywords {', '.join(self.keywords)} only"]
            return []
        want = ast.parse(self.code).body[0]
        want = want.value if isinstance(want, ast.Expr) else want
        if not any(type(n) is type(want) and ast.unparse(n) == ast.unparse(want) for n in nodes):
            return [f"{where} no longer has `{ast.unparse(want)}` ({self.user} relies on it)"]
        return []


Entry = Union[Function, Attribute, Options, InFunction]
LLM_KEYWORDS = ("llm", "prompt_text_token", "tts_text_token", "prompt_speech_token", "sample_method")
FLOW_KEYWORDS = ("flow", "token_list", "prompt_speech_tokens", "speech_feat", "embedding")

MANIFEST: tuple[Entry, ...] = (
    # glmtts_inference.py as the glm-tts host drives it (glm_tts_host.py, GlmTtsEngine)
    Attribute(INFERENCE, "DEVICE", HOST, read_by="load_models"),  # the host sets it before load_models()
    Function(INFERENCE, "load_models", HOST, keywords=("use_phoneme", "sample_rate"), returns=5),
    Function(INFERENCE, "generate_long", HOST, returns=4, keywords=(
        "frontend", "text_frontend", "llm", "flow", "text_info", "cache", "device", "embedding", "seed",
        "sample_method", "flow_prompt_token", "speech_feat", "local_llm_forward", "local_flow_forward", "use_phoneme")),
    Function(INFERENCE, "local_llm_forward", HOST, keywords=LLM_KEYWORDS),  # through the host's wrapper
    InFunction(INFERENCE, "generate_long", HOST, call="local_llm_forward", keywords=LLM_KEYWORDS),
    # GLMTTS_MAX_BATCH: the flow runs through the host's wrapper, from the chunk's random state
    Function(INFERENCE, "local_flow_forward", HOST, keywords=FLOW_KEYWORDS),
    InFunction(INFERENCE, "generate_long", HOST, call="local_flow_forward", keywords=FLOW_KEYWORDS),
    # ...and the per-chunk reseeding, looked up on the module at each call, is replaced
    InFunction(INFERENCE, "generate_long", HOST, code="seed_util.set_seed(seed)"),
    InFunction(INFERENCE, "generate_long", HOST, variable="cache",
               keys=("cache_text", "cache_text_token", "cache_speech_token", "use_cache")),
    Function("utils/seed_util.py", "set_seed", "generate_long", positional=1, called_by="generate_long"),
    Attribute("llm/glmtts.py", "GLMTTS.llama", HOST),  # its lm_head is kept in float32 for GLMTTS_DTYPE
    # GLMTTS_DTYPE: the host swaps the module's LlamaForCausalLM during load_models() to load in that dtype
    InFunction(INFERENCE, "load_models", HOST, code="LlamaForCausalLM.from_pretrained(llama_path, dtype=torch.float32)"),
    # cosyvoice/cli/frontend.py: the voice's prompt features and the text
    Function(FRONTEND, "TTSFrontEnd._extract_text_token", HOST, positional=1),
    Function(FRONTEND, "TTSFrontEnd._extract_speech_token", HOST, positional=1),
    Function(FRONTEND, "TTSFrontEnd._extract_speech_feat", HOST, positional=1, keywords=("sample_rate",)),
    Function(FRONTEND, "TTSFrontEnd._extract_spk_embedding", HOST, positional=1),
    Function(FRONTEND, "TextFrontEnd.text_normalize", HOST, positional=1, called_by="generate_long"),
    Function(FRONTEND, "TextFrontEnd.split_by_len", "generate_long", positional=1, called_by="generate_long"),
    Function(FRONTEND, "TextFrontEnd.g2p_infer", "generate_long", positional=1, called_by="generate_long"),
    Attribute(FRONTEND, "TextFrontEnd.replace_dict", HOST, read_by="g2p_infer"),  # forced readings
    # glmtts_inference.py as a script, as the glm-tts-cli host runs it (glm_tts_cli_host.py)
    Options(INFERENCE, (("--data", "value"), ("--exp_name", "value"), ("--sample_rate", "value"),
                        ("--use_phoneme", "flag"), ("--use_cache", "on")), CLI),
    InFunction(INFERENCE, "jsonl_generate", CLI, variable="item", keys=("uttid", "prompt_text", "syn_text", "prompt_speech")),
    InFunction(INFERENCE, "jsonl_generate", CLI, code="os.path.join('examples', data_name + '.jsonl')"),
    InFunction(INFERENCE, None, CLI, code="CURRENT_DIR = os.path.dirname(os.path.abspath(__file__))"),
    InFunction(INFERENCE, None, CLI, code="os.path.join(CURRENT_DIR, 'outputs', f'pretrain{args.exp_name}', args.data)"),
    InFunction(INFERENCE, "jsonl_generate", CLI, code="os.path.join(folder_path, f'{uttid}.wav')"),
    InFunction(INFERENCE, "jsonl_generate", CLI, code="logging.error(f\"Error processing {item.get('uttid', 'unknown')}: {e}\")"),
)


def describe(e: Entry) -> str:
    """One line naming what an entry checks, for the `ok` lines."""
    if isinstance(e, Function):
        return f"{e.file}: {e.name}({', '.join(['_'] * e.positional + [k + '=' for k in e.keywords])})"
    if isinstance(e, Attribute):
        return f"{e.file}: {e.name}"
    if isinstance(e, Options):
        return f"{e.file}: options {' '.join(o for o, _ in e.options)}"
    where = f"{e.file}: {e.function + '()' if e.function else 'module'}"
    if e.variable:
        return f"{where} reads {e.variable}[{', '.join(e.keys)}]"
    return f"{where} calls {e.call}() by keyword" if e.call else f"{where} has {e.code}"


def results(repo: str) -> list[tuple[Entry, list[str]]]:
    """Each manifest entry with what differs in `repo` (a file that cannot be read: one problem)."""
    trees: Trees = {}
    for file in sorted({e.file for e in MANIFEST}):
        try:
            with open(os.path.join(repo, file), encoding="utf-8") as handle:
                trees[file] = ast.parse(handle.read(), file)
        except FileNotFoundError:
            trees[file] = f"{file}: missing"
        except (OSError, SyntaxError, ValueError) as error:
            trees[file] = f"{file}: cannot be read ({type(error).__name__}: {error})"
    out = []
    for e in MANIFEST:
        tree = trees[e.file]
        out.append((e, [tree] if isinstance(tree, str) else e.problems(tree, trees)))
    return out


def check(repo: str) -> list[str]:
    """What differs between the checkout at `repo` and what the hosts use; empty: it matches."""
    problems: list[str] = []
    for _, found in results(repo):
        problems += [p for p in found if p not in problems]  # an unreadable file is said once
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: glmtts_drift.py /path/to/GLM-TTS", file=sys.stderr)
        return 2
    said: list[str] = []
    for entry, problems in results(argv[0]):
        if not problems:
            print(f"ok     {describe(entry)}")
        for problem in (p for p in problems if p not in said):
            print(f"DRIFT  {problem}")
            said.append(problem)
    print(f"\n{len(said)} differences from what the GLM-TTS hosts use." if said else f"\n{argv[0]}: all that the GLM-TTS hosts use is there.")
    return 1 if said else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

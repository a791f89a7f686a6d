"""A cache for the FST of GLM-TTS's Chinese text normaliser, so that a host starts in seconds.

GLM-TTS builds WeTextProcessing's Chinese normaliser with its own options and
`overwrite_cache=True`: the grammar is compiled again at every start (about a minute on a CPU,
20-60 s in GLM-TTS's issues), because the FST shipped inside the package was built with other
options, and the result overwrites that shipped FST, which hosts starting together then write
at the same time. While `cached_zh_normalizer` is active, a normaliser built without a
`cache_dir` keeps its FST in a folder of its own under GLMTTS_TN_CACHE, keyed by the
WeTextProcessing version and the options: the first host builds it under a lock, marks it
complete, and every later start reads it. A damaged cached FST is built again; a cache folder
that cannot be written (read-only, full disk) leaves GLM-TTS to build the FST its own way.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Iterator

COMPLETE = "complete"


def cache_folder(root: str, options: dict[str, Any]) -> str:
    try:
        package = version("WeTextProcessing")
    except PackageNotFoundError:
        package = "unknown"
    key = hashlib.sha256(json.dumps({"WeTextProcessing": package, **options}, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return os.path.join(root, f"zh-{package}-{key}")


@contextlib.contextmanager
def cached_zh_normalizer(root: str) -> Iterator[None]:
    """While active, tn.chinese.normalizer.Normalizer(**options) builds or reads its FST in the
    cache. A normaliser given its own cache_dir, or positional arguments, is left alone."""
    try:
        import tn.chinese.normalizer as zh
    except ImportError:  # GLM-TTS itself will say so when it imports it
        yield
        return

    original = zh.Normalizer.__init__

    def init(self: Any, *args: Any, cache_dir: Any = None, overwrite_cache: bool = False, **options: Any) -> None:
        if args or cache_dir is not None:
            original(self, *args, cache_dir=cache_dir, overwrite_cache=overwrite_cache, **options)
            return
        try:
            build_or_read(self, cache_folder(root, options), options)
        except OSError as error:  # an unwritable or full cache folder: build as GLM-TTS does
            print(f"warning: the text normaliser cache {root} cannot be used ({error}); building the FST as GLM-TTS does", file=sys.stderr)
            original(self, overwrite_cache=overwrite_cache, **options)

    def build_or_read(normaliser: Any, folder: str, options: dict[str, Any]) -> None:
        os.makedirs(folder, exist_ok=True)
        marker = os.path.join(folder, COMPLETE)
        with open(os.path.join(folder, ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one host builds; the others wait, then read
            built = os.path.exists(marker)
            try:
                original(normaliser, cache_dir=folder, overwrite_cache=not built, **options)
            except Exception:
                if not built:
                    raise
                print(f"warning: the cached FST in {folder} could not be read; building it again", file=sys.stderr)
                os.remove(marker)
                built = False
                original(normaliser, cache_dir=folder, overwrite_cache=True, **options)
            if not built:  # only a build that finished counts: a crash mid-write is rebuilt
                with open(marker, "w"):
                    pass

    zh.Normalizer.__init__ = init
    try:
        yield
    finally:
        zh.Normalizer.__init__ = original

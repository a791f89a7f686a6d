"""What only the test double has: its call log (GLMTTS_DOUBLE_LOG) and its knobs."""

import json
import os


def record(call, **fields):
    """Appends one call to the JSON-lines file named by GLMTTS_DOUBLE_LOG, for tests to read."""
    path = os.environ.get("GLMTTS_DOUBLE_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps({"pid": os.getpid(), "call": call, **fields}, ensure_ascii=False) + "\n")


def seconds(name, default):
    return float(os.environ.get(name, default))

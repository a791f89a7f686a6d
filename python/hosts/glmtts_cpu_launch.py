#!/usr/bin/env python3
"""Runs a GLM-TTS script (glmtts_inference.py) on the CPU, unedited: the glm-tts-cli host's CPU
mode. Hides the GPUs, enters the torch function mode that maps GLM-TTS's CUDA calls to the CPU,
then runs the script as `__main__` from the current folder (the checkout).

    python3 glmtts_cpu_launch.py glmtts_inference.py --data=NAME ...
"""

import os
import runpy
import sys

from glmtts_device import enter_cpu_mode, hide_gpus

if __name__ == "__main__":
    hide_gpus()
    import torch  # noqa: F401  (after hide_gpus: torch must start without GPUs)

    enter_cpu_mode()
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    sys.path[0] = os.getcwd()  # as when the script itself is run from the checkout
    sys.path.append(os.path.dirname(os.path.abspath(__file__)))
    runpy.run_path(script, run_name="__main__")

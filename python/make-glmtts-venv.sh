#!/usr/bin/env bash
# Builds (or reuses) the virtual environment GLM-TTS runs in: python/requirements-glmtts.txt,
# pinned as GLM-TTS c5dc7ae pins them. `npm run glmtts:venv`; the GPU worker image runs it too.
#   GLMTTS_VENV   where the venv goes (default: .venv-glmtts in the repository)
#   PYTHON        the interpreter to build it from (default: python3; GLM-TTS supports 3.10-3.12)
# Prints the venv's python on its last line. A venv whose recorded requirements match is reused.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${GLMTTS_VENV:-$root/.venv-glmtts}"
requirements="$root/python/requirements-glmtts.txt"
stamp="$venv/.ttsq-requirements.sha256"
wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
  echo "GLM-TTS venv is up to date: $venv" >&2
else
  echo "Building the GLM-TTS venv in $venv (about 7 GB: torch 2.3.1 brings its CUDA libraries)" >&2
  "${PYTHON:-python3}" -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip wheel
  "$venv/bin/pip" install --quiet -r "$requirements"
  # ttsfrd, if anything brought it, breaks GLM-TTS's start (its issue #50).
  "$venv/bin/pip" uninstall --quiet -y ttsfrd 2>/dev/null || true
  echo "$wanted" > "$stamp"
fi
echo "$venv/bin/python"

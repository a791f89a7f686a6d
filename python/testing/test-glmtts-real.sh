#!/usr/bin/env bash
# `npm run test:glmtts-real`: the tests that run GLM-TTS's real code (CPU, tiny random weights),
# against the checkout named by GLMTTS_REPO, in the venv `npm run glmtts:venv` builds (built
# here if it is missing or stale). Inside `npm test` the same tests skip without GLMTTS_REPO.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ -z "${GLMTTS_REPO:-}" ]]; then
  echo "GLMTTS_REPO is not set: point it at a checkout of zai-org/GLM-TTS (git clone; weights are not needed)" >&2
  exit 2
fi
GLMTTS_PYTHON="${GLMTTS_PYTHON:-$(bash python/make-glmtts-venv.sh | tail -n 1)}"
export GLMTTS_PYTHON
"$GLMTTS_PYTHON" -m unittest python/testing/test_glmtts_batch.py
npx tsc -p tsconfig.json
exec node --test --test-concurrency=1 \
  dist/src/engines/hosts/glmtts-drift.test.js \
  dist/src/engines/hosts/glm-tts-real.test.js \
  dist/src/service/glm-tts-real-service.test.js

/**
 * python/hosts/glmtts_drift.py, the manifest of what the GLM-TTS hosts use from GLM-TTS's code:
 * the test double must match it (as a real checkout does), a double that drifted is named for
 * each difference, and a real checkout is checked when GLMTTS_REPO names one. Also the double's
 * behaviour where the hosts depend on GLM-TTS's: seeding, shape checks, chunks, normalisation.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PYTHON_HOSTS_DIR } from '../registry.js';

const run = promisify(execFile);
const DOUBLE = fileURLToPath(new URL('../../../../python/testing/glmtts_double/', import.meta.url));
const env = { ...process.env, PYTHONDONTWRITEBYTECODE: '1' };

/** glmtts_drift.py on a checkout: its exit status, and the differences it printed. */
async function drift(repo: string): Promise<{ code: number; out: string; differences: string[] }> {
  const { code, out } = await run('python3', [join(PYTHON_HOSTS_DIR, 'glmtts_drift.py'), repo], { env }).then(
    (r) => ({ code: 0, out: r.stdout }),
    (e: { code: number; stdout: string }) => ({ code: e.code, out: e.stdout }),
  );
  const differences = out
    .split('\n')
    .filter((l) => l.startsWith('DRIFT'))
    .map((l) => l.replace(/^DRIFT\s+/u, ''));
  return { code, out, differences };
}

test('glmtts_drift: the test double has all that the GLM-TTS hosts use', async () => {
  const { code, out, differences } = await drift(DOUBLE);
  assert.deepEqual(differences, []);
  assert.equal(code, 0, out);
  assert.match(out, /^ok\s+glmtts_inference\.py: generate_long\(frontend=, /mu);
});

test('glmtts_drift: a renamed parameter, a removed method and a removed option are each named', async () => {
  const root = await mkdtemp(join(tmpdir(), 'glmtts-drift-'));
  try {
    await cp(DOUBLE, root, { recursive: true, filter: (path) => !path.includes('__pycache__') });
    const edit = async (file: string, from: string, to: string) => {
      const text = await readFile(join(root, file), 'utf8');
      assert.equal(text.split(from).length, 2, `${file} has ${JSON.stringify(from)} once`);
      await writeFile(join(root, file), text.replace(from, to));
    };
    await edit('glmtts_inference.py', 'flow_prompt_token=None, speech_feat=None,', 'flow_prompt_token=None, prompt_feat=None,');
    await edit('glmtts_inference.py', '    parser.add_argument("--sample_rate", type=int, default=24000)\n', '');
    await edit('cosyvoice/cli/frontend.py', '    def _extract_spk_embedding(self, speech):\n', '    def _speaker_embedding(self, speech):\n');
    const { code, differences } = await drift(root);
    assert.equal(code, 1);
    assert.deepEqual(differences.sort(), [
      'cosyvoice/cli/frontend.py: no method TTSFrontEnd._extract_spk_embedding() (the glm-tts host calls it)',
      "glmtts_inference.py: generate_long() has no parameter 'speech_feat' (the glm-tts host passes it)",
      'glmtts_inference.py: no option --sample_rate (the glm-tts-cli host passes it)',
    ]);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('glmtts_drift: the GLM-TTS checkout named by GLMTTS_REPO has all that the hosts use', {
  skip: process.env.GLMTTS_REPO ? false : 'set GLMTTS_REPO to a GLM-TTS checkout to run this against the real code',
}, async () => {
  const { code, out, differences } = await drift(process.env.GLMTTS_REPO!);
  assert.deepEqual(differences, []);
  assert.equal(code, 0, out);
});

// Run inside the double: what its generate_long, set_seed and text front end do.
const BEHAVIOUR = `
import json
import glmtts_inference as g, torch
fe, tf, _, llm, flow = g.load_models(use_phoneme=False)
A = "这是第一句，它足够长，所以会被当作单独的一块文字来合成，不会和别的句子合并。"
B = A.replace("一", "二")

def say(text, seed, use_cache=True, prompt=None):
    prompt = prompt if prompt is not None else fe._extract_text_token("参考。 ")
    cache = {"cache_text": ["参考。 "], "cache_text_token": [prompt], "cache_speech_token": [[1, 2, 3]], "use_cache": use_cache}
    return g.generate_long(frontend=fe, text_frontend=tf, llm=llm, flow=flow, text_info=["u", text], cache=cache,
                           device=g.DEVICE, embedding=None, seed=seed)[0].values

def error(call):
    try:
        call()
    except Exception as e:
        return f"{type(e).__name__}: {e}"

print(json.dumps({
    "chunks": tf.split_by_len(A + B),
    "sameSeed": say(A + B, 7) == say(A + B, 7),
    "otherSeed": say(A + B, 7) != say(A + B, 8),
    "seededPerChunk": say(A + B, 7, use_cache=False) == say(A, 7, use_cache=False) + say(B, 7, use_cache=False),
    "seedErrors": [error(lambda: say(A, s)) for s in (-1, 2**32, 2**32 - 1)],
    "shapeError": error(lambda: say(A, 0, prompt=torch.tensor([1, 2, 3], dtype=torch.int32))),
    "normalized": [tf.text_normalize(t) for t in ("我们有１２个人！", "I have 42 apples & 3.5 kg", "你好？")],
}))
`;

test('the double behaves as GLM-TTS where the hosts depend on it', async () => {
  const { stdout } = await run('python3', ['-c', BEHAVIOUR], { cwd: DOUBLE, env });
  const found = JSON.parse(stdout.trim().split('\n').at(-1)!);
  assert.equal(found.chunks.length, 2, 'sentences are joined into chunks of 30 characters or more');
  assert.deepEqual([found.sameSeed, found.otherSeed], [true, true], 'the audio follows the seed');
  assert.equal(found.seededPerChunk, true, 'each chunk starts from the seed afresh');
  assert.deepEqual(found.seedErrors, ['ValueError: Seed must be between 0 and 2**32 - 1', 'ValueError: Seed must be between 0 and 2**32 - 1', null]);
  assert.match(found.shapeError, /^AssertionError: a \(1, N\) token tensor is expected/u);
  assert.deepEqual(found.normalized, ['我们有十二个人。', 'i have forty two apples three point five kg.', '你好?']);
});

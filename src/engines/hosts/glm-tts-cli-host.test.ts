/**
 * The glm-tts-cli host (python/hosts/glm_tts_cli_host.py), which runs GLM-TTS's official
 * script per batch, against the test double's copy of that script.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runHostConformance } from '../testing/host-conformance.js';
import { makeGlmttsDouble, type DoubleCall, type GlmttsDouble } from '../testing/glmtts-double.js';
import { EnginePool } from '../engine-pool.js';
import { hostSpec } from '../registry.js';
import type { VoiceReference } from '../protocol.js';
import { normalizeReference } from '../../audio/reference.js';
import { makeTone } from '../../audio/testing/fixtures.js';
import { decodeWav } from '../../audio/wav.js';
import type { TtsError } from '../../errors.js';

const dir = await mkdtemp(join(tmpdir(), 'glm-tts-cli-test-'));
const source = await makeTone(join(dir, 'voice-source.wav'), { seconds: 3 });
const normalized = await normalizeReference(source, { sampleRate: 24_000, outPath: join(dir, 'voice.wav') });
const voice: VoiceReference = { audioPath: normalized.path, sha256: normalized.sha256, promptText: '参考音频的文字' };
const conformanceDouble = await makeGlmttsDouble();
test.after(async () => {
  await conformanceDouble.remove();
  await rm(dir, { recursive: true, force: true });
});

runHostConformance('glm-tts-cli', () => hostSpec('glm-tts-cli', conformanceDouble.env), {
  sampleText: '你好，世界。Hello world.',
  // Each chunk costs the double's script a second: cancel stops the script while it runs.
  slowEnv: { GLMTTS_DOUBLE_CHUNK_SECONDS: '1' },
  slowText: '第一句。第二句。第三句。',
});

async function withPool(env: NodeJS.ProcessEnv, body: (pool: EnginePool, double: GlmttsDouble) => Promise<void>): Promise<void> {
  const double = await makeGlmttsDouble(env);
  const pool = new EnginePool({ spec: hostSpec('glm-tts-cli', double.env), size: 1 });
  try {
    await pool.start();
    await body(pool, double);
  } finally {
    await pool.close();
    await double.remove();
  }
}

const calls = (log: DoubleCall[], name: string) => log.filter((c) => c.call === name);
let segments = 0;
const outPath = () => join(dir, `segment-${++segments}.wav`);

test('glm-tts-cli: runs the official script from the checkout, turns its float WAV into 16-bit, and cleans up', async () => {
  await withPool({}, async (pool, double) => {
    const done = await pool.synthesize({ text: '今天天气很好。出去走走。', outPath: outPath(), voice, options: { use_phoneme: true } });
    const audio = decodeWav(await readFile(done.outPath));
    assert.equal(audio.sampleRate, 24_000);
    assert.equal(done.sampleRate, 24_000);
    // The double writes a 0.3-amplitude float tone; 16-bit keeps it (0.3 × 32767 ≈ 9830).
    const peak = Math.max(...audio.samples.map(Math.abs));
    assert.ok(peak > 9_700 && peak <= 9_831, `peak ${peak}`);
    const log = await double.calls();
    const [cli] = calls(log, 'cli');
    assert.deepEqual({ ...(cli!.argv as object), data: undefined, exp_name: undefined }, { data: undefined, exp_name: undefined, use_cache: true, use_phoneme: true, sample_rate: 24_000 });
    assert.ok(String(calls(log, 'load_models')[0]!.cwd).endsWith('GLM-TTS'), 'run from the checkout root');
    assert.equal(calls(log, 'generate_long')[0]!.text, '今天天气很好。出去走走。');
    assert.equal(calls(log, '_extract_speech_token')[0]!.path, voice.audioPath);
    // Its jsonl and output folder are gone; the checkout is as it was.
    assert.deepEqual((await readdir(join(double.repo, 'examples'))).filter((f) => f.startsWith('ttsq_')), []);
    assert.deepEqual(await readdir(join(double.repo, 'outputs')).catch(() => []), []);
    // Each segment is a run of the script, which loads the model again: the price of this host.
    await pool.synthesize({ text: '再来一句。', outPath: outPath(), voice });
    assert.equal(calls(await double.calls(), 'load_models').length, 2);
  });
});

test('glm-tts-cli: an item the script failed on (exit status 0, no WAV) is an error, typed from its log', async () => {
  await withPool({ GLMTTS_DOUBLE_OOM_MARKER: '爆显存' }, async (pool) => {
    await assert.rejects(pool.synthesize({ text: '这一段会爆显存。', outPath: outPath(), voice }), (error: TtsError) => error.code === 'E_ENGINE_OOM' && error.retryable);
    const missingVoice = { ...voice, audioPath: join(dir, 'gone.wav') };
    await assert.rejects(pool.synthesize({ text: '你好。', outPath: outPath(), voice: missingVoice }), (error: TtsError) => {
      assert.equal(error.code, 'E_ENGINE_FAILED');
      assert.match(error.message, /wrote no audio for this segment: .*gone\.wav/u);
      return true;
    });
    await pool.synthesize({ text: '你好。', outPath: outPath(), voice });
  });
});

test('glm-tts-cli: what the official script cannot do is refused, not ignored', async () => {
  await withPool({}, async (pool, double) => {
    const refusals: Array<[string, Parameters<EnginePool['synthesize']>[0]]> = [
      ['seed', { text: '你好。', outPath: outPath(), voice, seed: 42 }],
      ['forced readings', { text: '重要。', outPath: outPath(), voice, pronunciations: [{ text: '重', pinyin: 'chong2' }] }],
      ['sampler', { text: '你好。', outPath: outPath(), voice, options: { sample_method: 'topk' } }],
      ['no voice', { text: '你好。', outPath: outPath() }],
    ];
    for (const [what, request] of refusals) await assert.rejects(pool.synthesize(request), { code: 'E_ENGINE_REJECTED' }, what);
    assert.equal(calls(await double.calls(), 'cli').length, 0, 'the script never ran');
  });
});

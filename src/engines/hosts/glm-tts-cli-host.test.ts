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
import { callsNamed, makeGlmttsDouble, withDoublePool, type GlmttsDouble } from '../testing/glmtts-double.js';
import { makeReferenceVoice } from '../testing/reference-voice.js';
import { EnginePool } from '../engine-pool.js';
import { hostSpec } from '../registry.js';
import { decodeWav } from '../../audio/wav.js';
import type { TtsError } from '../../errors.js';

const dir = await mkdtemp(join(tmpdir(), 'glm-tts-cli-test-'));
const voice = await makeReferenceVoice(dir, 'voice', { sampleRate: 24_000 });
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

const withPool = (env: NodeJS.ProcessEnv, body: (pool: EnginePool, double: GlmttsDouble) => Promise<void>): Promise<void> => withDoublePool('glm-tts-cli', { env }, body);
const calls = callsNamed;
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
    assert.deepEqual(
      (await readdir(join(double.repo, 'examples'))).filter((f) => f.startsWith('ttsq_')),
      [],
    );
    assert.deepEqual(await readdir(join(double.repo, 'outputs')).catch(() => []), []);
    // Each segment is a run of the script, which loads the model again: the price of this host.
    await pool.synthesize({ text: '再来一句。', outPath: outPath(), voice });
    assert.equal(calls(await double.calls(), 'load_models').length, 2);
  });
});

test('glm-tts-cli: a voice without a transcript is read with an empty prompt text, not a KeyError that fails the batch', async () => {
  await withPool({}, async (pool, double) => {
    // The protocol lets promptText out (it is optional): the host must not index it.
    const untranscribed = { audioPath: voice.audioPath, sha256: voice.sha256 } as typeof voice;
    const [plain, other] = await Promise.all([
      pool.synthesize({ text: '没有参考文字。', outPath: outPath(), voice: untranscribed }),
      pool.synthesize({ text: '有参考文字。', outPath: outPath(), voice }),
    ]);
    assert.equal(decodeWav(await readFile(plain.outPath)).sampleRate, 24_000);
    assert.equal(decodeWav(await readFile(other.outPath)).sampleRate, 24_000);
    assert.ok(calls(await double.calls(), 'generate_long').some((c) => c.text === '没有参考文字。'));
  });
});

test('glm-tts-cli: an item the script failed on (exit status 0, no WAV) is an error, typed from its log', async () => {
  await withPool({ GLMTTS_DOUBLE_OOM_MARKER: '爆显存' }, async (pool) => {
    await assert.rejects(pool.synthesize({ text: '这一段会爆显存。', outPath: outPath(), voice }), (error: TtsError) => error.code === 'E_ENGINE_OOM' && error.retryable);
    const missingVoice = { ...voice, audioPath: join(dir, 'gone.wav') };
    await assert.rejects(pool.synthesize({ text: '你好。', outPath: outPath(), voice: missingVoice }), (error: TtsError) => {
      assert.equal(error.code, 'E_ENGINE_FAILED');
      // The script's own reason, with the path it named left out (messages reach clients).
      assert.match(error.message, /wrote no audio for this segment: .*No such file or directory: '<file>'/u);
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

test('glm-tts-cli: segments sent together share one run of the script; one canceled is answered at once', async () => {
  await withPool({ GLMTTS_DOUBLE_LOAD_SECONDS: '1', GLMTTS_DOUBLE_CHUNK_SECONDS: '0.2' }, async (pool, double) => {
    assert.equal(pool.capacity, 8, 'GLMTTS_CLI_BATCH segments per host');
    const controller = new AbortController();
    const texts = ['一。', '二。', '三。', '四。', '五。'];
    const settled: number[] = [];
    const jobs = texts.map((text, i) => {
      const job = pool.synthesize({ text, outPath: outPath(), voice }, i === 2 ? { signal: controller.signal } : {});
      void job.then(
        () => settled.push(i),
        () => settled.push(i),
      );
      return job;
    });
    while (calls(await double.calls(), 'load_models').length === 0) await new Promise((r) => setTimeout(r, 20));
    controller.abort();
    const outcomes = await Promise.allSettled(jobs);
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled'],
    );
    assert.equal(((outcomes[2] as PromiseRejectedResult).reason as TtsError).code, 'E_CANCELED');
    assert.equal(settled[0], 2, 'the canceled segment is answered while the run goes on');
    const log = await double.calls();
    assert.equal(calls(log, 'cli').length, 1, 'one run of the script for the batch');
    assert.equal(calls(log, 'load_models').length, 1, 'one model load for five segments');
    for (const outcome of outcomes) if (outcome.status === 'fulfilled') assert.ok(decodeWav(await readFile(outcome.value.outPath)).samples.length > 0);
  });
});

test('glm-tts-cli: a segment that times out takes its host down; the others of its batch fail as retryable', async () => {
  const double = await makeGlmttsDouble({ GLMTTS_DOUBLE_LOAD_SECONDS: '5' });
  const pool = new EnginePool({ spec: hostSpec('glm-tts-cli', double.env), size: 1, baseTimeoutMs: 1_500, perCharTimeoutMs: 0 });
  try {
    await pool.start();
    const first = pool.pids[0];
    const outcomes = await Promise.allSettled(['一。', '二。'].map((text) => pool.synthesize({ text, outPath: outPath(), voice })));
    const errors = outcomes.map((o) => (o as PromiseRejectedResult).reason as TtsError);
    assert.ok(
      errors.every((e) => e.retryable && ['E_ENGINE_TIMEOUT', 'E_ENGINE_CRASHED'].includes(e.code)),
      errors.map((e) => e.code).join(),
    );
    assert.ok(errors.some((e) => e.code === 'E_ENGINE_TIMEOUT'));
    while (pool.pids[0] === undefined || pool.pids[0] === first) await new Promise((r) => setTimeout(r, 20));
  } finally {
    await pool.close();
    await double.remove();
  }
});

test('glm-tts-cli: the official script does not outlive a killed host', async () => {
  await withPool({ GLMTTS_DOUBLE_LOAD_SECONDS: '30' }, async (pool, double) => {
    const job = pool.synthesize({ text: '一。', outPath: outPath(), voice });
    let script: number | undefined;
    while (script === undefined) {
      script = calls(await double.calls(), 'cli')[0]?.pid;
      await new Promise((r) => setTimeout(r, 20));
    }
    process.kill(pool.pids[0]!, 'SIGKILL');
    await assert.rejects(job, { code: 'E_ENGINE_CRASHED' });
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    const deadline = Date.now() + 5_000;
    while (alive(script) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(alive(script), false, 'the script died with its host');
  });
});

/**
 * Both GLM-TTS hosts on GLM-TTS's real code (GLMTTS_REPO), on the CPU (GLMTTS_DEVICE=cpu)
 * with tiny random weights made at test time: what the test double cannot show. The audio is
 * noise (the weights are random); what is checked is that the real code runs through the
 * hosts, and what the hosts promise about it. Skipped, saying how to run it, without a
 * checkout: `GLMTTS_REPO=/path/to/GLM-TTS npm run test:glmtts-real`.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runHostConformance } from '../testing/host-conformance.js';
import { prepareRealGlmtts, REAL_GLMTTS_SKIP, type RealGlmtts } from '../testing/glmtts-real.js';
import { runGlmttsCheck } from '../testing/glmtts-double.js';
import { makeReferenceVoice } from '../testing/reference-voice.js';
import { EnginePool } from '../engine-pool.js';
import { hostSpec, PYTHON_HOSTS_DIR } from '../registry.js';
import { decodeWav } from '../../audio/wav.js';
import type { TtsError } from '../../errors.js';
import type { SegmentRequest } from '../engine-host.js';
import type { VoiceReference } from '../protocol.js';

const run = promisify(execFile);

if (REAL_GLMTTS_SKIP) {
  test('GLM-TTS real code', { skip: REAL_GLMTTS_SKIP }, () => {});
} else {
  const real: RealGlmtts = await prepareRealGlmtts();
  const dir = await mkdtemp(join(tmpdir(), 'glm-tts-real-test-'));
  test.after(() => rm(dir, { recursive: true, force: true }));
  const voiceA = await makeReferenceVoice(dir, 'voice-a', { sampleRate: 24_000, frequencyHz: 150, promptText: '这是参考声音。' });
  const voiceB = await makeReferenceVoice(dir, 'voice-b', { sampleRate: 16_000, frequencyHz: 240 });
  let segments = 0;
  const outPath = () => join(dir, `segment-${++segments}.wav`);

  /** A started pool of one host on the real code; `logs` holds what it wrote on stderr. */
  const withRealPool = async <T>(engine: 'glm-tts' | 'glm-tts-cli', env: NodeJS.ProcessEnv, body: (pool: EnginePool, logs: string[]) => Promise<T>): Promise<T> => {
    const logs: string[] = [];
    const pool = new EnginePool({ spec: hostSpec(engine, { ...real.env, ...env }), size: 1, host: { onLog: (line) => logs.push(line) } });
    try {
      await pool.start();
      return await body(pool, logs);
    } finally {
      await pool.close();
      timings.push(...logs.filter((line) => line.includes('GLM-TTS loaded in')));
    }
  };
  /** Synthesises one segment; its time and audio length go to the test's diagnostics (docs/glm-tts.md quotes them). */
  const samples = async (pool: EnginePool, request: Omit<SegmentRequest, 'outPath'>): Promise<Int16Array> => {
    const started = performance.now();
    const done = await pool.synthesize({ ...request, outPath: outPath() });
    const seconds = (performance.now() - started) / 1000;
    const audio = decodeWav(await readFile(done.outPath));
    assert.equal(audio.sampleRate, 24_000);
    assert.ok(audio.samples.length > 0);
    timings.push(`${request.text.length} characters: ${seconds.toFixed(2)} s for ${(audio.samples.length / audio.sampleRate).toFixed(2)} s of audio`);
    return audio.samples;
  };
  const timings: string[] = [];
  test.after(() => {
    for (const line of timings) process.stdout.write(`timing: ${line}\n`);
  });
  const check = (repo: string) => runGlmttsCheck({ ...real.env, GLMTTS_REPO: repo }, real.python);

  test('glm-tts (real code): --check passes on the checkout with the tiny ckpt, and names each missing file without it', async () => {
    const ok = await check(real.repo);
    assert.equal(ok.code, 0, ok.out);
    assert.match(ok.out, /ok\s+GLM-TTS's imports run in .* and its text tokenizer loads/u);
    assert.match(ok.out, /ok\s+the hosts' use of GLM-TTS matches this checkout/u);
    assert.match(ok.out, /ok\s+CPU mode \(GLMTTS_DEVICE=cpu\)/u);
    const bare = await check(real.bareRepo);
    assert.equal(bare.code, 1);
    for (const path of ['ckpt/speech_tokenizer/config.json', 'ckpt/vq32k-phoneme-tokenizer', 'ckpt/llm/config.json', 'ckpt/flow/flow.pt', 'ckpt/flow/config.yaml', 'ckpt/hift/hift.pt']) {
      assert.ok(
        bare.missing.some((line) => line.includes(path)),
        `${path} is named: ${bare.out}`,
      );
    }
  });

  runHostConformance('glm-tts (real code)', () => hostSpec('glm-tts', real.env), {
    sampleText: '你好，世界。',
    // Several of GLM-TTS's 30-60 character chunks: cancel lands between two of them.
    slowText: '第一句话比较长，用来测试取消是否在两个文本块之间生效。'.repeat(8),
  });

  runHostConformance('glm-tts batched (real code)', () => hostSpec('glm-tts', { ...real.env, GLMTTS_MAX_BATCH: '4' }), {
    sampleText: '你好，世界。',
    slowText: '第一句话比较长，用来测试取消是否在两个文本块之间生效。'.repeat(8),
  });

  // Eight mixed requests: two voices, one to four of GLM-TTS's text chunks, seeds, both samplers, phoneme mode.
  const mixed: Array<Omit<SegmentRequest, 'outPath'>> = [
    { text: '今天天气很好。', voice: voiceA, seed: 7 },
    { text: 'Hello there, this is the second request.', voice: voiceB, seed: 8 },
    { text: '第一句话比较长，用来测试批处理。第二句话也不短，它会成为另一个文本块。第三句话结束了。', voice: voiceA, seed: 2 ** 32 - 1 },
    { text: '你好。', voice: voiceB, seed: 0, options: { sample_method: 'topk' } },
    { text: '重庆的弦乐。', voice: voiceA, seed: 3, options: { use_phoneme: true } },
    { text: 'A short one.', voice: voiceA },
    { text: '我们一起去公园散步吧，那里的风景非常美丽，还有很多人在跑步。', voice: voiceB, seed: 12_345, options: { use_cache: false } },
    { text: '最后一个请求。', voice: voiceA, seed: 31_337 },
  ];

  test('glm-tts batched (real code): each of 8 mixed requests sent together gives exactly the audio it gives alone on the unbatched host; a canceled one leaves the others unchanged', async () => {
    const alone = await withRealPool('glm-tts', {}, async (pool) => {
      const made: Int16Array[] = [];
      for (const request of mixed) made.push(await samples(pool, request));
      return made;
    });
    const together = await withRealPool('glm-tts', { GLMTTS_MAX_BATCH: '8' }, async (pool, logs) => {
      assert.equal(pool.capacity, 8);
      const made = await Promise.all(mixed.map((request) => samples(pool, request)));
      return { made, logs };
    });
    for (const [index, audio] of together.made.entries()) assert.deepEqual(audio, alone[index], `request ${index}: ${mixed[index]?.text}`);

    await withRealPool('glm-tts', { GLMTTS_MAX_BATCH: '8' }, async (pool) => {
      const canceled = new AbortController();
      const runs = mixed.map((request, index) => (index === 2 ? pool.synthesize({ ...request, outPath: outPath() }, { signal: canceled.signal }) : samples(pool, request)));
      setTimeout(() => canceled.abort(), 300);
      const settled = await Promise.allSettled(runs);
      assert.equal(settled[2]?.status, 'rejected');
      for (const [index, outcome] of settled.entries()) {
        if (index === 2) continue;
        assert.equal(outcome.status, 'fulfilled', String((outcome as PromiseRejectedResult).reason));
        assert.deepEqual((outcome as PromiseFulfilledResult<Int16Array>).value, alone[index], `request ${index} beside a canceled one`);
      }
    });
  });

  test('glm-tts (real code): extracts a voice once, the same seed gives the same samples, another seed others', async () => {
    await withRealPool('glm-tts', {}, async (pool, logs) => {
      const first = await samples(pool, { text: '今天天气很好。', voice: voiceA, seed: 7 });
      const again = await samples(pool, { text: '今天天气很好。', voice: voiceA, seed: 7 });
      const other = await samples(pool, { text: '今天天气很好。', voice: voiceA, seed: 8 });
      await samples(pool, { text: 'Hello there.', voice: voiceB });
      await samples(pool, { text: 'Hello again.', voice: voiceB, seed: 2 ** 32 - 1 });
      assert.deepEqual(again, first);
      assert.notDeepEqual(other, first);
      const extracted = logs.filter((line) => line.includes('prompt features extracted'));
      assert.equal(extracted.length, 2, extracted.join('\n'));
      assert.ok(extracted[0]?.includes(voiceA.sha256.slice(0, 12)));
      assert.ok(extracted[1]?.includes(voiceB.sha256.slice(0, 12)));
    });
  });

  test('glm-tts (real code): a forced reading changes what GLM-TTS reads; one written with digits is matched as normalised; one cut by a chunk boundary is refused', async () => {
    await withRealPool('glm-tts', {}, async (pool) => {
      const plain = await samples(pool, { text: '重庆的弦乐。', voice: voiceA, seed: 3, options: { use_phoneme: true } });
      const forced = await samples(pool, { text: '重庆的弦乐。', voice: voiceA, seed: 3, pronunciations: [{ text: '弦', pinyin: 'xuan2' }] });
      assert.notDeepEqual(forced, plain, 'the reading reached the model');
      const digitsPlain = await samples(pool, { text: '坐2号线。', voice: voiceA, seed: 3, options: { use_phoneme: true } });
      const digitsForced = await samples(pool, { text: '坐2号线。', voice: voiceA, seed: 3, pronunciations: [{ text: '2号线', pinyin: 'er4 hao4 xian4' }] });
      assert.notDeepEqual(digitsForced, digitsPlain, 'the key was found in its normalised form');
      // GLM-TTS cuts an unpunctuated run after 60 characters: 重庆 straddles the cut.
      const straddling = `${'天'.repeat(59)}重庆${'天'.repeat(10)}。`;
      await assert.rejects(pool.synthesize({ text: straddling, outPath: outPath(), voice: voiceA, pronunciations: [{ text: '重庆', pinyin: 'chong2 qing4' }] }), (error: TtsError) => {
        assert.equal(error.code, 'E_PRONUNCIATION_INVALID');
        assert.match(error.message, /重庆.*cannot be applied/u);
        return !error.retryable;
      });
    });
  });

  test('glm-tts (real code): bfloat16 loads the LLM in bfloat16 and samples from float32 logits', async (t) => {
    const probe = join(PYTHON_HOSTS_DIR, '..', 'testing', 'glmtts_engine_probe.py');
    const { stdout } = await run(real.python, [probe], { env: { ...process.env, ...real.env, GLMTTS_DTYPE: 'bfloat16' } });
    const seen = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as { bodyDtypes: string[]; headDtype: string; logitsDtype: string; device: string };
    assert.deepEqual(seen.bodyDtypes, ['torch.bfloat16']);
    assert.equal(seen.headDtype, 'torch.float32');
    assert.equal(seen.logitsDtype, 'torch.float32');
    assert.equal(seen.device, 'cpu');
    t.diagnostic(`bfloat16 host on the CPU: ${stdout.trim().split('\n').at(-1)}`);
    await withRealPool('glm-tts', { GLMTTS_DTYPE: 'bfloat16' }, async (pool) => {
      await samples(pool, { text: '你好。', voice: voiceA });
    });
  });

  test("glm-tts (real code): the Chinese text normaliser's FST is built by the first start and read by the next; a damaged or unusable cache is not fatal", async () => {
    const cache = join(dir, 'tn-cache');
    const starts: string[][] = [];
    const start = (tnCache: string) =>
      withRealPool('glm-tts', { GLMTTS_TN_CACHE: tnCache }, async (pool, logs) => {
        await samples(pool, { text: '你好。', voice: voiceA });
        starts.push(logs.filter((line) => /building fst for zh_normalizer|warning: the (cached FST|text normaliser cache)/u.test(line)));
      });
    await start(cache);
    await start(cache);
    // A cached FST that no longer reads (a damaged disk, a killed write) is built again...
    const [folder] = await readdir(cache);
    await writeFile(join(cache, folder!, 'zh_tn_tagger.fst'), 'not an FST');
    await start(cache);
    assert.ok(
      starts[2]?.some((line) => line.includes('could not be read; building it again')),
      starts[2]?.join('\n'),
    );
    // ...and a cache folder that cannot be made leaves GLM-TTS to build it its own way.
    await start(join(voiceA.audioPath, 'not-a-folder'));
    assert.ok(
      starts[3]?.some((line) => line.includes('cannot be used')),
      starts[3]?.join('\n'),
    );
    assert.ok(
      starts[0]?.some((line) => line.includes('building fst for zh_normalizer') && !line.includes('skip')),
      starts[0]?.join('\n'),
    );
    assert.ok(
      starts[1]?.some((line) => line.includes('skip building fst for zh_normalizer')),
      starts[1]?.join('\n'),
    );
  });

  test('glm-tts-cli (real code): runs the official glmtts_inference.py on the CPU, a voice without a transcript included', async () => {
    await withRealPool('glm-tts-cli', {}, async (pool) => {
      const noTranscript: VoiceReference = { audioPath: voiceB.audioPath, sha256: voiceB.sha256 } as VoiceReference;
      await samples(pool, { text: '你好，世界。', voice: voiceA });
      await samples(pool, { text: 'Hello world.', voice: noTranscript });
    });
  });
}

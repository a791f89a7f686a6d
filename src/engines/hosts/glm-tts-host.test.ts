/**
 * The GLM-TTS host (python/hosts/glm_tts_host.py) against the test double of GLM-TTS's modules
 * (python/testing/glmtts_double/): the protocol, and how the host feeds GLM-TTS, read from the
 * double's call log.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runHostConformance } from '../testing/host-conformance.js';
import { callsNamed, makeGlmttsDouble, runGlmttsCheck, withDoublePool, type DoubleCall } from '../testing/glmtts-double.js';
import { makeReferenceVoice } from '../testing/reference-voice.js';
import { EnginePool } from '../engine-pool.js';
import { hostSpec } from '../registry.js';
import { decodeWav } from '../../audio/wav.js';
import type { TtsError } from '../../errors.js';

const dir = await mkdtemp(join(tmpdir(), 'glm-tts-host-test-'));
const conformanceDouble = await makeGlmttsDouble();

// Made before any test is registered: the tests below share them.
const voiceA = await makeReferenceVoice(dir, 'voice-a', { sampleRate: 24_000, frequencyHz: 150 });
const voiceB = await makeReferenceVoice(dir, 'voice-b', { sampleRate: 24_000, frequencyHz: 240, promptText: '另一个声音' });

test.after(async () => {
  await conformanceDouble.remove();
  await rm(dir, { recursive: true, force: true });
});

/**
 * `count` sentences that GLM-TTS reads as `count` text chunks: it joins sentences until a chunk
 * has at least 30 characters (split_by_len), and so does the double.
 */
const chunkText = (count: number): string => Array.from({ length: count }, (_, i) => `这是第${'一二三四五六七八九十'[i]}句，它足够长，所以会被当作单独的一块文字来合成，不会和别的句子合并。`).join('');

runHostConformance('glm-tts', () => hostSpec('glm-tts', conformanceDouble.env), {
  sampleText: '你好，世界。Hello world.',
  // The double spends a second per GLM-TTS text chunk: cancel lands between chunks.
  slowEnv: { GLMTTS_DOUBLE_CHUNK_SECONDS: '1' },
  slowText: chunkText(4),
});

const calls = callsNamed;
let segments = 0;
const outPath = () => join(dir, `segment-${++segments}.wav`);

/** A started pool of glm-tts hosts on a fresh double; `log()` reads the double's calls. */
const withPool = <T>(env: NodeJS.ProcessEnv, size: number, body: (pool: EnginePool, log: () => Promise<DoubleCall[]>) => Promise<T>): Promise<T> =>
  withDoublePool('glm-tts', { env, size }, (pool, double) => body(pool, () => double.calls()));

test('glm-tts: loads the model once, extracts each voice once, and gives every job a fresh cache', async () => {
  await withPool({}, 1, async (pool, log) => {
    for (const voice of [voiceA, voiceB, voiceA, voiceB, voiceA, voiceA]) {
      const done = await pool.synthesize({ text: chunkText(2), outPath: outPath(), voice });
      assert.equal(done.sampleRate, 24_000);
      const audio = decodeWav(await readFile(done.outPath));
      assert.equal(audio.sampleRate, 24_000);
      assert.ok(audio.samples.length > 0);
    }
    const recorded = await log();
    assert.equal(calls(recorded, 'load_models').length, 1);
    assert.deepEqual(calls(recorded, 'load_models')[0], { ...calls(recorded, 'load_models')[0], use_phoneme: true, sample_rate: 24_000 });
    // The four prompt features: once per voice, not per job.
    for (const feature of ['_extract_speech_token', '_extract_speech_feat', '_extract_spk_embedding']) {
      assert.deepEqual(
        calls(recorded, feature).map((c) => c.path),
        [voiceA.audioPath, voiceB.audioPath],
        feature,
      );
    }
    const jobs = calls(recorded, 'generate_long');
    assert.equal(jobs.length, 6);
    // A cache reused from an earlier job would already hold that job's chunks (the double, like
    // GLM-TTS, appends to it): every job must start from the prompt alone.
    for (const job of jobs) assert.deepEqual(job.cache_sizes, [1, 1, 1]);
    assert.equal(calls(recorded, 'gpu').length, 12, 'two text chunks per job');
  });
});

test('glm-tts: seed, use_phoneme, use_cache and sample_method arrive as sent', async () => {
  await withPool({}, 1, async (pool, log) => {
    await pool.synthesize({ text: '你好。', outPath: outPath(), voice: voiceA, seed: 1234, options: { use_phoneme: true, sample_method: 'topk', use_cache: false } });
    await pool.synthesize({ text: '你好。', outPath: outPath(), voice: voiceA });
    const [sent, defaults] = calls(await log(), 'generate_long');
    assert.deepEqual([sent!.seed, sent!.use_phoneme, sent!.sample_method, sent!.use_cache], [1234, true, 'topk', false]);
    // Unset, they are what GLM-TTS's own demo uses.
    assert.deepEqual([defaults!.seed, defaults!.use_phoneme, defaults!.sample_method, defaults!.use_cache], [0, false, 'ras', true]);
    assert.deepEqual(
      calls(await log(), 'gpu').map((c) => c.sample_method),
      ['topk', 'ras'],
    );
  });
});

test('glm-tts: forced readings become phoneme tokens for that job only, then the dictionary is restored', async () => {
  await withPool({}, 1, async (pool, log) => {
    await pool.synthesize({
      text: '重要的弦。',
      outPath: outPath(),
      voice: voiceA,
      pronunciations: [
        { text: '重', pinyin: 'chong2' },
        { text: '弦', pinyin: 'xuan2' },
      ],
    });
    await pool.synthesize({ text: '重要的弦。', outPath: outPath(), voice: voiceA, options: { use_phoneme: true } });
    const [forced, after] = calls(await log(), 'g2p_infer');
    assert.equal(forced!.result, '<|CH|><|ONG2|>要的<|X|><|VAN2|>。');
    // The next job sees GLM-TTS's own dictionary again: 重 gone, 弦 back to its shipped reading.
    assert.deepEqual(after!.replace_dict, { 弦: '<|X|><|IAN2|>' });
    assert.equal(after!.result, '重要的<|X|><|IAN2|>。');
    assert.equal(calls(await log(), 'generate_long')[0]!.use_phoneme, true, 'forced readings turn the phoneme pass on');
  });
});

test('glm-tts: a reading outside the phoneme inventory, a missing voice or another rate is refused; the host keeps serving', async () => {
  await withPool({}, 1, async (pool) => {
    const pid = pool.pids[0];
    await assert.rejects(pool.synthesize({ text: '儿子。', outPath: outPath(), voice: voiceA, pronunciations: [{ text: '儿', pinyin: 'er5' }] }), (error: TtsError) => {
      assert.equal(error.code, 'E_PRONUNCIATION_INVALID');
      assert.match(error.message, /er5.*ER5/u);
      return error.retryable === false;
    });
    await assert.rejects(pool.synthesize({ text: '你好。', outPath: outPath() }), { code: 'E_ENGINE_REJECTED' });
    await assert.rejects(pool.synthesize({ text: '你好。', outPath: outPath(), voice: voiceA, sampleRate: 32_000 }), { code: 'E_ENGINE_REJECTED' });
    await assert.rejects(pool.synthesize({ text: '你好。', outPath: outPath(), voice: voiceA, options: { temperature: 0.7 } }), /unknown GLM-TTS options/u);
    await pool.synthesize({ text: '你好。', outPath: outPath(), voice: voiceA });
    assert.deepEqual(pool.pids, [pid]);
  });
});

test('glm-tts: cancel stops between GLM-TTS text chunks', async () => {
  await withPool({ GLMTTS_DOUBLE_CHUNK_SECONDS: '0.4' }, 1, async (pool, log) => {
    const controller = new AbortController();
    const job = pool.synthesize({ text: chunkText(6), outPath: outPath(), voice: voiceA }, { signal: controller.signal });
    while (calls(await log(), 'gpu').length === 0 && calls(await log(), 'generate_long').length === 0) await new Promise((r) => setTimeout(r, 20));
    controller.abort();
    await assert.rejects(job, { code: 'E_CANCELED' });
    const chunks = calls(await log(), 'gpu').length;
    assert.ok(chunks >= 1 && chunks <= 2, `stopped after ${chunks} of 6 chunks`);
    await pool.synthesize({ text: '好。', outPath: outPath(), voice: voiceA });
  });
});

test('glm-tts: CUDA out of memory becomes a retryable E_ENGINE_OOM after the cache is freed, and the host keeps serving', async () => {
  await withPool({ GLMTTS_DOUBLE_OOM_MARKER: '爆显存' }, 1, async (pool, log) => {
    const pid = pool.pids[0];
    await assert.rejects(pool.synthesize({ text: '这一段会爆显存。', outPath: outPath(), voice: voiceA }), (error: TtsError) => error.code === 'E_ENGINE_OOM' && error.retryable);
    const frees = calls(await log(), 'torch.cuda.empty_cache');
    assert.equal(frees.length, 1);
    // Emptied once the failed call's frames (its KV cache and activations) were gone, not from
    // inside the except block, where the traceback still holds them and nothing can be freed.
    assert.equal(frees[0]!.frames_held, false);
    await pool.synthesize({ text: '这一段没问题。', outPath: outPath(), voice: voiceA });
    assert.deepEqual(pool.pids, [pid], 'same host');
  });
});

test('glm-tts: a seed outside 0..2^32-1 is refused at the protocol edge, naming the range; the largest seed works', async () => {
  await withPool({}, 1, async (pool, log) => {
    const pid = pool.pids[0];
    for (const seed of [2 ** 32, -1]) {
      await assert.rejects(pool.synthesize({ text: '你好。', outPath: outPath(), voice: voiceA, seed }), (error: TtsError) => {
        assert.equal(error.code, 'E_ENGINE_PROTOCOL');
        assert.match(error.message, /"seed" must be between 0 and 4294967295/u);
        return !error.retryable;
      });
    }
    await pool.synthesize({ text: '你好。', outPath: outPath(), voice: voiceA, seed: 2 ** 32 - 1 });
    assert.deepEqual(
      calls(await log(), 'generate_long').map((c) => c.seed),
      [2 ** 32 - 1],
      'only the valid seed reached GLM-TTS',
    );
    assert.deepEqual(pool.pids, [pid]);
  });
});

test('glm-tts: a forced reading written with digits is matched in the form GLM-TTS normalises it to; one cut by a chunk boundary is refused, not ignored', async () => {
  await withPool({}, 1, async (pool, log) => {
    await pool.synthesize({ text: '坐2号线。', outPath: outPath(), voice: voiceA, pronunciations: [{ text: '2号线', pinyin: 'er4 hao4 xian4' }] });
    assert.equal(calls(await log(), 'g2p_infer')[0]!.result, '坐<|ER4|><|H|><|AO4|><|X|><|IAN4|>。');
    // GLM-TTS cuts an unpunctuated run after 60 characters: 重庆 straddles the cut.
    const straddling = `${'天'.repeat(59)}重庆${'天'.repeat(10)}。`;
    await assert.rejects(pool.synthesize({ text: straddling, outPath: outPath(), voice: voiceA, pronunciations: [{ text: '重庆', pinyin: 'chong2 qing4' }] }), (error: TtsError) => {
      assert.equal(error.code, 'E_PRONUNCIATION_INVALID');
      assert.match(error.message, /forced reading for "重庆" cannot be applied/u);
      return !error.retryable;
    });
    // The same when another occurrence of the key lies whole inside a chunk.
    const onceWhole = `重庆${'天'.repeat(57)}重庆${'天'.repeat(10)}。`;
    await assert.rejects(pool.synthesize({ text: onceWhole, outPath: outPath(), voice: voiceA, pronunciations: [{ text: '重庆', pinyin: 'chong2 qing4' }] }), {
      code: 'E_PRONUNCIATION_INVALID',
    });
    assert.equal(calls(await log(), 'generate_long').length, 1, 'the refused segments never reached GLM-TTS');
  });
});

test('glm-tts: a long run of long English words without punctuation, which GLM-TTS cannot split, is read with commas added', async () => {
  await withPool({}, 1, async (pool, log) => {
    const run = `${Array.from({ length: 24 }, () => 'internationalization').join(' ')}.`;
    const done = await pool.synthesize({ text: run, outPath: outPath(), voice: voiceA });
    assert.ok(decodeWav(await readFile(done.outPath)).samples.length > 0);
    const [job] = calls(await log(), 'generate_long');
    assert.equal(String(job!.text).split(',').length, 3, 'a comma every 8 words');
  });
});

test('glm-tts: GLMTTS_DTYPE=bfloat16 loads the LLM in bfloat16 (no float32 copy) and keeps its output layer in float32', async () => {
  await withPool({ GLMTTS_DTYPE: 'bfloat16' }, 1, async (pool, log) => {
    await pool.synthesize({ text: '你好。', outPath: outPath(), voice: voiceA });
    const recorded = await log();
    assert.deepEqual(
      calls(recorded, 'LlamaForCausalLM.from_pretrained').map((c) => c.dtype),
      ['torch.bfloat16'],
    );
    assert.equal(calls(recorded, 'llm.llama.to').length, 0, 'never loaded in float32 and cast');
    assert.equal(calls(recorded, 'llm.llama.lm_head.float').length, 1);
    assert.equal(calls(recorded, 'llm.llama.lm_head.register_forward_pre_hook').length, 1, 'its input is cast to float32 too');
  });
});

test('glm-tts: the CUDA cache is freed once the host has been idle', async () => {
  await withPool({ GLMTTS_IDLE_FREE_SECONDS: '0.3' }, 1, async (pool, log) => {
    await pool.synthesize({ text: '你好。', outPath: outPath(), voice: voiceA });
    const deadline = Date.now() + 10_000;
    while (calls(await log(), 'torch.cuda.empty_cache').length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const frees = calls(await log(), 'torch.cuda.empty_cache');
    assert.equal(frees.length, 1);
    assert.ok((frees[0]!.at as number) > (calls(await log(), 'gpu').at(-1)!.end as number), 'freed after the job, not during it');
    await new Promise((r) => setTimeout(r, 800));
    assert.equal(calls(await log(), 'torch.cuda.empty_cache').length, 1, 'once per idle spell');
  });
});

test('glm-tts: the voice cache is bounded (least recently used goes first)', async () => {
  await withPool({ GLMTTS_VOICE_CACHE: '1' }, 1, async (pool, log) => {
    for (const voice of [voiceA, voiceA, voiceB, voiceA]) await pool.synthesize({ text: '你好。', outPath: outPath(), voice });
    assert.equal(calls(await log(), '_extract_speech_token').length, 3);
  });
});

test('glm-tts: each host slot takes its own GPU from GLMTTS_GPUS and works from the checkout', async () => {
  await withPool({ GLMTTS_GPUS: '3,5', GLMTTS_SAMPLE_RATE: '32000' }, 2, async (pool, log) => {
    assert.deepEqual(pool.capabilities?.sampleRates, [32_000]);
    const loads = calls(await log(), 'load_models');
    assert.deepEqual(loads.map((c) => c.visible_gpus).sort(), ['3', '5']);
    assert.ok(loads.every((c) => c.sample_rate === 32_000 && String(c.cwd).endsWith('GLM-TTS')));
  });
});

test('glm-tts: a host killed mid-job is replaced, and the segment can run again', async () => {
  await withPool({ GLMTTS_DOUBLE_CHUNK_SECONDS: '0.3' }, 1, async (pool, log) => {
    const first = pool.pids[0]!;
    const job = pool.synthesize({ text: chunkText(4), outPath: outPath(), voice: voiceA });
    while (calls(await log(), 'gpu').length === 0) await new Promise((r) => setTimeout(r, 20));
    process.kill(first, 'SIGKILL');
    await assert.rejects(job, (error: TtsError) => error.code === 'E_ENGINE_CRASHED' && error.retryable);
    const done = await pool.synthesize({ text: chunkText(4), outPath: outPath(), voice: voiceA });
    assert.ok(decodeWav(await readFile(done.outPath)).samples.length > 0);
    assert.notEqual(pool.pids[0], first);
    assert.equal(calls(await log(), 'load_models').length, 2, 'the replacement loaded the model once');
  });
});

test('glm-tts: in CPU mode a segment is given far longer before it is declared hung', () => {
  const gpu = hostSpec('glm-tts', { GLMTTS_DEVICE: 'cuda' });
  const cpu = hostSpec('glm-tts', { GLMTTS_DEVICE: 'cpu' });
  assert.deepEqual([gpu.segmentBaseTimeoutMs, gpu.segmentPerCharTimeoutMs], [60_000, undefined]);
  assert.deepEqual([cpu.segmentBaseTimeoutMs, cpu.segmentPerCharTimeoutMs], [600_000, 15_000]);
});

test('glm-tts: a host that cannot start says why', async () => {
  const pool = new EnginePool({ spec: hostSpec('glm-tts', { GLMTTS_REPO: join(dir, 'nowhere') }), size: 1 });
  await assert.rejects(pool.start(), (error: TtsError) => error.code === 'E_ENGINE_START_FAILED' && /GLMTTS_REPO=.*nowhere has no glmtts_inference\.py/u.test(error.message));
  await pool.close();
  // Settings that contradict each other are refused, not silently resolved one way.
  const double = await makeGlmttsDouble({ GLMTTS_DEVICE: 'cpu', GLMTTS_GPUS: '0,1' });
  const conflicting = new EnginePool({ spec: hostSpec('glm-tts', double.env), size: 1 });
  await assert.rejects(conflicting.start(), (error: TtsError) => /GLMTTS_GPUS .* cannot be combined with GLMTTS_DEVICE=cpu/u.test(error.message));
  await conflicting.close();
  await double.remove();
});

test('glm-tts --check names exactly what is missing, without loading the model', async () => {
  const double = await makeGlmttsDouble();
  try {
    const inDouble = await runGlmttsCheck({ ...double.env, GLMTTS_DOUBLE_LOG: join(dir, 'check-log.jsonl') });
    assert.equal(inDouble.code, 1);
    assert.deepEqual(inDouble.missing, [
      'ckpt/speech_tokenizer/config.json',
      'ckpt/vq32k-phoneme-tokenizer',
      'ckpt/llm/config.json',
      'ckpt/flow/flow.pt',
      'ckpt/flow/config.yaml',
      'ckpt/hift/hift.pt',
      'frontend/campplus.onnx',
      // The double reads no G2P tables of its own; a real checkout has them.
      'configs/G2P_able_1word.json',
      'configs/G2P_replace_dict.jsonl',
      'CUDA: torch sees no GPU; no NVIDIA driver (nvidia-smi) either',
    ]);
    assert.match(inDouble.out, /ok\s+Python packages: all \d+ that glmtts_inference\.py and the flow config import/u);
    assert.match(inDouble.out, /ok\s+GLM-TTS's imports run in /u);
    assert.match(inDouble.out, /ok\s+the hosts' use of GLM-TTS matches this checkout/u);
    assert.equal(await readFile(join(dir, 'check-log.jsonl'), 'utf8').catch(() => ''), '', 'no model loaded');
    const unset = await runGlmttsCheck({ GLMTTS_REPO: '' });
    assert.equal(unset.code, 1);
    assert.deepEqual(unset.missing, ['GLMTTS_REPO is not set: point it at a GLM-TTS checkout (git clone of zai-org/GLM-TTS)']);
  } finally {
    await double.remove();
  }
});

test("glm-tts --check follows what loading imports: the flow config's HyperPyYAML tags, and packages that fail inside their own imports", async () => {
  const double = await makeGlmttsDouble();
  try {
    // As GLM-TTS's ckpt/flow/config.yaml builds flow.flow.Flow, whose module needs x_transformers.
    await mkdir(join(double.repo, 'ckpt', 'flow'), { recursive: true });
    await writeFile(join(double.repo, 'ckpt', 'flow', 'config.yaml'), 'flow: !new:flow.flow.Flow\n  mel_dim: 80\n');
    await mkdir(join(double.repo, 'flow'));
    await writeFile(join(double.repo, 'flow', '__init__.py'), '');
    await writeFile(join(double.repo, 'flow', 'flow.py'), 'from x_transformers_ttsq_absent.x_transformers import RotaryEmbedding\n');
    // As WeTextProcessing's tn imports pynini inside itself: present, but failing when imported.
    const site = join(dir, 'site-packages');
    await mkdir(join(site, 'tn_ttsq_probe'), { recursive: true });
    await writeFile(join(site, 'tn_ttsq_probe', '__init__.py'), 'import pynini_ttsq_absent\n');
    const entry = join(double.repo, 'glmtts_inference.py');
    await writeFile(entry, `import tn_ttsq_probe\n${await readFile(entry, 'utf8')}`);
    const { out, code } = await runGlmttsCheck({ ...double.env, PYTHONPATH: site });
    assert.equal(code, 1);
    assert.match(out, /MISSING\s+Python package x_transformers_ttsq_absent/u);
    // With a package missing, the import is not tried; without it, the probe finds pynini.
    await writeFile(join(double.repo, 'flow', 'flow.py'), '');
    const again = await runGlmttsCheck({ ...double.env, PYTHONPATH: site });
    assert.equal(again.code, 1);
    assert.match(again.out, /MISSING\s+import glmtts_inference: ModuleNotFoundError: No module named 'pynini_ttsq_absent'\s+-> pip install pynini_ttsq_absent/u);
  } finally {
    await double.remove();
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TaskRequest } from '../backends/backend.js';
import { parseHostMessage, ProtocolViolation, type EngineCapabilities } from '../engines/protocol.js';
import { reuseKey, type ReuseInputs } from './reuse-key.js';

const capabilities: EngineCapabilities = {
  engine: 'espeak',
  version: '1',
  sampleRates: [22_050],
  cloning: false,
  voiceFollowing: [],
  phonemeControl: true,
  languages: ['zh'],
  maxSegmentChars: 200,
  maxBatch: 1,
  requiresVoice: false,
  options: [],
  deterministic: 'always',
};
const request: TaskRequest = { text: '你好。', format: 'wav', priority: 0, pronunciations: [], seed: 1 };
const inputs: ReuseInputs = { request, capabilities, sampleRate: 22_050, pauseMs: 200, reference: { audioPath: '/a.wav', sha256: 'ab', promptText: '参考' } };
const key = reuseKey(inputs)!;

test('every input that decides the audio changes the key', () => {
  assert.match(key, /^[0-9a-f]{64}$/u);
  const changed: Array<[string, Partial<ReuseInputs>]> = [
    ['engine', { capabilities: { ...capabilities, engine: 'other' } }],
    ['engine version', { capabilities: { ...capabilities, version: '2' } }],
    ['text', { request: { ...request, text: '你好！' } }],
    ['voice', { reference: { audioPath: '/a.wav', sha256: 'cd', promptText: '参考' } }],
    ['transcript', { reference: { audioPath: '/a.wav', sha256: 'ab', promptText: '别的' } }],
    ['no voice', { reference: undefined }],
    ['sample rate', { sampleRate: 24_000 }],
    ['seed', { request: { ...request, seed: 2 } }],
    ['pronunciations', { request: { ...request, pronunciations: [{ text: '好', pinyin: 'hao4' }] } }],
    ['engine options', { request: { ...request, engineOptions: { a: 1 } } }],
    ['format', { request: { ...request, format: 'mp3' } }],
    ['speed', { request: { ...request, speed: 1.5 } }],
    ['pause', { pauseMs: 300 }],
  ];
  for (const [name, change] of changed) assert.notEqual(reuseKey({ ...inputs, ...change }), key, name);
});

test('what does not decide the audio leaves the key as it is', () => {
  assert.equal(reuseKey({ ...inputs, request: { ...request, priority: 5, reuse: false, speed: 1 } }), key, 'priority, reuse, speed 1 given');
  const a = reuseKey({ ...inputs, request: { ...request, engineOptions: { a: 1, b: true } } });
  assert.equal(reuseKey({ ...inputs, request: { ...request, engineOptions: { b: true, a: 1 } } }), a, 'the order of engine options');
});

test('no key where the engine is not deterministic for the request', () => {
  const { deterministic: _, ...sampling } = capabilities;
  assert.equal(reuseKey({ ...inputs, capabilities: sampling }), undefined);
  const seeded = { ...capabilities, deterministic: 'seeded' as const };
  assert.equal(reuseKey({ ...inputs, capabilities: seeded, request: { ...request, seed: undefined } }), undefined, 'seeded, without a seed');
  assert.ok(reuseKey({ ...inputs, capabilities: seeded }) !== undefined, 'seeded, with one');
});

test('a host announces deterministic as always or seeded, or not at all', () => {
  const ready = (extra: Record<string, unknown>) => JSON.stringify({ type: 'ready', protocol: 1, capabilities: { ...capabilities, deterministic: undefined, ...extra } });
  const parse = (line: string) => parseHostMessage(line) as { capabilities: EngineCapabilities };
  assert.equal(parse(ready({})).capabilities.deterministic, undefined);
  assert.equal(parse(ready({ deterministic: 'seeded' })).capabilities.deterministic, 'seeded');
  assert.throws(() => parse(ready({ deterministic: 'sometimes' })), ProtocolViolation);
});

test("with parts, each part's text, voice, transcript, pause and chapter change the key", () => {
  const parts = [
    { text: '你好。', voiceId: 'v1' },
    { text: '再见。', pauseMs: 500, chapter: '一' },
  ];
  const references = { v1: { audioPath: '/v1.wav', sha256: 'v1hash', promptText: '' } };
  const withParts: ReuseInputs = { ...inputs, request: { ...request, text: '你好。\n\n再见。', parts }, references };
  const base = reuseKey(withParts)!;
  assert.notEqual(base, reuseKey({ ...inputs, request: { ...request, text: '你好。\n\n再见。' } }), 'parts against the same text without them');
  const changed: Array<[string, Partial<ReuseInputs>]> = [
    ['a part voice', { references: { v1: { ...references.v1, sha256: 'other' } } }],
    ['a part transcript', { request: { ...withParts.request, parts: [{ ...parts[0]!, promptText: '别的' }, parts[1]!] } }],
    ['a pause', { request: { ...withParts.request, parts: [parts[0]!, { ...parts[1]!, pauseMs: 600 }] } }],
    ['a chapter', { request: { ...withParts.request, parts: [parts[0]!, { ...parts[1]!, chapter: '二' }] } }],
    ['where the parts split', { request: { ...withParts.request, parts: [{ text: '你好。\n\n再见。', voiceId: 'v1' }] } }],
  ];
  for (const [name, change] of changed) assert.notEqual(reuseKey({ ...withParts, ...change }), base, name);
  assert.equal(reuseKey({ ...withParts }), base, 'the same parts, the same key');
});

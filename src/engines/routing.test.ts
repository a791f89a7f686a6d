import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseEngine, type EngineNeeds } from './routing.js';
import type { EngineCapabilities } from './protocol.js';
import type { TtsError } from '../errors.js';

const engine = (name: string, overrides: Partial<EngineCapabilities> = {}): EngineCapabilities => ({
  engine: name,
  version: '1',
  sampleRates: [24_000],
  cloning: false,
  voiceFollowing: [],
  phonemeControl: false,
  languages: ['zh'],
  maxSegmentChars: 300,
  maxBatch: 1,
  requiresVoice: false,
  options: [],
  ...overrides,
});
const glm = engine('glm-tts', { cloning: true, phonemeControl: true, requiresVoice: true, options: ['use_cache', 'use_phoneme', 'sample_method'] });
const espeak = engine('espeak', { sampleRates: [22_050], phonemeControl: true });
const needs = (overrides: Partial<EngineNeeds> = {}): EngineNeeds => ({ cloning: false, phonemeControl: false, hasVoice: false, options: [], ...overrides });
const refused = (code: string, pattern: RegExp) => (error: TtsError) => error.code === code && pattern.test(error.message);

test('the first engine in order of preference that can do the task takes it', () => {
  assert.equal(chooseEngine(needs({ hasVoice: true }), [glm, espeak]).engine, 'glm-tts');
  assert.equal(chooseEngine(needs(), [glm, espeak]).engine, 'espeak', 'glm-tts needs a voice');
  assert.equal(chooseEngine(needs({ hasVoice: true, engine: 'espeak' }), [glm, espeak]).engine, 'espeak');
  assert.equal(chooseEngine(needs({ sampleRate: 22_050, hasVoice: true }), [glm, espeak]).engine, 'espeak');
  assert.equal(chooseEngine(needs({ phonemeControl: true, hasVoice: true, options: ['sample_method'] }), [espeak, glm]).engine, 'glm-tts');
});

test('with no engine able, the refusal says what each one lacks', () => {
  assert.throws(() => chooseEngine(needs({ cloning: true }), [glm, espeak]), refused('E_ENGINE_CAPABILITY', /glm-tts needs a reference voice; espeak does not clone/u));
  assert.throws(
    () => chooseEngine(needs({ options: ['temperature'], hasVoice: true }), [glm]),
    refused('E_ENGINE_CAPABILITY', /no option temperature \(it has use_cache, use_phoneme, sample_method\)/u),
  );
  assert.throws(() => chooseEngine(needs({ phonemeControl: true }), [engine('bench-sleep')]), refused('E_ENGINE_CAPABILITY', /does not take forced readings/u));
  assert.throws(() => chooseEngine(needs({ engine: 'glm-tts' }), [espeak]), refused('E_ENGINE_CAPABILITY', /No engine "glm-tts" is configured; configured: espeak/u));
  // Only the rate stands in the way: the code a client fixes by changing that number.
  assert.throws(
    () => chooseEngine(needs({ sampleRate: 44_100, hasVoice: true }), [glm, espeak]),
    refused('E_SAMPLE_RATE_UNSUPPORTED', /glm-tts writes 24000 Hz, not 44100 Hz; espeak writes 22050 Hz/u),
  );
  assert.throws(() => chooseEngine(needs(), []), refused('E_ENGINE_CAPABILITY', /none is configured/u));
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EngineCapabilities } from '../engines/protocol.js';
import { TtsError } from '../errors.js';
import { parseOpenAIVoices, planSpeech, type OpenAISpeechBody } from './openai-speech.js';

const engine = (name: string, cloning: boolean): EngineCapabilities => ({
  engine: name,
  version: '1',
  sampleRates: [24_000],
  cloning,
  voiceFollowing: [],
  phonemeControl: false,
  languages: [],
  maxSegmentChars: 200,
  maxBatch: 1,
  requiresVoice: false,
  options: [],
});
const ENGINES = [engine('espeak', false), engine('glm-tts', true)];
const VOICE = '3f2a1c4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b';
const plan = (body: Partial<OpenAISpeechBody>, engines = ENGINES) => planSpeech({ model: 'tts-1', input: 'Hi.', voice: 'alloy', ...body }, engines, { alloy: VOICE });

test('models: tts-1 is the default routing, tts-1-hd and gpt-4o-mini-tts prefer an engine that clones, an engine name is that engine', () => {
  assert.equal(plan({}).fields.engine, undefined);
  assert.equal(plan({ model: 'tts-1-hd' }).fields.engine, 'glm-tts');
  assert.equal(plan({ model: 'gpt-4o-mini-tts' }).fields.engine, 'glm-tts');
  assert.equal(plan({ model: 'gpt-4o-mini-tts' }, [engine('espeak', false)]).fields.engine, undefined, 'none clones: the default');
  assert.equal(plan({ model: 'espeak' }).fields.engine, 'espeak');
  assert.throws(
    () => plan({ model: 'whisper-1' }),
    (e: unknown) => e instanceof TtsError && e.code === 'E_MODEL_NOT_FOUND' && e.param === 'model' && e.message.includes('tts-1'),
  );
});

test("voices: a voice id, {id}, a mapped OpenAI name; an unmapped one is the engine's own voice; anything else is refused", () => {
  assert.equal(plan({ voice: VOICE }).fields.voice_id, VOICE);
  assert.equal(plan({ voice: { id: VOICE } }).fields.voice_id, VOICE);
  assert.equal(plan({ voice: 'alloy' }).fields.voice_id, VOICE);
  assert.equal(plan({ voice: 'nova' }).fields.voice_id, undefined);
  assert.throws(
    () => plan({ voice: 'Alloy' }),
    (e: unknown) => e instanceof TtsError && e.code === 'E_VOICE_NOT_FOUND' && e.param === 'voice',
  );
});

test('format, speed, pcm at 24 kHz, sse; instructions refused unless empty', () => {
  assert.deepEqual(plan({}).fields, { text: 'Hi.', voice_id: VOICE, format: 'mp3' });
  const pcm = plan({ response_format: 'pcm', speed: 0.5, stream_format: 'sse' });
  assert.deepEqual([pcm.format, pcm.sampleRate, pcm.fields.speed, pcm.sse], ['pcm', 24_000, 0.5, true]);
  assert.equal(plan({ instructions: '  ' }).format, 'mp3');
  assert.throws(
    () => plan({ instructions: 'Whisper.' }),
    (e: unknown) => e instanceof TtsError && e.code === 'E_INSTRUCTIONS_UNSUPPORTED' && e.param === 'instructions',
  );
});

test('OPENAI_VOICES: name=id pairs; a name OpenAI does not have or an id that is not one is refused, saying what was expected', () => {
  assert.deepEqual(parseOpenAIVoices(undefined), {});
  assert.deepEqual(parseOpenAIVoices(` alloy=${VOICE} , nova=${VOICE}`), { alloy: VOICE, nova: VOICE });
  for (const bad of [`bob=${VOICE}`, 'alloy=not-an-id', `alloy=${VOICE}=x`, 'alloy']) {
    assert.throws(
      () => parseOpenAIVoices(bad),
      (e: unknown) => e instanceof TtsError && e.code === 'E_INVALID_ARGUMENT' && e.message.includes('OPENAI_VOICES'),
      bad,
    );
  }
});

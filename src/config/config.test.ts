import { test } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { loadConfig } from './config.js';
import type { TtsError } from '../errors.js';

test('ENGINE lists engines in order of preference, each with its host count or ENGINE_HOSTS', () => {
  assert.deepEqual(loadConfig({}).engines, [{ name: 'espeak', hosts: availableParallelism() }]);
  assert.deepEqual(loadConfig({ ENGINE: 'glm-tts:4, espeak', ENGINE_HOSTS: '2' }).engines, [
    { name: 'glm-tts', hosts: 4 },
    { name: 'espeak', hosts: 2 },
  ]);
});

test('a malformed ENGINE is refused with a message that says what it takes', () => {
  const refused = (pattern: RegExp) => (error: TtsError) => error.code === 'E_INVALID_ARGUMENT' && pattern.test(error.message);
  assert.throws(() => loadConfig({ ENGINE: 'festival' }), refused(/among espeak, bench-sleep, glm-tts, glm-tts-cli.*got "festival"/u));
  assert.throws(() => loadConfig({ ENGINE: 'glm-tts:0' }), refused(/ENGINE \(glm-tts\).*from 1 to 64/u));
  assert.throws(() => loadConfig({ ENGINE: 'glm-tts:2:3' }), refused(/got "glm-tts:2:3"/u));
  assert.throws(() => loadConfig({ ENGINE: 'espeak,espeak' }), refused(/each engine once/u));
  assert.throws(() => loadConfig({ ENGINE: 'espeak,' }), refused(/got ""/u));
});

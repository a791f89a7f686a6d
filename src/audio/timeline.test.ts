import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildTimeline } from './timeline.js';

const segments = [
  { text: 'One.', durationMs: 1000 },
  { text: 'Two.', part: 1, durationMs: 500.25 },
  { text: 'Three.', part: 1, durationMs: 2000 },
];

test('segments follow each other with the pause after each, the last pause not in the audio', () => {
  assert.deepEqual(buildTimeline(segments, { pausesAfterMs: [200, 800, 5000] }), [
    { text: 'One.', part: 0, startMs: 0, endMs: 1000 },
    { text: 'Two.', part: 1, startMs: 1200, endMs: 1700.3 },
    { text: 'Three.', part: 1, startMs: 2500.3, endMs: 4500.3 },
  ]);
});

test('a speed divides every time; missing or negative pauses count as none', () => {
  const timeline = buildTimeline(segments, { pausesAfterMs: [200], speed: 2 });
  assert.deepEqual(
    timeline.map((e) => [e.startMs, e.endMs]),
    [
      [0, 500],
      [600, 850.1],
      [850.1, 1850.1],
    ],
  );
  assert.deepEqual(buildTimeline([], { pausesAfterMs: [] }), []);
  assert.equal(buildTimeline(segments, { pausesAfterMs: [-5, -5] })[2]!.startMs, 1500.3);
  assert.throws(() => buildTimeline(segments, { pausesAfterMs: [], speed: 0 }), RangeError);
});

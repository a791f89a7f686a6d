/**
 * TEST DOUBLE: an engine host that breaks the protocol on purpose, to test the supervisor.
 * MISBEHAVE selects how: "garbage" (answers a segment with a non-JSON line), "hang" (blocks its
 * event loop forever on a segment, as a stuck native engine would), "exit-before-ready",
 * "wrong-id" (answers with an id it was never given), "ignore-cancel" (keeps working after cancel).
 */

import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { encodeWav } from '../../audio/wav.js';
import { PROTOCOL_VERSION, parseWorkerMessage } from '../protocol.js';

const mode = process.env.MISBEHAVE ?? 'garbage';
const send = (message: unknown): void => void process.stdout.write(`${JSON.stringify(message)}\n`);

if (mode === 'exit-before-ready') process.exit(3);

send({
  type: 'ready',
  protocol: PROTOCOL_VERSION,
  capabilities: {
    engine: 'misbehaving',
    version: '0',
    sampleRates: [16000],
    cloning: false,
    voiceFollowing: [],
    phonemeControl: false,
    languages: ['en'],
    maxSegmentChars: 100,
    maxBatch: 1,
    requiresVoice: false,
    options: [],
  },
});

createInterface({ input: process.stdin }).on('line', (line) => {
  const message = parseWorkerMessage(line);
  if (message.type === 'ping') return send({ type: 'pong', id: message.id });
  if (message.type === 'shutdown') return process.exit(0);
  if (message.type !== 'synthesize') return;
  switch (mode) {
    case 'garbage':
      process.stdout.write('this is not json\n');
      return;
    case 'hang':
      for (;;) {
        // A busy loop: no timer, no I/O, no answer to anything.
      }
    case 'wrong-id':
      send({ type: 'done', id: 'someone-else', outPath: message.outPath, sampleRate: 16000, durationMs: 1 });
      return;
    case 'ignore-cancel':
      setTimeout(() => {
        writeFileSync(message.outPath, encodeWav({ sampleRate: 16000, channels: 1, samples: new Int16Array(1600) }));
        send({ type: 'done', id: message.id, outPath: message.outPath, sampleRate: 16000, durationMs: 100 });
      }, 60_000);
      return;
  }
});

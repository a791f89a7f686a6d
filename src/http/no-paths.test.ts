/**
 * Error messages reach clients; server file paths never do (they stay in the logs, as the
 * error's cause). Each case here used to answer with a path of DATA_DIR in its message.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTone } from '../audio/testing/fixtures.js';
import { jsonPost, startTestService, waitForTask, type TestService, withConsent } from '../service/testing/test-service.js';

let service: TestService;
before(async () => {
  service = await startTestService();
});
after(async () => {
  await service.stop();
});

function assertNoPath(message: string): void {
  assert.ok(!message.includes(service.dataDir), `the message shows DATA_DIR: ${message}`);
  assert.ok(!/\/blobs\/|file:/u.test(message), `the message shows a stored file: ${message}`);
}

test('a reference that starts like a WAV but ffprobe cannot read: refused without the upload path', async () => {
  // A RIFF/WAVE header (it passes the magic-bytes check) followed by garbage: ffprobe names the file in its error.
  const broken = Buffer.concat([Buffer.from('RIFF'), Buffer.from([0xff, 0xff, 0, 0]), Buffer.from('WAVEfmt '), Buffer.alloc(64, 0xab)]);
  const form = withConsent(new FormData());
  form.set('name', 'broken');
  form.set('prompt_text', '坏的。');
  form.set('audio', new Blob([broken]), 'broken.wav');
  const refused = await service.request('/api/voices', { method: 'POST', body: form });
  assert.equal(refused.status, 415, JSON.stringify(refused.body));
  assertNoPath(refused.body.error.message);
});

test('a task whose stored voice lost its files fails without naming them', async () => {
  const form = withConsent(new FormData());
  form.set('name', 'vanishing');
  form.set('prompt_text', '这是一段声音。');
  form.set('audio', new Blob([await readFile(await makeTone(join(service.dataDir, 'vanishing.wav'), { seconds: 3 }))]), 'voice.wav');
  const voice = await service.request('/api/voices', { method: 'POST', body: form });
  assert.equal(voice.status, 201, JSON.stringify(voice.body));
  await rm(join(service.dataDir, 'blobs', 'voices', voice.body.id), { recursive: true, force: true });
  await writeFile(join(service.dataDir, 'unrelated'), ''); // keep DATA_DIR non-empty either way
  const submitted = await service.request('/api/synthesis', jsonPost({ text: '用这个声音读。', voice_id: voice.body.id }));
  assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
  const task = await waitForTask(service, submitted.body.id);
  assert.equal(task.status, 'failed');
  assertNoPath(task.error.message);
  const events = await service.request(`/api/task/${task.id}/events`);
  assertNoPath(String(events.body));
});

/**
 * The whole service on BLOB_STORE=s3 (s3rver on loopback): its local folder is emptied between
 * steps, as if each step ran on another node, so every file must come from the bucket.
 */

import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { makeTone } from '../audio/testing/fixtures.js';
import { jsonPost, startTestService, waitForTask, waitUntil, withConsent } from '../service/testing/test-service.js';
import { startS3Server } from './testing/s3-server.js';

const s3 = await startS3Server();
// The service takes credentials from the SDK's usual chain, as a deployment does.
const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
process.env.AWS_ACCESS_KEY_ID = s3.credentials.accessKeyId;
process.env.AWS_SECRET_ACCESS_KEY = s3.credentials.secretAccessKey;
const prefix = 'deployment-1';
const service = await startTestService({ BENCH_SLEEP_COST_MS: '5', BLOB_STORE: 's3', S3_BUCKET: s3.bucket, S3_PREFIX: prefix, S3_ENDPOINT: s3.endpoint, S3_FORCE_PATH_STYLE: 'true' });
const blobDir = join(service.dataDir, 'blobs');
const client = new S3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials: s3.credentials });
after(async () => {
  await service.stop();
  client.destroy();
  await s3.close();
  for (const [name, value] of [
    ['AWS_ACCESS_KEY_ID', saved.id],
    ['AWS_SECRET_ACCESS_KEY', saved.secret],
  ] as const) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

async function keys(): Promise<string[]> {
  const page = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `${prefix}/` }));
  return (page.Contents ?? []).map((object) => object.Key!.slice(prefix.length + 1)).sort();
}

/** As if the next step ran on a node that has never seen these files. */
async function forgetLocalCopies(): Promise<void> {
  await rm(blobDir, { recursive: true, force: true });
}

test('a voice stored through the API is used by a worker with an empty folder; the result downloads from the bucket, ranges and validators included', async () => {
  const form = withConsent(new FormData());
  form.set('name', '远程');
  form.set('audio', new Blob([await readFile(await makeTone(join(service.dataDir, 'voice.ogg'), { seconds: 4, format: 'ogg' }))]), 'voice.ogg');
  const voice = await service.request('/api/voices', { method: 'POST', body: form });
  assert.equal(voice.status, 201, JSON.stringify(voice.body));
  assert.ok((await keys()).some((key) => key === `voices/${voice.body.id}/original`));
  await forgetLocalCopies();

  const submitted = await service.request('/api/synthesis', jsonPost({ text: '第一句。第二句。第三句。', voice_id: voice.body.id, format: 'wav' }));
  assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
  const task = await waitForTask(service, submitted.body.id);
  assert.equal(task.status, 'completed', JSON.stringify(task.error));
  // The scratch goes right after the task completes.
  await waitUntil(async () => !(await keys()).some((key) => key.startsWith(`tasks/${task.id}/`)), 'the scratch removed from the bucket');
  assert.ok((await keys()).includes(`results/${task.id}.wav`));
  await forgetLocalCopies();

  const whole = await fetch(`${service.url}${task.result.url}`);
  assert.equal(whole.status, 200);
  const audio = Buffer.from(await whole.arrayBuffer());
  assert.equal(audio.subarray(0, 4).toString(), 'RIFF');
  assert.equal(whole.headers.get('content-length'), String(audio.length));
  const etag = whole.headers.get('etag')!;
  const part = await fetch(`${service.url}${task.result.url}`, { headers: { range: 'bytes=0-43', 'if-range': etag } });
  assert.equal(part.status, 206);
  assert.deepEqual(Buffer.from(await part.arrayBuffer()), audio.subarray(0, 44));

  // The timeline is in the bucket beside the result: subtitles come from it on a node that never saw it.
  assert.ok((await keys()).includes(`results/${task.id}.timeline.json`));
  await forgetLocalCopies();
  const subtitles = await service.request(`/api/task/${task.id}/subtitles?format=srt`);
  assert.equal(subtitles.status, 200);
  assert.match(subtitles.body, /^1\n00:00:00,000 --> .*\n第一句。\n\n2\n/u);
});

test('a reference uploaded with the request reaches the worker through the bucket', async () => {
  const form = withConsent(new FormData());
  form.set('text', '上传参考音频。');
  form.set('audio', new Blob([await readFile(await makeTone(join(service.dataDir, 'ref.wav'), { seconds: 3 }))]), 'ref.wav');
  const { status, body } = await service.request('/api/synthesis', { method: 'POST', body: form });
  assert.equal(status, 202, JSON.stringify(body));
  const task = await waitForTask(service, body.id);
  assert.equal(task.status, 'completed', JSON.stringify(task.error));
  await waitUntil(async () => !(await keys()).some((key) => key.startsWith('uploads/')), 'the upload removed once prepared');
});

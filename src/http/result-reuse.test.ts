/**
 * Result reuse over real HTTP (issue 12): an identical request of the same owner completes from a
 * copy of the kept result, without an engine call (bench-sleep's log counts its syntheses), and
 * says `cached: true`; anything that changes the audio, another owner, `reuse: false`, an engine
 * that is not deterministic, or a result that is gone, runs the engine again.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTone } from '../audio/testing/fixtures.js';
import { CONSENT_FIELDS, jsonPost, startTestService, waitForTask, waitUntil, type TestService } from '../service/testing/test-service.js';

interface Engine {
  service: TestService;
  log: string;
}

async function startEngine(env: Record<string, string> = {}): Promise<Engine> {
  const log = join(process.env.TMPDIR ?? '/tmp', `reuse-${process.pid}-${Math.random().toString(36).slice(2)}.log`);
  await writeFile(log, '');
  const service = await startTestService({ BENCH_SLEEP_LOG: log, ...env });
  return { service, log };
}

const engine = await startEngine();
test.after(async () => {
  await engine.service.stop();
  await rm(engine.log, { force: true });
});

/** Segments bench-sleep has written so far. */
async function syntheses({ log }: Engine): Promise<number> {
  return (await readFile(log, 'utf8')).split('\n').filter(Boolean).length;
}

async function submit({ service }: Engine, body: Record<string, unknown> | FormData, headers: Record<string, string> = {}): Promise<any> {
  const init = body instanceof FormData ? { method: 'POST', body, headers } : jsonPost(body, headers);
  const answer = await service.request('/api/synthesis', init);
  assert.equal(answer.status, 202, JSON.stringify(answer.body));
  const task = await waitForTask(service, answer.body.id, undefined, 60_000, headers);
  assert.equal(task.status, 'completed', JSON.stringify(task));
  return task;
}

async function audio({ service }: Engine, id: string, headers: Record<string, string> = {}): Promise<Buffer> {
  const response = await fetch(`${service.url}/api/task/${id}/audio`, { headers });
  assert.equal(response.status, 200, await response.clone().text());
  return Buffer.from(await response.arrayBuffer());
}

/** Runs `body` and says how many segments the engine synthesised meanwhile. */
async function engineCallsDuring(target: Engine, body: () => Promise<unknown>): Promise<number> {
  const before = await syntheses(target);
  await body();
  return (await syntheses(target)) - before;
}

const TEXT = '第一句话。第二句话在这里。Third sentence in English.';

test('the second identical request completes without an engine call, cached, with the same audio', async () => {
  const fields = { text: TEXT, seed: 3, format: 'mp3' };
  let first: any;
  assert.ok((await engineCallsDuring(engine, async () => (first = await submit(engine, fields)))) > 0, 'the first runs the engine');
  assert.equal(first.cached, false);
  let second: any;
  assert.equal(await engineCallsDuring(engine, async () => (second = await submit(engine, fields))), 0, 'the second does not');
  assert.equal(second.cached, true);
  assert.notEqual(second.id, first.id, 'a task of its own');
  assert.deepEqual(second.progress, first.progress, 'progress full');
  assert.equal(second.progress.segments_done, second.progress.segments_total);
  assert.equal(second.engine, 'bench-sleep');
  assert.equal(second.result.duration_ms, first.result.duration_ms);
  assert.ok((await audio(engine, second.id)).equals(await audio(engine, first.id)), 'the same audio bytes');
  const listed = (await engine.service.request('/api/tasks?status=completed&limit=100')).body.tasks.find((t: any) => t.id === second.id);
  assert.equal(listed.cached, true, 'listed as cached');

  // Text is compared once normalised, and what does not change the audio does not count.
  assert.equal(await engineCallsDuring(engine, () => submit(engine, { ...fields, text: `  ${TEXT}\n` })), 0, 'white space around the text');
  assert.equal(await engineCallsDuring(engine, () => submit(engine, { ...fields, priority: 5 })), 0, 'another priority');
  assert.equal(await engineCallsDuring(engine, () => submit(engine, { ...fields, sample_rate: 24_000 })), 0, "the engine's own rate, named");
});

const differences: Array<{ name: string; change: Record<string, unknown> }> = [
  { name: 'another seed', change: { seed: 4 } },
  { name: 'another text', change: { text: `${TEXT}再多一句。` } },
  { name: 'another format', change: { format: 'opus' } },
  { name: 'reuse: false', change: { reuse: false } },
];

for (const { name, change } of differences) {
  test(`no reuse with ${name}`, async () => {
    const base = { text: TEXT, seed: 5, format: 'wav' };
    await submit(engine, base);
    let again: any;
    assert.ok((await engineCallsDuring(engine, async () => (again = await submit(engine, { ...base, ...change })))) > 0, 'the engine runs');
    assert.equal(again.cached, false);
  });
}

test('a result made with reuse: false is offered to later identical requests', async () => {
  const fields = { text: '重新合成一次。', format: 'flac' };
  assert.ok((await engineCallsDuring(engine, () => submit(engine, { ...fields, reuse: false }))) > 0);
  assert.equal(await engineCallsDuring(engine, async () => assert.equal((await submit(engine, fields)).cached, true)), 0);
});

test('the reference voice is part of the request: the same recording is reused, another is not', async () => {
  const form = async (file: string, frequencyHz: number): Promise<FormData> => {
    const body = new FormData();
    body.set('text', '跟着这个声音读。');
    body.set('prompt_text', '参考音频的文字。');
    for (const [key, value] of Object.entries(CONSENT_FIELDS)) body.set(key, value);
    body.set('audio', new Blob([await readFile(await makeTone(join(engine.service.dataDir, file), { seconds: 3, frequencyHz }))]), file);
    return body;
  };
  await submit(engine, await form('a.wav', 180));
  assert.equal(await engineCallsDuring(engine, async () => assert.equal((await submit(engine, await form('a-again.wav', 180))).cached, true)), 0, 'the same voice');
  assert.ok((await engineCallsDuring(engine, async () => assert.equal((await submit(engine, await form('b.wav', 260))).cached, false))) > 0, 'another voice');
  const transcript = await form('a-third.wav', 180);
  transcript.set('prompt_text', '另一段文字。');
  assert.ok((await engineCallsDuring(engine, () => submit(engine, transcript))) > 0, 'another transcript');
});

test('a copy stands on its own: the first result gone, the copy still plays, and is reused in turn; a vanished file means a normal run', async () => {
  const fields = { text: '独立的副本。', format: 'wav' };
  const first = await submit(engine, fields);
  const second = await submit(engine, fields);
  assert.equal(second.cached, true);
  const bytes = await audio(engine, second.id);
  await rm(join(engine.service.dataDir, 'blobs', 'results', `${first.id}.wav`));
  assert.ok((await audio(engine, second.id)).equals(bytes), 'the copy is its own file');
  let third: any;
  assert.equal(await engineCallsDuring(engine, async () => (third = await submit(engine, fields))), 0, 'the copy is reused');
  assert.equal(third.cached, true);

  // Every kept result's file is gone (removed by hand): the request runs on the engine.
  await rm(join(engine.service.dataDir, 'blobs', 'results', `${second.id}.wav`));
  await rm(join(engine.service.dataDir, 'blobs', 'results', `${third.id}.wav`));
  let fourth: any;
  assert.ok((await engineCallsDuring(engine, async () => (fourth = await submit(engine, fields)))) > 0);
  assert.equal(fourth.cached, false);
  assert.ok((await audio(engine, fourth.id)).equals(bytes), 'the same audio, made again');
});

test('GET /api/engines says whether results are reused', async () => {
  const { body } = await engine.service.request('/api/engines');
  assert.equal(body.engines[0].deterministic, 'always');
});

test('an engine deterministic only for a seed reuses seeded requests only; one that is not deterministic never', async () => {
  const seeded = await startEngine({ BENCH_SLEEP_DETERMINISTIC: 'seeded' });
  const never = await startEngine({ BENCH_SLEEP_DETERMINISTIC: 'never' });
  try {
    assert.equal((await seeded.service.request('/api/engines')).body.engines[0].deterministic, 'seeded');
    assert.equal((await never.service.request('/api/engines')).body.engines[0].deterministic, null);
    await submit(seeded, { text: TEXT });
    assert.ok((await engineCallsDuring(seeded, () => submit(seeded, { text: TEXT }))) > 0, 'no seed: not reused');
    await submit(seeded, { text: TEXT, seed: 1 });
    assert.equal(await engineCallsDuring(seeded, () => submit(seeded, { text: TEXT, seed: 1 })), 0, 'the same seed: reused');
    await submit(never, { text: TEXT, seed: 1 });
    assert.ok((await engineCallsDuring(never, () => submit(never, { text: TEXT, seed: 1 }))) > 0, 'never reused');
  } finally {
    await seeded.service.stop();
    await never.service.stop();
  }
});

test('a result whose retention ended is not reused', async () => {
  const short = await startEngine({ RESULT_TTL_SECONDS: '1' });
  try {
    const first = await submit(short, { text: TEXT });
    await waitUntil(async () => (await short.service.request(`/api/task/${first.id}`)).body.result.expired === true, 'the result to expire', 20_000);
    let again: any;
    assert.ok((await engineCallsDuring(short, async () => (again = await submit(short, { text: TEXT })))) > 0);
    assert.equal(again.cached, false);
  } finally {
    await short.service.stop();
  }
});

// Last: once a key exists, this loopback service no longer serves anonymous requests.
test("never across owners: one key's result is not another's; each key reuses its own", async () => {
  const key = async (name: string, by?: string): Promise<Record<string, string>> => {
    const answer = await engine.service.request('/api/keys', jsonPost({ name, role: by === undefined ? 'admin' : 'user' }, by === undefined ? {} : { authorization: `Bearer ${by}` }));
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    return { authorization: `Bearer ${answer.body.key}` };
  };
  const anonymous = await submit(engine, { text: '谁的结果？' }); // made without a key, before any key exists
  const admin = await key('admin');
  const alice = await key('alice', admin.authorization!.slice('Bearer '.length));
  const bob = await key('bob', admin.authorization!.slice('Bearer '.length));
  assert.ok(anonymous.id);
  let aliceTask: any;
  assert.ok((await engineCallsDuring(engine, async () => (aliceTask = await submit(engine, { text: '谁的结果？' }, alice)))) > 0, "not the anonymous request's");
  assert.equal(aliceTask.cached, false);
  let bobTask: any;
  assert.ok((await engineCallsDuring(engine, async () => (bobTask = await submit(engine, { text: '谁的结果？' }, bob)))) > 0, "not alice's");
  assert.equal(bobTask.cached, false);
  assert.equal(await engineCallsDuring(engine, async () => assert.equal((await submit(engine, { text: '谁的结果？' }, alice)).cached, true)), 0, 'alice reuses her own');
  assert.equal(await engineCallsDuring(engine, async () => assert.equal((await submit(engine, { text: '谁的结果？' }, bob)).cached, true)), 0, 'bob his');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTone } from '../audio/testing/fixtures.js';
import { CONSENT_FIELDS } from './testing/test-service.js';
import { killServiceGroup, startServiceProcess, type ServiceProcess } from './testing/service-process.js';

// A task with several voices killed with kill -9 in the middle resumes after a restart, and its
// result is the same as that of the same script run without a crash.

async function json(url: string, init?: RequestInit): Promise<any> {
  return await (await fetch(url, init)).json();
}

async function until<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const LINES = ['The first speaker opens the lesson today.', 'The second speaker asks a short question.', 'The third speaker answers it at some length.'];

test('kill -9 in the middle of a three-voice script: after a restart it resumes and gives the same result', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'parts-crash-'));
  const env = { HOST: '127.0.0.1', PORT: '0', DATA_DIR: dataDir, ENGINE: 'espeak', ENGINE_HOSTS: '1', LOG_LEVEL: 'warn', LEASE_MS: '2000' };
  let running: ServiceProcess | undefined;
  try {
    running = await startServiceProcess(env);
    const voices: string[] = [];
    for (const hz of [75, 105, 145]) {
      const form = new FormData();
      for (const [name, value] of Object.entries(CONSENT_FIELDS)) form.set(name, value);
      form.set('name', `voice-${hz}`);
      form.set('audio', new Blob([await readFile(await makeTone(join(dataDir, `voice-${hz}.wav`), { seconds: 4, frequencyHz: hz }))]), 'voice.wav');
      voices.push((await json(`${running.url}/api/voices`, { method: 'POST', body: form })).id);
    }
    const parts = Array.from({ length: 90 }, (_, i) => ({
      text: `${LINES[i % 3]} Line ${i}.`,
      voice_id: voices[i % 3],
      pause_ms: 100 + (i % 4) * 150,
      ...(i % 30 === 0 ? { chapter: `Chapter ${i / 30 + 1}` } : {}),
    }));
    const body = JSON.stringify({ parts, format: 'wav', reuse: false });
    const post = (url: string): Promise<any> => json(`${url}/api/synthesis`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const { id } = await post(running.url);
    const first = running;
    const progress = await until(async () => {
      const task = await json(`${first.url}/api/task/${id}`);
      return task.progress.segments_done >= 10 ? task.progress : undefined;
    }, 'some segments done');
    killServiceGroup(running); // the service and its engine host, at once
    await running.exited;
    running = undefined;
    assert.equal(progress.segments_total, 90, 'one segment a part here');
    assert.ok(progress.segments_done < 90, `killed in the middle (${progress.segments_done} of 90 done)`);

    running = await startServiceProcess(env);
    const second = running;
    const resumed = await until(async () => {
      const task = await json(`${second.url}/api/task/${id}`);
      return ['completed', 'failed', 'canceled'].includes(task.status) ? task : undefined;
    }, 'the task to finish after the restart');
    assert.equal(resumed.status, 'completed', JSON.stringify(resumed.error));
    assert.ok(resumed.attempts === undefined || resumed.attempts >= 1);
    const crashed = Buffer.from(await (await fetch(`${second.url}${resumed.result.url}`)).arrayBuffer());

    // The same script, run without a crash.
    const again = (await post(second.url)).id as string;
    const clean = await until(async () => {
      const task = await json(`${second.url}/api/task/${again}`);
      return ['completed', 'failed', 'canceled'].includes(task.status) ? task : undefined;
    }, 'the clean run');
    assert.equal(clean.status, 'completed');
    const uninterrupted = Buffer.from(await (await fetch(`${second.url}${clean.result.url}`)).arrayBuffer());
    assert.equal(crashed.length, uninterrupted.length, 'as long');
    assert.ok(crashed.equals(uninterrupted), 'the same samples');
    assert.deepEqual(resumed.result.chapters, clean.result.chapters);
    assert.deepEqual(
      resumed.result.chapters.map((c: { title: string }) => c.title),
      ['Chapter 1', 'Chapter 2', 'Chapter 3'],
    );
  } finally {
    if (running !== undefined) killServiceGroup(running);
    await rm(dataDir, { recursive: true, force: true });
  }
});

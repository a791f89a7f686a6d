/**
 * One request of 100,000 characters without punctuation must not freeze the service: the old
 * splitter was quadratic and kept the event loop busy for seconds (/healthz unanswered, leases
 * expired). The service runs in its own process, as deployed; /healthz is polled every 20 ms
 * while the task is accepted and prepared.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServiceProcess } from './testing/service-process.js';

// The issue asks for 100 ms, which the benchmark shows (docs/benchmarks.md). The test prints the
// figure and fails only far above it: a blocked event loop (the old code blocked for 24–74 s),
// not a slow moment on a shared machine, where CI runs have reached 114 ms.
const MAX_HEALTHZ_MS = 1_000;
const POLL_EVERY_MS = 20;

/** Words without any punctuation, about `length` characters, ending in a word. */
function textWithoutPunctuation(length: number): string {
  const words = ['speech', 'synthesis', 'queue', 'engine', 'segment', 'model', 'lecture', 'notes', 'student', 'listens', 'on', 'the', 'way', 'home'];
  let text = '';
  for (let i = 0; text.length + 12 < length; i++) text += `${words[(i * 7) % words.length]} `;
  return text.padEnd(length, 'x');
}

test('100,000 characters without punctuation: /healthz keeps answering while the task is accepted and prepared', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'long-text-test-'));
  const env = { HOST: '127.0.0.1', PORT: '0', DATA_DIR: dataDir, ENGINE: 'bench-sleep', ENGINE_HOSTS: '1', BENCH_SLEEP_COST_MS: '50', LOG_LEVEL: 'warn' };
  const { child, url } = await startServiceProcess(env);
  try {
    // Connections opened and the service warmed up before measuring.
    for (let i = 0; i < 5; i++) assert.equal((await fetch(`${url}/healthz`)).status, 200);

    const latencies: number[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const started = performance.now();
        const response = await fetch(`${url}/healthz`);
        await response.arrayBuffer();
        latencies.push(performance.now() - started);
        assert.equal(response.status, 200);
        await new Promise((r) => setTimeout(r, Math.max(0, POLL_EVERY_MS - (performance.now() - started))));
      }
    })();

    const text = textWithoutPunctuation(100_000);
    assert.equal(text.length, 100_000);
    const submitted = await fetch(`${url}/api/synthesis`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
    const answer: any = await submitted.json();
    assert.equal(submitted.status, 202, JSON.stringify(answer));

    // Prepared: split into segments and handed to the engine.
    const deadline = Date.now() + 60_000;
    let task: any;
    for (;;) {
      task = await (await fetch(`${url}/api/task/${answer.id}`)).json();
      if (task.status !== 'queued' && task.status !== 'preparing') break;
      assert.ok(Date.now() < deadline, `task still ${task.status} after 60 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(['synthesizing', 'encoding', 'completed'].includes(task.status), `task ${task.status}: ${JSON.stringify(task.error)}`);
    await new Promise((r) => setTimeout(r, 200)); // and a little into synthesis
    polling = false;
    await poller;

    const worst = Math.max(...latencies);
    const sorted = [...latencies].sort((a, b) => a - b);
    console.log(`/healthz during submit and prepare of 100,000 characters: ${latencies.length} polls, median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)} ms, worst ${worst.toFixed(1)} ms`);
    assert.ok(latencies.length >= 5, 'polled throughout');
    assert.ok(worst < MAX_HEALTHZ_MS, `/healthz took ${worst.toFixed(0)} ms at worst (limit ${MAX_HEALTHZ_MS} ms)`);
  } finally {
    process.kill(-child.pid!, 'SIGKILL');
    await new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve)));
    await rm(dataDir, { recursive: true, force: true });
  }
});

/**
 * A full DATA_DIR, for real: a small tmpfs mounted as the data folder (needs root; skipped with
 * a message otherwise), filled with a filler file while tasks run, then freed.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { jsonPost, startTestService, waitForTask, type TestService } from './testing/test-service.js';

const dataDir = await mkdtemp(join(tmpdir(), 'storage-full-'));
let mountError: string | undefined;
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', dataDir], { stdio: 'pipe' });
} catch (error) {
  mountError = (error as { stderr?: Buffer }).stderr?.toString().trim() || String(error);
}

/** Every log line the service writes, parsed. */
const logLines: Array<{ level: number; msg: string; code?: string }> = [];
let service: TestService | undefined;

test.after(async () => {
  await service?.stop().catch(() => undefined);
  if (mountError === undefined) {
    try {
      execFileSync('umount', [dataDir], { stdio: 'pipe' });
    } catch {
      execFileSync('umount', ['-l', dataDir], { stdio: 'pipe' });
    }
  }
  await rm(dataDir, { recursive: true, force: true });
});

/** Writes a file until the file system refuses: the disk is then full. */
function fill(path: string): void {
  const fd = openSync(path, 'w');
  try {
    for (const size of [256 * 1024, 4096, 1]) {
      const chunk = Buffer.alloc(size, 1);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (error) {
        assert.equal((error as NodeJS.ErrnoException).code, 'ENOSPC');
      }
    }
  } finally {
    closeSync(fd);
  }
}

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a full DATA_DIR: new work gets 507 E_STORAGE_FULL with Retry-After; accepted work is retried, never failed or canceled, and completes once space is freed', async (t) => {
  if (mountError !== undefined) {
    t.skip(`mounting a tmpfs needs root (mount -t tmpfs): ${mountError}`);
    return;
  }
  const logger = pino({ level: 'warn' }, { write: (line: string) => void logLines.push(JSON.parse(line)) });
  service = await startTestService({ DATA_DIR: dataDir, LEASE_MS: '2000', ENGINE_HOSTS: '2', BENCH_SLEEP_COST_MS: '150', BENCH_SLEEP_MS_PER_CHAR: '10' }, { logger });
  const running = service;
  const sentence = (task: number, i: number): string => `第${task}个任务的第${i}句话需要足够长才会分成好几个片段来合成。`.repeat(3);
  const ids: string[] = [];
  for (let task = 0; task < 6; task++) {
    const { status, body } = await running.request('/api/synthesis', jsonPost({ text: [0, 1, 2].map((i) => sentence(task, i)).join('') }));
    assert.equal(status, 202, JSON.stringify(body));
    ids.push(body.id);
  }
  await until(async () => (await running.request(`/api/task/${ids[0]}`)).body.status === 'synthesizing', 'the first task to start');

  const filler = join(dataDir, 'filler');
  fill(filler);
  const refused = await running.request('/api/synthesis', jsonPost({ text: '磁盘满了。' }));
  assert.equal(refused.status, 507, JSON.stringify(refused.body));
  assert.equal(refused.body.error.code, 'E_STORAGE_FULL');
  assert.equal(refused.headers.get('retry-after'), '30');
  assert.doesNotMatch(refused.body.error.message, /\//u, 'no path in the message');

  // Work in flight meets the full disk: it fails as E_STORAGE_FULL and waits, it is not failed or canceled.
  await until(() => logLines.some((line) => line.code === 'E_STORAGE_FULL'), 'work to meet the full disk', 30_000);
  await new Promise((r) => setTimeout(r, 1_500));
  for (const id of ids) {
    const { body } = await running.request(`/api/task/${id}`);
    assert.ok(!['failed', 'canceled'].includes(body.status), `${id} is ${body.status} while the disk is full: ${JSON.stringify(body.error)}`);
  }

  await rm(filler);
  for (const id of ids) {
    const task = await waitForTask(running, id, undefined, 90_000);
    assert.equal(task.status, 'completed', `${id}: ${JSON.stringify(task.error)}`);
    assert.equal(task.progress.segments_done, task.progress.segments_total);
  }
  const accepted = await running.request('/api/synthesis', jsonPost({ text: '空间回来了。' }));
  assert.equal(accepted.status, 202, 'new work is accepted again once space is freed');
  assert.equal((await waitForTask(running, accepted.body.id)).status, 'completed');
});

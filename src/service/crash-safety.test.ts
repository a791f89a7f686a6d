import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { decodeWav } from '../audio/wav.js';
import { startServiceProcess, type ServiceProcess } from './testing/service-process.js';

const TASKS = 200;

async function json(url: string, init?: RequestInit): Promise<any> {
  return await (await fetch(url, init)).json();
}

async function completedCount(url: string): Promise<number> {
  let count = 0;
  let cursor: string | null = null;
  do {
    const page: any = await json(`${url}/api/tasks?status=completed&limit=100${cursor ? `&cursor=${cursor}` : ''}`);
    count += page.tasks.length;
    cursor = page.next_cursor;
  } while (cursor !== null);
  return count;
}

async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Segments a bench-sleep host wrote, as "task/index", in order (from its BENCH_SLEEP_LOG). */
async function synthesised(log: string): Promise<string[]> {
  const text = await readFile(log, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((path) => {
      const match = /tasks\/([0-9a-f-]{36})\/segment-(\d+)\.wav$/u.exec(path);
      return match ? `${match[1]}/${Number(match[2])}` : path;
    });
}

test('kill -9 of the whole service mid-run: every accepted task completes, no checkpointed segment runs again', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'crash-test-'));
  const log = join(dataDir, 'segments.log');
  const env = { HOST: '127.0.0.1', PORT: '0', DATA_DIR: dataDir, ENGINE: 'bench-sleep', ENGINE_HOSTS: '2', BENCH_SLEEP_COST_MS: '15', BENCH_SLEEP_LOG: log, LOG_LEVEL: 'warn' };
  let running: ServiceProcess | undefined;
  try {
    running = await startServiceProcess(env);
    const sentence = (i: number): string => `第${i}句：${'服务在崩溃以后必须恢复所有已经接受的任务'.repeat(7)}。`;
    const ids: string[] = [];
    for (let i = 0; i < TASKS; i++) {
      const answer = await json(`${running.url}/api/synthesis`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: `${sentence(3 * i)}${sentence(3 * i + 1)}${sentence(3 * i + 2)}` }),
      });
      assert.equal(answer.status, 'queued');
      ids.push(answer.id);
    }
    const first = running;
    await until(async () => (await completedCount(first.url)) >= TASKS / 4, 'a quarter of the tasks');

    process.kill(-running.child.pid!, 'SIGKILL'); // the service and its engine hosts, at once
    await new Promise((resolve) => running!.child.once('exit', resolve));
    running = undefined;
    const before = await synthesised(log);
    const db = new Database(join(dataDir, 'tasks.db'), { readonly: true });
    const checkpointed = new Set(
      db
        .prepare<[], { task_id: string; idx: number }>("SELECT task_id, idx FROM segments WHERE status = 'done'")
        .all()
        .map((s) => `${s.task_id}/${s.idx}`),
    );
    const stuck = db.prepare("SELECT COUNT(*) AS n FROM tasks WHERE status IN ('queued', 'preparing', 'synthesizing', 'encoding')").get() as { n: number };
    db.close();
    assert.ok(stuck.n > 0, 'the kill came while work was left');

    running = await startServiceProcess(env);
    const second = running;
    await until(async () => (await completedCount(second.url)) === TASKS, 'every task to complete after the restart');

    for (const id of ids) {
      const task = await json(`${second.url}/api/task/${id}`);
      assert.equal(task.status, 'completed', `${id}: ${JSON.stringify(task.error)}`);
      assert.equal(task.progress.segments_done, 3);
      const audio = decodeWav(Buffer.from(await (await fetch(`${second.url}${task.result.url}`)).arrayBuffer()));
      assert.ok(audio.samples.length > 0);
    }
    const after = (await synthesised(log)).slice(before.length);
    const redone = after.filter((segment) => checkpointed.has(segment));
    assert.deepEqual(redone, [], 'no segment checkpointed before the kill was synthesised again');
    assert.ok(checkpointed.size > 0 && after.length > 0);

    running.child.kill('SIGTERM');
    const code = await new Promise((resolve) => running!.child.once('exit', resolve));
    assert.equal(code, 0, 'a graceful stop exits 0');
    running = undefined;
  } finally {
    if (running !== undefined) process.kill(-running.child.pid!, 'SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lockDataDir } from './data-dir-lock.js';
import { TtsError } from '../errors.js';
import { SERVE_CLI, killServiceGroup, runServeToExit, startServiceProcess, type ServiceProcess } from './testing/service-process.js';

const baseEnv = (dataDir: string): Record<string, string> => ({
  HOST: '127.0.0.1',
  PORT: '0',
  DATA_DIR: dataDir,
  ENGINE: 'bench-sleep',
  ENGINE_HOSTS: '2',
  BENCH_SLEEP_COST_MS: '60',
  LOG_LEVEL: 'warn',
});

async function withDataDir(run: (dataDir: string) => Promise<void>): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'lock-test-'));
  try {
    await run(dataDir);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function submit(url: string, text: string): Promise<string> {
  const response = await fetch(`${url}/api/synthesis`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
  assert.equal(response.status, 202);
  return ((await response.json()) as { id: string }).id;
}

async function waitCompleted(url: string, ids: string[], timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const id of ids) {
    for (;;) {
      const task = (await (await fetch(`${url}/api/task/${id}`)).json()) as { status: string; error?: unknown };
      if (task.status === 'completed') break;
      assert.ok(!['failed', 'canceled'].includes(task.status), `${id} ended ${task.status}: ${JSON.stringify(task.error)}`);
      assert.ok(Date.now() < deadline, `${id} still ${task.status}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function completedCount(url: string): Promise<number> {
  return ((await (await fetch(`${url}/api/tasks?status=completed&limit=100`)).json()) as { tasks: unknown[] }).tasks.length;
}

async function stop(service: ServiceProcess): Promise<void> {
  service.child.kill('SIGTERM');
  assert.equal(await service.exited, 0, 'a graceful stop exits 0');
}

test('in one process: a second lock on the same DATA_DIR is refused with E_DATA_DIR_LOCKED; released, it can be taken again', async () => {
  await withDataDir(async (dataDir) => {
    const first = lockDataDir(dataDir);
    const refused = (() => {
      try {
        lockDataDir(dataDir);
        return undefined;
      } catch (error) {
        return error;
      }
    })();
    assert.ok(refused instanceof TtsError, String(refused));
    assert.equal(refused.code, 'E_DATA_DIR_LOCKED');
    assert.match(refused.message, /is in use by another running tts-queue service; stop it or choose another DATA_DIR/u);
    first.release();
    lockDataDir(dataDir).release();
  });
});

test('two services on one DATA_DIR: the second exits non-zero with E_DATA_DIR_LOCKED, the first keeps working', { timeout: 120_000 }, async () => {
  await withDataDir(async (dataDir) => {
    const first = await startServiceProcess(baseEnv(dataDir));
    try {
      const second = await runServeToExit(baseEnv(dataDir));
      assert.notEqual(second.code, 0, second.stderr);
      assert.notEqual(second.code, null, `the second service started: ${second.stderr}`);
      assert.match(second.stderr, /tts-queue: E_DATA_DIR_LOCKED: DATA_DIR .* is in use by another running tts-queue service; stop it or choose another DATA_DIR/u);
      const id = await submit(first.url, '第一个服务还在工作。');
      await waitCompleted(first.url, [id]);
      await stop(first);
    } finally {
      killServiceGroup(first);
    }
  });
});

test('an old pid file naming a live process (pids are reused) does not block start', { timeout: 120_000 }, async () => {
  await withDataDir(async (dataDir) => {
    await writeFile(join(dataDir, 'tts-queue.pid'), String(process.pid)); // this test runner: alive, and no service
    const service = await startServiceProcess(baseEnv(dataDir));
    try {
      await stop(service);
    } finally {
      killServiceGroup(service);
    }
  });
});

/** The service started from a parent that never reaps it (`exec sleep`), in its own process group: once killed it stays a zombie. */
async function startWithUnreapingParent(env: Record<string, string>): Promise<{ holder: ChildProcess; pid: number; url: string }> {
  const holder = spawn('sh', ['-c', 'setsid "$@" & echo $!; exec sleep 600', 'sh', process.execPath, SERVE_CLI, 'serve'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  const pid = await new Promise<number>((resolve, reject) => {
    holder.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes('\n')) resolve(Number(stdout.trim()));
    });
    holder.once('exit', () => reject(new Error(`the holder exited: ${stderr}`)));
  });
  const url = await new Promise<string>((resolve, reject) => {
    holder.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /listening on (http:\/\/\S+)/u.exec(stderr);
      if (match) resolve(match[1]!);
    });
    holder.once('exit', () => reject(new Error(`the service did not start: ${stderr}`)));
  });
  return { holder, pid, url };
}

async function processState(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat?.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

const canHoldZombie = spawnSync('setsid', ['--version']).status === 0;

test('kill -9 of the whole service, restarted at once while the dead one is still a zombie: it starts and every accepted task completes', {
  timeout: 180_000,
  skip: canHoldZombie ? false : 'setsid(1) is not installed',
}, async () => {
  await withDataDir(async (dataDir) => {
    const env = baseEnv(dataDir);
    const first = await startWithUnreapingParent(env);
    let second: ServiceProcess | undefined;
    try {
      const ids: string[] = [];
      for (let i = 0; i < 12; i++) ids.push(await submit(first.url, `第${i}个任务。它有两句话。`));
      assert.ok((await completedCount(first.url)) < ids.length, 'work is left when the service is killed');
      process.kill(-first.pid, 'SIGKILL'); // the service and its engine hosts, at once
      second = await startServiceProcess(env); // no pause
      assert.equal(await processState(first.pid), 'Z', 'the killed service was still a zombie when the new one took DATA_DIR');
      await waitCompleted(second.url, ids);
      await stop(second);
    } finally {
      if (second !== undefined) killServiceGroup(second);
      try {
        process.kill(-first.pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
      process.kill(-first.holder.pid!, 'SIGKILL'); // the parent goes, and the zombie is reaped with it
    }
  });
});

test("kill -9 of the whole service started by the test, the new one started before the old one's exit is awaited: every accepted task completes", { timeout: 180_000 }, async () => {
  await withDataDir(async (dataDir) => {
    const env = baseEnv(dataDir);
    const first = await startServiceProcess(env);
    let second: ServiceProcess | undefined;
    try {
      const ids: string[] = [];
      for (let i = 0; i < 12; i++) ids.push(await submit(first.url, `第${i}个任务。它也有两句话。`));
      assert.ok((await completedCount(first.url)) < ids.length, 'work is left when the service is killed');
      killServiceGroup(first);
      second = await startServiceProcess(env);
      await first.exited;
      await waitCompleted(second.url, ids);
      await stop(second);
    } finally {
      if (second !== undefined) killServiceGroup(second);
      killServiceGroup(first);
    }
  });
});

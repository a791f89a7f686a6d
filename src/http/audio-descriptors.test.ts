import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killServiceGroup, startServiceProcess, type ServiceProcess } from '../service/testing/service-process.js';

const PIPELINED = 2_000;

async function openDescriptors(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/fd`)).length;
}

/** The descriptor count once it stops moving (three equal readings in a row), within a few seconds. */
async function settledDescriptors(pid: number): Promise<number> {
  const deadline = Date.now() + 5_000;
  let readings: number[] = [];
  for (;;) {
    readings = [...readings, await openDescriptors(pid)].slice(-3);
    if ((readings.length === 3 && readings.every((n) => n === readings[0])) || Date.now() > deadline) return readings.at(-1)!;
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function completedTask(service: ServiceProcess): Promise<string> {
  const answer = (await (
    await fetch(`${service.url}/api/synthesis`, { method: 'POST', headers: { 'content-type': 'application/json', connection: 'close' }, body: JSON.stringify({ text: '描述符。', format: 'wav' }) })
  ).json()) as { id: string };
  const deadline = Date.now() + 60_000;
  for (;;) {
    const task = (await (await fetch(`${service.url}/api/task/${answer.id}`, { headers: { connection: 'close' } })).json()) as { status: string };
    if (task.status === 'completed') return answer.id;
    assert.ok(['queued', 'preparing', 'synthesizing', 'encoding'].includes(task.status), `task ended ${task.status}`);
    assert.ok(Date.now() < deadline, 'the task completes');
    await new Promise((r) => setTimeout(r, 50));
  }
}

test(`${PIPELINED} pipelined audio requests on one connection, closed unread, and clients that close at once leave the service's descriptors where they were`, { timeout: 120_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'fd-test-'));
  let service: ServiceProcess | undefined;
  try {
    service = await startServiceProcess({ HOST: '127.0.0.1', PORT: '0', DATA_DIR: dataDir, ENGINE: 'bench-sleep', ENGINE_HOSTS: '1', BENCH_SLEEP_COST_MS: '5', LOG_LEVEL: 'warn' });
    const pid = service.child.pid!;
    const id = await completedTask(service);
    const { port } = new URL(service.url);
    // One full download first, so that whatever the route opens once (and keeps) is counted in `before`.
    assert.equal((await fetch(`${service.url}/api/task/${id}/audio`, { headers: { connection: 'close' } })).status, 200);
    const before = await settledDescriptors(pid);

    const socket = connect({ host: '127.0.0.1', port: Number(port) });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.write(`GET /api/task/${id}/audio HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`.repeat(PIPELINED));
    await new Promise((r) => setTimeout(r, 100)); // let the service parse the requests and open what it opens
    socket.destroy();

    const after = await settledDescriptors(pid);
    assert.ok(Math.abs(after - before) <= 10, `open descriptors went from ${before} to ${after}`);

    // Clients that close as soon as they have asked (before the route has opened the file, or just after).
    await Promise.all(
      Array.from({ length: 200 }, async () => {
        const quick = connect({ host: '127.0.0.1', port: Number(port) });
        await new Promise<void>((resolve, reject) => quick.once('connect', resolve).once('error', reject));
        quick.end(`GET /api/task/${id}/audio HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
        quick.destroy();
      }),
    );
    const afterQuick = await settledDescriptors(pid);
    assert.ok(Math.abs(afterQuick - before) <= 10, `open descriptors went from ${before} to ${afterQuick} after clients that closed at once`);
    // The service still serves.
    const health = await fetch(`${service.url}/healthz`, { headers: { connection: 'close' } });
    assert.equal(health.status, 200);
  } finally {
    if (service !== undefined) {
      killServiceGroup(service);
      await service.exited;
    }
    await rm(dataDir, { recursive: true, force: true });
  }
});

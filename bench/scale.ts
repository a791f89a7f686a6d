/**
 * Scale: 100,000 tasks in the database. The service is restarted on that data folder and
 * measured against the same service on a nearly empty one (the baseline): time from start to
 * answering /healthz, resident memory of the service process (engine hosts not counted), and
 * the p99 latency of GET /api/task/:id at 50 connections.
 */

import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, measureStatusReads, stopServer, type ServerProcess } from './http-throughput.js';
import { median, printLines } from './stats.js';
import { SqliteBackend } from '../src/backends/sqlite/sqlite-backend.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/**
 * Fills a data folder with `count` completed tasks; returns up to 20,000 of their ids, spread
 * over the whole table (more than the service's read cache holds, so reads reach SQLite).
 */
async function seed(dataDir: string, count: number): Promise<string[]> {
  const backend = new SqliteBackend({ path: join(dataDir, 'tasks.db') });
  const ids: string[] = [];
  for (let done = 0; done < count; done += 1_000) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(1_000, count - done) }, (_, i) => backend.createTask({ text: `第${done + i}句话：规模测试用的文本。`, format: 'mp3', priority: 0, pronunciations: [] })),
    );
    for (const { task } of batch) ids.push(task.id);
  }
  await backend.close();
  // Mark them completed, as a long-running service would have them.
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(join(dataDir, 'tasks.db'));
  const result = JSON.stringify({ path: '/nonexistent.mp3', format: 'mp3', durationMs: 2000, bytes: 32000, sampleRate: 24000 });
  db.prepare("UPDATE tasks SET status = 'completed', segments_total = 1, segments_done = 1, result = ?, finished_at = created_at + 2000, expires_at = created_at + 86400000").run(result);
  db.close();
  for (let i = ids.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [ids[i], ids[j]] = [ids[j]!, ids[i]!];
  }
  return ids.slice(0, 20_000);
}

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/u.exec(status)?.[1] ?? 0) / 1024;
}

interface ScaleFigures {
  startMs: number;
  rssMb: number;
  p99: number;
  rps: number;
}

async function measure(dataDir: string, ids: string[]): Promise<ScaleFigures> {
  const port = await freePort();
  const env = { HOST: '127.0.0.1', PORT: String(port), DATA_DIR: dataDir, ENGINE: 'bench-sleep', ENGINE_HOSTS: '1', LOG_LEVEL: 'warn' };
  const started = performance.now();
  const child = spawn(process.execPath, [CLI, 'serve'], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  const server: ServerProcess = { name: 'tts-queue serve', url: `http://127.0.0.1:${port}`, child, stderrTail: [] };
  try {
    let startMs = 0;
    while (startMs === 0) {
      const ok = await fetch(`${server.url}/api/task/${ids[0]}`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) startMs = performance.now() - started;
      else await new Promise((r) => setTimeout(r, 10));
      if (performance.now() - started > 30_000) throw new Error('the service did not serve within 30 s');
    }
    await measureStatusReads(server.url, ids, 2); // warm-up
    const reads = await measureStatusReads(server.url, ids, 10);
    return { startMs, rssMb: await rssMb(child.pid!), p99: reads.p99, rps: reads.rps };
  } finally {
    await stopServer(server);
  }
}

export async function benchScale(tasks = 100_000, runs = 3): Promise<void> {
  const bigDir = await mkdtemp(join(tmpdir(), 'bench-scale-'));
  const smallDir = await mkdtemp(join(tmpdir(), 'bench-scale-empty-'));
  try {
    const seedStarted = performance.now();
    const bigIds = await seed(bigDir, tasks);
    const seedSeconds = (performance.now() - seedStarted) / 1000;
    const smallIds = await seed(smallDir, 200);
    const big: ScaleFigures[] = [];
    const small: ScaleFigures[] = [];
    for (let i = 0; i < runs; i++) {
      small.push(await measure(smallDir, smallIds));
      big.push(await measure(bigDir, bigIds));
    }
    const m = (list: ScaleFigures[], key: keyof ScaleFigures): number => median(list.map((f) => f[key]));
    printLines(`scale: ${tasks.toLocaleString('en')} tasks in the database (seeded in ${seedSeconds.toFixed(1)} s), median of ${runs} restarts`, [
      {
        name: 'restart to serving (spawn → first 200 on GET /api/task/:id)',
        value: `${m(big, 'startMs').toFixed(0)} ms`,
        baseline: `200 tasks: ${m(small, 'startMs').toFixed(0)} ms`,
        ratio: `${(m(big, 'startMs') / m(small, 'startMs')).toFixed(2)}×`,
        target: '< 2 s',
        met: m(big, 'startMs') < 2_000,
      },
      {
        name: 'service memory (RSS, engine hosts not counted) after the load',
        value: `${m(big, 'rssMb').toFixed(0)} MB`,
        baseline: `200 tasks: ${m(small, 'rssMb').toFixed(0)} MB`,
        ratio: `${(m(big, 'rssMb') / m(small, 'rssMb')).toFixed(2)}×`,
        target: '< 300 MB',
        met: m(big, 'rssMb') < 300,
      },
      {
        name: 'GET /api/task/:id p99 at 50 connections',
        value: `${m(big, 'p99').toFixed(1)} ms (${m(big, 'rps').toFixed(0)} req/s)`,
        baseline: `200 tasks: ${m(small, 'p99').toFixed(1)} ms (${m(small, 'rps').toFixed(0)} req/s)`,
        ratio: `${(m(big, 'p99') / m(small, 'p99')).toFixed(2)}×`,
        target: '≤ 2× the empty case',
        met: m(big, 'p99') <= 2 * m(small, 'p99'),
      },
    ]);
  } finally {
    await rm(bigDir, { recursive: true, force: true });
    await rm(smallDir, { recursive: true, force: true });
  }
}

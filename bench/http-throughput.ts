/**
 * HTTP front door under load: accepting tasks (`POST /api/synthesis`) and reading status
 * (`GET /api/task/:id`) at 50 connections, measured with autocannon. Baseline: the article's
 * design written from its description (bench/baseline/article-server.ts), with the same
 * bench-sleep engine at 200 ms per segment behind it, so only the orchestration differs.
 *
 * The load comes from wrk when it is installed (`apt-get install wrk`: written in C, it leaves
 * the second core to the server), else from autocannon, which shares that core with it; the
 * report says which.
 *
 * Only one server process is alive at a time: each measured run starts its server fresh (empty
 * queue, fresh temp folder), warms it up, measures, and stops it, so neither the other server's
 * backlog nor the previous run's weighs on a run. Runs alternate baseline / ours; medians.
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { median, printLines } from './stats.js';

const BASELINE_SERVER = fileURLToPath(new URL('./baseline/article-server.js', import.meta.url));
const OUR_CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const HOST = '127.0.0.1';
const CONNECTIONS = 50;
const WARM_UP_S = 2;
const MEASURE_S = 10;
const COST_MS = 200;
const POST_BODY = JSON.stringify({ text: '今天我们学习语音合成。' });
const JSON_HEADERS = { 'content-type': 'application/json' };

/** A server running as a child process of the benchmark. */
export interface ServerProcess {
  name: string;
  url: string;
  child: ChildProcess;
  /** Temp folder to remove once the server has stopped. */
  dir?: string;
  /** The last lines the server wrote to stderr, for error messages. */
  stderrTail: string[];
}

/** A port free at the time of asking (the OS picks it). */
export async function freePort(): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, HOST, () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * Spawns `node <args>` (argument array, no shell) and resolves once `GET <readyPath>` answers
 * 200, polled every 50 ms for at most 30 s. Rejects, with the server stopped, otherwise.
 */
export async function startServer(name: string, args: string[], env: Record<string, string>, readyPath: string, dir?: string): Promise<ServerProcess> {
  const url = `http://${env.HOST}:${env.PORT}`;
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  const server: ServerProcess = { name, url, child, dir, stderrTail: [] };
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    server.stderrTail.push(...chunk.split('\n').filter((line) => line !== ''));
    server.stderrTail.splice(0, Math.max(0, server.stderrTail.length - 20));
  });
  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = signal === null ? `exit code ${code}` : `signal ${signal}`));
  child.once('error', (error) => (exited = error.message));
  const deadline = performance.now() + 30_000;
  try {
    for (;;) {
      if (exited !== undefined) throw new Error(`${name} exited before it was ready (${exited}):\n${server.stderrTail.join('\n')}`);
      if (performance.now() > deadline) throw new Error(`${name} did not answer GET ${readyPath} with 200 within 30 s:\n${server.stderrTail.join('\n')}`);
      const ok = await fetch(`${url}${readyPath}`, { signal: AbortSignal.timeout(1_000) }).then(
        async (res) => {
          await res.arrayBuffer();
          return res.status === 200;
        },
        () => false,
      );
      if (ok) return server;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } catch (error) {
    await stopServer(server);
    throw error;
  }
}

/** SIGTERM, SIGKILL if still running 5 s later; then removes the server's temp folder. */
export async function stopServer(server: ServerProcess): Promise<void> {
  const { child } = server;
  if (child.exitCode === null && child.signalCode === null) {
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    child.kill('SIGTERM');
    const killTimer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await closed;
    clearTimeout(killTimer);
  }
  if (server.dir !== undefined) await rm(server.dir, { recursive: true, force: true });
}

/** The article's design (bench/baseline/article-server.ts), ready at GET /debug/engine-timeline. */
export async function startBaselineServer(costMs = COST_MS): Promise<ServerProcess> {
  const env = { HOST, PORT: String(await freePort()), BENCH_SLEEP_COST_MS: String(costMs) };
  return await startServer('baseline (article design)', [BASELINE_SERVER], env, '/debug/engine-timeline');
}

/**
 * Our service, `tts-queue serve`, on a fresh data folder with one bench-sleep host (`env`: e.g.
 * BACKEND=redis). `setUp`, when given, runs with the service's environment before it starts
 * (e.g. to create an API key with the `keys` command on the same DATA_DIR and backend).
 */
export async function startOurService(costMs = COST_MS, extraEnv: Record<string, string> = {}, setUp?: (env: Record<string, string>) => Promise<void>): Promise<ServerProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-http-ours-'));
  const env = {
    HOST,
    PORT: String(await freePort()),
    DATA_DIR: dir,
    ENGINE: 'bench-sleep',
    ENGINE_HOSTS: '1',
    BENCH_SLEEP_COST_MS: String(costMs),
    LOG_LEVEL: 'warn',
    ...extraEnv,
  };
  try {
    await setUp?.(env);
    return await startServer('tts-queue serve', [OUR_CLI, 'serve'], env, '/healthz', dir);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Creates `count` tasks one after another and returns their ids (`headers`: e.g. an API key). */
export async function createTasks(url: string, count: number, headers: Record<string, string> = {}): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const res = await fetch(`${url}/api/synthesis`, { method: 'POST', headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify({ text: `第${i + 1}句话。` }) });
    const body = (await res.json()) as { id?: unknown };
    if (res.status !== 202 || typeof body.id !== 'string') throw new Error(`POST /api/synthesis answered ${res.status} ${JSON.stringify(body)}`);
    ids.push(body.id);
  }
  return ids;
}

const HAS_WRK = spawnSync('wrk', ['--version']).error === undefined;

/** wrk's reading of a duration such as "12.24ms", in milliseconds. */
function wrkMs(text: string): number {
  const match = /([\d.]+)(us|ms|s)/u.exec(text);
  if (match === null) return Number.NaN;
  const value = Number(match[1]);
  return match[2] === 'us' ? value / 1000 : match[2] === 's' ? value * 1000 : value;
}

/** Runs wrk with a Lua script that shapes the requests; returns the same figures as autocannon. */
async function runWrk(url: string, lua: string, seconds: number): Promise<RunFigures> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-wrk-'));
  try {
    const script = join(dir, 'requests.lua');
    await writeFile(script, lua);
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn('wrk', ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', '-s', script, url], { stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      child.once('error', reject);
      child.once('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited ${code}: ${text}`))));
    });
    const rps = Number(/Requests\/sec:\s+([\d.]+)/u.exec(output)?.[1]);
    const p99 = wrkMs(/^\s+99%\s+(\S+)/mu.exec(output)?.[1] ?? '');
    const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/u.exec(output)?.[1] ?? 0);
    const errors = (/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/u.exec(output)?.slice(1) ?? []).reduce((sum, n) => sum + Number(n), 0);
    return { rps, p99, non2xx, errors };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function postLua(): string {
  return `wrk.method = "POST"\nwrk.body = ${JSON.stringify(POST_BODY)}\nwrk.headers["Content-Type"] = "application/json"\n`;
}

function getLua(ids: readonly string[]): string {
  return `local ids = {${ids.map((id) => JSON.stringify(id)).join(',')}}\nlocal i = 0\nrequest = function()\n  i = i + 1\n  return wrk.format("GET", "/api/task/" .. ids[(i % #ids) + 1])\nend\n`;
}

/** POST /api/synthesis at 50 connections for `seconds`, with autocannon (`headers`: e.g. an API key). */
export function acceptingTasks(url: string, seconds: number, headers: Record<string, string> = {}): Promise<autocannon.Result> {
  return autocannon({ url: `${url}/api/synthesis`, connections: CONNECTIONS, duration: seconds, method: 'POST', headers: { ...JSON_HEADERS, ...headers }, body: POST_BODY });
}

/** GET /api/task/:id over `ids` at 50 connections for `seconds`, with autocannon (`headers`: e.g. an API key). */
export function readingStatus(url: string, ids: readonly string[], seconds: number, headers: Record<string, string> = {}): Promise<autocannon.Result> {
  let next = 0;
  return autocannon({
    url,
    connections: CONNECTIONS,
    duration: seconds,
    headers,
    requests: [{ method: 'GET', setupRequest: (request) => ({ ...request, path: `/api/task/${ids[next++ % ids.length]}` }) }],
  });
}

export type Scenario = 'accepting' | 'reading';

/** GET /api/task/:id over `ids` at 50 connections for `seconds` (wrk when installed, else autocannon). */
export async function measureStatusReads(url: string, ids: readonly string[], seconds: number): Promise<RunFigures> {
  if (HAS_WRK) return await runWrk(url, getLua(ids), seconds);
  const result = await readingStatus(url, ids, seconds);
  return { rps: result.requests.average, p99: result.latency.p99, non2xx: result.non2xx, errors: result.errors };
}

export interface RunFigures {
  rps: number;
  p99: number;
  non2xx: number;
  errors: number;
}

/** One measured run on a fresh server: set-up, 2 s warm-up, 10 s measured, stop. */
export async function measureRun(start: () => Promise<ServerProcess>, scenario: Scenario): Promise<RunFigures> {
  const server = await start();
  try {
    if (HAS_WRK) {
      const lua = scenario === 'accepting' ? postLua() : getLua(await createTasks(server.url, 200));
      const target = scenario === 'accepting' ? `${server.url}/api/synthesis` : server.url;
      await runWrk(target, lua, WARM_UP_S);
      return await runWrk(target, lua, MEASURE_S);
    }
    const run =
      scenario === 'accepting'
        ? (seconds: number) => acceptingTasks(server.url, seconds)
        : await createTasks(server.url, 200).then((ids) => (seconds: number) => readingStatus(server.url, ids, seconds));
    await run(WARM_UP_S);
    const result = await run(MEASURE_S);
    return { rps: result.requests.average, p99: result.latency.p99, non2xx: result.non2xx, errors: result.errors };
  } finally {
    await stopServer(server);
  }
}

export interface Summary {
  rps: number;
  p99: number;
  non2xx: number;
  errors: number;
}

export function summarise(runs: readonly RunFigures[]): Summary {
  return {
    rps: median(runs.map((r) => r.rps)),
    p99: median(runs.map((r) => r.p99)),
    non2xx: runs.reduce((sum, r) => sum + r.non2xx, 0),
    errors: runs.reduce((sum, r) => sum + r.errors, 0),
  };
}

export function describe(s: Summary): string {
  const failures = s.errors === 0 ? '' : `, ${s.errors} connection errors`;
  return `${s.rps.toFixed(0)} req/s, p99 ${s.p99.toFixed(1)} ms, ${s.non2xx} non-2xx${failures}`;
}

export async function benchHttpThroughput(runs = 3): Promise<void> {
  const figures: Record<Scenario, { baseline: RunFigures[]; ours: RunFigures[] }> = {
    accepting: { baseline: [], ours: [] },
    reading: { baseline: [], ours: [] },
  };
  for (const scenario of ['accepting', 'reading'] as const) {
    for (let i = 0; i < runs; i++) {
      figures[scenario].baseline.push(await measureRun(startBaselineServer, scenario));
      figures[scenario].ours.push(await measureRun(startOurService, scenario));
    }
  }
  const post = { baseline: summarise(figures.accepting.baseline), ours: summarise(figures.accepting.ours) };
  const get = { baseline: summarise(figures.reading.baseline), ours: summarise(figures.reading.ours) };
  const postRatio = post.ours.rps / post.baseline.rps;
  const getRatio = get.ours.rps / get.baseline.rps;
  const clean = (s: Summary): boolean => s.non2xx === 0 && s.errors === 0;
  printLines(
    `HTTP at ${CONNECTIONS} connections (load from ${HAS_WRK ? 'wrk' : 'autocannon; install wrk for a load generator that leaves the server its core'}), bench-sleep at ${COST_MS} ms, ${MEASURE_S} s runs after ${WARM_UP_S} s warm-up, median of ${runs} runs (non-2xx summed)`,
    [
      {
        name: `POST /api/synthesis at ${CONNECTIONS} connections`,
        value: describe(post.ours),
        baseline: describe(post.baseline),
        ratio: `${postRatio.toFixed(2)}×`,
        target: '≥ 2× the baseline, p99 < 25 ms',
        met: postRatio >= 2 && post.ours.p99 < 25 && clean(post.ours),
      },
      {
        name: `GET /api/task/:id at ${CONNECTIONS} connections`,
        value: describe(get.ours),
        baseline: describe(get.baseline),
        ratio: `${getRatio.toFixed(2)}×`,
        target: '≥ 2× the baseline',
        met: getRatio >= 2 && clean(get.ours),
      },
    ],
  );
}

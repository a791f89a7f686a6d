/**
 * A fresh copy of the GLM-TTS test double (python/testing/glmtts_double/) for one test file:
 * a stand-in checkout that the GLM-TTS hosts load through GLMTTS_REPO, and the log of every
 * call they made into it. Each copy has its own folder, because the official script writes
 * its jsonl and outputs inside the checkout.
 */

import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { EnginePool } from '../engine-pool.js';
import { hostSpec, PYTHON_HOSTS_DIR } from '../registry.js';

const DOUBLE_SOURCE = fileURLToPath(new URL('../../../../python/testing/glmtts_double/', import.meta.url));

/** One call into the double, as it logged it (`call` names the function). */
export interface DoubleCall {
  pid: number;
  call: string;
  [field: string]: unknown;
}

export interface GlmttsDouble {
  /** The checkout's folder (GLMTTS_REPO). */
  repo: string;
  /** Environment for a host using this copy, plus `env` given to makeGlmttsDouble. */
  env: NodeJS.ProcessEnv;
  calls(): Promise<DoubleCall[]>;
  remove(): Promise<void>;
}

export async function makeGlmttsDouble(env: NodeJS.ProcessEnv = {}): Promise<GlmttsDouble> {
  const root = await mkdtemp(join(tmpdir(), 'glmtts-double-'));
  const repo = join(root, 'GLM-TTS');
  await cp(DOUBLE_SOURCE, repo, { recursive: true, filter: (path) => !path.includes('__pycache__') });
  const logPath = join(root, 'calls.jsonl');
  return {
    repo,
    env: { GLMTTS_REPO: repo, GLMTTS_DOUBLE_LOG: logPath, PYTHONDONTWRITEBYTECODE: '1', ...env },
    async calls() {
      const text = await readFile(logPath, 'utf8').catch(() => '');
      return text
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as DoubleCall);
    },
    remove: () => rm(root, { recursive: true, force: true }),
  };
}

/** The calls named `name` in a double's log. */
export const callsNamed = (log: DoubleCall[], name: string): DoubleCall[] => log.filter((c) => c.call === name);

/** Runs `body` with a started pool of `engine` hosts on a fresh copy of the double; cleans up after. */
export async function withDoublePool<T>(
  engine: 'glm-tts' | 'glm-tts-cli',
  options: { env?: NodeJS.ProcessEnv; size?: number },
  body: (pool: EnginePool, double: GlmttsDouble) => Promise<T>,
): Promise<T> {
  const double = await makeGlmttsDouble(options.env);
  const pool = new EnginePool({ spec: hostSpec(engine, double.env), size: options.size ?? 1 });
  try {
    await pool.start();
    return await body(pool, double);
  } finally {
    await pool.close();
    await double.remove();
  }
}

/** `glm_tts_host.py --check` in `python` with `env` added: its exit status, its output, and what its MISSING lines name. */
export async function runGlmttsCheck(env: NodeJS.ProcessEnv, python = 'python3'): Promise<{ code: number; out: string; missing: string[] }> {
  const { code, out } = await promisify(execFile)(python, [join(PYTHON_HOSTS_DIR, 'glm_tts_host.py'), '--check'], { env: { ...process.env, ...env } }).then(
    (done) => ({ code: 0, out: done.stdout }),
    (error: { code: number; stdout: string }) => ({ code: error.code, out: error.stdout }),
  );
  const missing = out
    .split('\n')
    .filter((line) => line.startsWith('MISSING'))
    .map((line) => line.replace(/^MISSING\s+/u, '').replace(/\s+->.*$/u, ''));
  return { code, out, missing };
}

/**
 * Runs a script in a child Node process whose file descriptors are all used up (its limit
 * lowered with prlimit where available, then filled with /dev/null), so that a test can watch
 * code meet EMFILE without harming the test runner.
 */

import { execFile, spawnSync } from 'node:child_process';

const DESCRIPTOR_LIMIT = 256;

export interface ExhaustedRun {
  /** The process's exit code: anything but 0 means it crashed. */
  code: number | null;
  /** What the script printed with `report(value)`: one JSON value per call. */
  reports: unknown[];
  stderr: string;
}

const hasPrlimit = spawnSync('prlimit', ['--version']).status === 0;

/**
 * `imports` runs first (modules must be loaded while descriptors are free); then every
 * descriptor is taken; `body` runs with `exhaust()`/`release()` and `report(value)` in scope,
 * starting exhausted.
 */
export async function runWithDescriptorsExhausted(imports: string, body: string, timeoutMs = 30_000): Promise<ExhaustedRun> {
  const script = `${imports}
import { openSync, closeSync, writeSync } from 'node:fs';
const held = [];
const report = (value) => writeSync(1, JSON.stringify(value) + '\\n');
const exhaust = () => {
  try { for (;;) held.push(openSync('/dev/null', 'r')); } catch (error) { if (error.code !== 'EMFILE') throw error; }
};
const release = () => { for (const fd of held.splice(0)) closeSync(fd); };
exhaust();
${body}
`;
  const [command, args] = hasPrlimit
    ? ['prlimit', [`--nofile=${DESCRIPTOR_LIMIT}:${DESCRIPTOR_LIMIT}`, process.execPath, '--input-type=module', '-e', script]]
    : [process.execPath, ['--input-type=module', '-e', script]];
  return await new Promise((resolve) => {
    execFile(command, args as string[], { timeout: timeoutMs, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
      resolve({
        code,
        reports: stdout
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as unknown),
        stderr,
      });
    });
  });
}

/** Runs `tts-queue serve` as a real child process, as an operator would, for tests that need a process (descriptors, kill -9). */

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../cli/main.js', import.meta.url));

export interface ServiceProcess {
  child: ChildProcess;
  url: string;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  /** Resolves with the exit code (or signal) once the process has exited. */
  exited: Promise<number | string | null>;
}

/** Starts `tts-queue <role>` (serve, api, worker) in its own process group; resolves once it listens, rejects with its stderr if it exits first. */
export async function startServiceProcess(env: Record<string, string>, role = 'serve'): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [CLI, role], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /listening on (http:\/\/\S+)/u.exec(stderr);
      if (match) resolve(match[1]!);
    });
    void exited.then((code) => reject(new Error(`${role} exited (${code}): ${stderr}`)));
  });
  return { child, url, stderr: () => stderr, exited };
}

/** Kills the service and its engine hosts (its whole process group) at once. */
export function killServiceGroup(service: ServiceProcess): void {
  try {
    process.kill(-service.child.pid!, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** Runs `tts-queue serve` expecting it to refuse to start: its exit code and stderr (a service that starts after all is killed, code null). */
export async function runServeToExit(env: Record<string, string>, timeoutMs = 30_000): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [CLI, 'serve'], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  const kill = (): void => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // Already gone.
    }
  };
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    if (stderr.includes('listening on')) kill();
  });
  const timer = setTimeout(kill, timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, stderr };
}

export { CLI as SERVE_CLI };

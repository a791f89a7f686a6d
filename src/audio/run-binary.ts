/**
 * Runs an external program (ffmpeg, ffprobe) with an argument array: never a shell. Collects
 * stdout, keeps the tail of stderr for messages, and ends the program on timeout or abort.
 */

import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { basename } from 'node:path';
import { redactPaths, TtsError, isResourceExhaustion } from '../errors.js';

export interface RunOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Bytes written to the program's stdin, which is then closed. */
  input?: Buffer;
  /** Refuse stdout larger than this many bytes (protects memory from hostile input). */
  maxStdoutBytes?: number;
}

export interface RunResult {
  exitCode: number | null;
  stdout: Buffer;
  /** The last few kilobytes of stderr. */
  stderr: string;
  /** True when stdout was cut at maxStdoutBytes and the program was stopped. */
  truncated: boolean;
}

const STDERR_TAIL_BYTES = 8 * 1024;
const DEFAULT_TIMEOUT_MS = 60_000;

/**
 * A failed spawn as a typed error: a program that is not there (or not executable) is
 * E_FFMPEG_MISSING; a machine out of descriptors, processes or memory is E_RESOURCES_EXHAUSTED,
 * retryable. Messages name the program, never its path.
 */
export function spawnFailure(binary: string, error: NodeJS.ErrnoException): TtsError {
  const program = basename(binary);
  if (error.code === 'ENOENT' || error.code === 'EACCES') {
    return new TtsError('E_FFMPEG_MISSING', `Cannot run ${program} (${error.code}); install it or set FFMPEG_PATH/FFPROBE_PATH.`, { cause: error });
  }
  if (isResourceExhaustion(error.code)) {
    return new TtsError('E_RESOURCES_EXHAUSTED', `Cannot start ${program}: the machine is out of file descriptors, processes or memory (${error.code}); try again shortly.`, { cause: error });
  }
  return new TtsError('E_INTERNAL', `Running ${program} failed (${error.code ?? error.message}).`, { cause: error });
}

/**
 * Starts a long-lived child with its three pipes, or throws its typed failure (spawnFailure):
 * a spawn that fails (no descriptors, no binary) has no pid and no pipes, and its error comes
 * as an event, listened for here before anything touches the pipes.
 */
export async function spawnPiped(binary: string, args: readonly string[]): Promise<ChildProcessWithoutNullStreams> {
  let child: ChildProcess;
  try {
    child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (error) {
    throw spawnFailure(binary, error as NodeJS.ErrnoException);
  }
  if (child.pid === undefined) {
    const [error] = (await once(child, 'error')) as [NodeJS.ErrnoException];
    throw spawnFailure(binary, error);
  }
  return child as ChildProcessWithoutNullStreams;
}

export async function runBinary(binary: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const { timeoutMs = DEFAULT_TIMEOUT_MS, signal, input, maxStdoutBytes = Number.POSITIVE_INFINITY } = options;
  signal?.throwIfAborted();
  return await new Promise<RunResult>((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'], signal, killSignal: 'SIGKILL' });
    } catch (error) {
      // Some failures (ENOMEM, ...) are thrown at once rather than emitted.
      reject(spawnFailure(binary, error as NodeJS.ErrnoException));
      return;
    }
    // Our own timer rather than spawn's `timeout`, which stays pending when the spawn fails.
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    // Listen for 'error' before anything else: on EMFILE/ENFILE Node emits it on the next tick and leaves stdio unset.
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (error.name === 'AbortError') reject(new TtsError('E_CANCELED', 'The work was canceled.', { cause: error }));
      else reject(spawnFailure(binary, error));
    });
    const { stdin, stdout, stderr: stderrStream } = child;
    if (!stdin || !stdout || !stderrStream) return; // the spawn failed: the 'error' above rejects
    const chunks: Buffer[] = [];
    let stdoutBytes = 0;
    let truncated = false;
    let stderr = '';
    stdout.on('data', (chunk: Buffer) => {
      if (truncated) return;
      stdoutBytes += chunk.length;
      if (stdoutBytes > maxStdoutBytes) {
        truncated = true;
        child.kill('SIGKILL');
        return;
      }
      chunks.push(chunk);
    });
    stderrStream.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
    });
    stdin.on('error', () => {
      // The program may exit before reading all its input (e.g. on a bad header): not our error.
    });
    child.on('close', (exitCode) => {
      clearTimeout(timer);
      if (timedOut) {
        reject(new TtsError('E_FFMPEG_FAILED', `${basename(binary)} took longer than ${timeoutMs} ms and was stopped.`));
        return;
      }
      resolve({ exitCode, stdout: Buffer.concat(chunks), stderr: stderr.trim(), truncated });
    });
    stdin.end(input);
  });
}

/** The last meaningful line of a program's stderr, for error messages (ffmpeg names its input: the path is left out). */
export function lastLine(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return redactPaths(lines.at(-1) ?? 'no message');
}

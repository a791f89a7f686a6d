/**
 * Runs an external program (ffmpeg, ffprobe) with an argument array: never a shell. Collects
 * stdout, keeps the tail of stderr for messages, and ends the program on timeout or abort.
 */

import { spawn } from 'node:child_process';
import { TtsError } from '../errors.js';

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

export async function runBinary(binary: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const { timeoutMs = DEFAULT_TIMEOUT_MS, signal, input, maxStdoutBytes = Number.POSITIVE_INFINITY } = options;
  signal?.throwIfAborted();
  return await new Promise<RunResult>((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'], signal, timeout: timeoutMs, killSignal: 'SIGKILL' });
    const chunks: Buffer[] = [];
    let stdoutBytes = 0;
    let truncated = false;
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      if (truncated) return;
      stdoutBytes += chunk.length;
      if (stdoutBytes > maxStdoutBytes) {
        truncated = true;
        child.kill('SIGKILL');
        return;
      }
      chunks.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
    });
    child.stdin.on('error', () => {
      // The program may exit before reading all its input (e.g. on a bad header): not our error.
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (error.name === 'AbortError') {
        reject(new TtsError('E_CANCELED', 'The work was canceled.', { cause: error }));
      } else if (error.code === 'ENOENT' || error.code === 'EACCES') {
        reject(new TtsError('E_FFMPEG_MISSING', `Cannot run ${binary} (${error.code}); install it or set FFMPEG_PATH/FFPROBE_PATH.`, { cause: error }));
      } else {
        reject(new TtsError('E_INTERNAL', `Running ${binary} failed: ${error.message}`, { cause: error }));
      }
    });
    child.on('close', (exitCode, killSignal) => {
      if (killSignal === 'SIGKILL' && !truncated && !signal?.aborted) {
        reject(new TtsError('E_FFMPEG_FAILED', `${binary} took longer than ${timeoutMs} ms and was stopped.`));
        return;
      }
      resolve({ exitCode, stdout: Buffer.concat(chunks), stderr: stderr.trim(), truncated });
    });
    child.stdin.end(input);
  });
}

/** The last meaningful line of a program's stderr, for error messages. */
export function lastLine(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.at(-1) ?? 'no message';
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));

test('`tts-queue serve` on a tasks.db that is not a database exits non-zero with E_DATABASE_CORRUPT and what to do, without a stack trace', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'corrupt-db-'));
  try {
    await writeFile(join(dataDir, 'tasks.db'), randomBytes(32 * 1024));
    const child = spawn(process.execPath, [CLI, 'serve'], {
      env: { ...process.env, HOST: '127.0.0.1', PORT: '0', DATA_DIR: dataDir, ENGINE: 'bench-sleep', ENGINE_HOSTS: '1', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearTimeout(timer);
    assert.notEqual(code, 0, output);
    assert.notEqual(code, null, `serve did not exit by itself: ${output}`);
    assert.match(output, /tts-queue: E_DATABASE_CORRUPT: /u);
    assert.match(output, /move it away/iu);
    assert.match(output, /restore it from a backup/iu);
    assert.doesNotMatch(output, /^\s+at /mu, 'no stack trace');
    assert.doesNotMatch(output, /listening on/u);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

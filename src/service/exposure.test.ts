/**
 * The safe default: a service that other machines can reach serves only API keys. Started on
 * such an address without any key it refuses (before listening), unless AUTH=off, which is
 * logged as a warning at every start.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { KeyService } from '../access/key-service.js';
import { openAccessStores } from '../backends/factory.js';
import { loadConfig } from '../config/config.js';
import { TtsError } from '../errors.js';
import { checkExposure, isLoopbackHost } from './api-wiring.js';
import { createLogger } from './logger.js';
import { startService } from './service.js';

test('loopback hosts, in every form, are told from the others', () => {
  for (const host of ['127.0.0.1', '127.8.9.10', '::1', '[::1]', 'localhost', 'LOCALHOST', 'localhost.', '::ffff:127.0.0.1']) assert.equal(isLoopbackHost(host), true, host);
  for (const host of ['0.0.0.0', '::', '10.0.0.5', '192.168.1.2', 'example.com', '::ffff:10.0.0.1', '169.254.1.1', 'localhost.example.com']) assert.equal(isLoopbackHost(host), false, host);
});

async function withDataDir(body: (dataDir: string) => Promise<void>): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'exposure-'));
  try {
    await body(dataDir);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

test('started on 0.0.0.0 without a key, the service refuses with what to do, and lets go of DATA_DIR', () =>
  withDataDir(async (dataDir) => {
    const config = loadConfig({ HOST: '0.0.0.0', PORT: '0', DATA_DIR: dataDir, ENGINE: 'bench-sleep', ENGINE_HOSTS: '1' });
    await assert.rejects(
      startService(config, { logger: createLogger('silent') }),
      (error: unknown) => error instanceof TtsError && error.code === 'E_AUTH_NOT_CONFIGURED' && /tts-queue keys create/u.test(error.message) && /AUTH=off/u.test(error.message),
    );
    // The refusal closed the backend: the keys command can use the folder, and a key made there lets the check pass.
    const stores = await openAccessStores(config);
    await new KeyService(stores.keys).create({ name: 'ops', role: 'admin' });
    const backend = { keys: stores.keys } as Parameters<typeof checkExposure>[1];
    await checkExposure(config, backend, createLogger('silent'));
    await stores.close();
  }));

test('AUTH=off on a public address starts with a warning; loopback needs nothing', () =>
  withDataDir(async (dataDir) => {
    let output = '';
    const sink = new Writable({
      write(chunk, _encoding, done) {
        output += String(chunk);
        done();
      },
    });
    const noKeys = { keys: { hasActiveKeys: async () => false } } as Parameters<typeof checkExposure>[1];
    await checkExposure(loadConfig({ HOST: '0.0.0.0', DATA_DIR: dataDir, AUTH: 'off' }), noKeys, createLogger('info', sink));
    assert.match(output, /AUTH=off/u);
    assert.match(output, /"level":40/u);
    await checkExposure(loadConfig({ HOST: '127.0.0.1', DATA_DIR: dataDir }), noKeys, createLogger('silent'));
    await assert.rejects(
      checkExposure(loadConfig({ HOST: '10.1.2.3', DATA_DIR: dataDir, AUTH: 'on' }), noKeys, createLogger('silent')),
      (e: unknown) => e instanceof TtsError && e.code === 'E_AUTH_NOT_CONFIGURED',
    );
  }));

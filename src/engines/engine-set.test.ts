import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EngineSet } from './engine-set.js';
import { EnginePool } from './engine-pool.js';
import { hostSpec } from './registry.js';
import { killHostsAsTheyAppear } from './testing/host-killer.js';
import type { TtsError } from '../errors.js';

test('an engine that cannot start is left out; the others run in their order of preference', async () => {
  const engines = new EngineSet([
    { name: 'glm-tts', pool: new EnginePool({ spec: hostSpec('glm-tts', { GLMTTS_REPO: '/nonexistent' }), size: 1 }) },
    { name: 'bench-sleep', pool: new EnginePool({ spec: hostSpec('bench-sleep'), size: 2 }) },
  ]);
  try {
    const failed = await engines.start();
    assert.deepEqual(
      failed.map((f) => [f.name, f.reason.code]),
      [['glm-tts', 'E_ENGINE_START_FAILED']],
    );
    assert.deepEqual(
      engines.configured().map((c) => c.engine),
      ['bench-sleep'],
    );
    assert.equal(engines.pool('glm-tts'), undefined);
    assert.equal(engines.pools()[0]!.pool.size, 2);
    assert.equal(engines.size, 3);
  } finally {
    await engines.close();
  }
});

test('with no engine able to start, start() says why', async () => {
  const engines = new EngineSet([{ name: 'glm-tts', pool: new EnginePool({ spec: hostSpec('glm-tts', { GLMTTS_REPO: '' }), size: 1 }) }]);
  await assert.rejects(engines.start(), (error: TtsError) => error.code === 'E_ENGINE_START_FAILED' && /GLMTTS_REPO is not set/u.test(error.message));
  await engines.close();
});

test('an engine whose hosts are all down stays configured, so its tasks wait for it', async () => {
  // After the second death in a row the next start is ten minutes away: the engine stays down.
  const pool = new EnginePool({ spec: hostSpec('bench-sleep'), size: 1, restartBackoff: { initialMs: 600_000 } });
  const engines = new EngineSet([{ name: 'bench-sleep', pool }]);
  await engines.start();
  const killer = killHostsAsTheyAppear(() => pool.pids);
  try {
    const deadline = Date.now() + 30_000;
    while (!(killer.killed() >= 2 && pool.hostsUp === 0 && pool.pids[0] === undefined)) {
      assert.ok(Date.now() < deadline, 'timed out waiting for two kills');
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(
      engines.configured().map((c) => c.engine),
      ['bench-sleep'],
    );
    assert.deepEqual(
      engines.pools().map((r) => r.engine),
      ['bench-sleep'],
    );
  } finally {
    killer.stop();
    await engines.close();
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteBackend } from '../backends/sqlite/sqlite-backend.js';
import { TtsError } from '../errors.js';
import { createLogger } from '../service/logger.js';
import { Authenticator, credentialOf, type AuthMode } from './authenticator.js';
import { KeyService } from './key-service.js';
import { isAdmin } from './principal.js';

async function setUp(mode: AuthMode, loopbackOnly: boolean, withKey: boolean) {
  const backend = new SqliteBackend({ path: ':memory:' });
  let now = 1_000_000;
  const authenticator = new Authenticator({ keys: backend.keys, mode, loopbackOnly, logger: createLogger('silent'), now: () => now });
  const keys = new KeyService(backend.keys, () => now);
  const created = withKey ? await keys.create({ name: 'k', role: 'user' }) : undefined;
  return { backend, authenticator, keys, key: created?.key, id: created?.record.id, advance: (ms: number) => (now += ms) };
}

const refused = (error: unknown) => error instanceof TtsError && error.code === 'E_UNAUTHORIZED';

test('who may come without a key, by mode and address', async () => {
  const cases: Array<[AuthMode, boolean, boolean, 'local' | 'remote' | 'refused']> = [
    ['auto', true, false, 'local'],
    ['auto', true, true, 'refused'],
    ['auto', false, false, 'refused'],
    ['on', true, false, 'refused'],
    ['off', false, true, 'remote'],
    ['off', true, true, 'local'],
  ];
  for (const [mode, loopbackOnly, withKey, expected] of cases) {
    const { backend, authenticator } = await setUp(mode, loopbackOnly, withKey);
    const what = `${mode} ${loopbackOnly ? 'loopback' : 'public'} ${withKey ? 'with' : 'without'} keys`;
    if (expected === 'refused') await assert.rejects(authenticator.authenticate({}), refused, what);
    else {
      const principal = await authenticator.authenticate({});
      assert.equal(principal.keyId, null, what);
      assert.equal(isAdmin(principal), expected === 'local', `${what}: anonymous is an admin only on loopback`);
    }
    await backend.close();
  }
});

test('a given key must be valid whatever the mode; it is checked again after a revocation', async () => {
  const { backend, authenticator, keys, key, id, advance } = await setUp('off', false, true);
  const principal = await authenticator.authenticate({ authorization: `Bearer ${key}` });
  assert.equal(principal.keyId, id);
  assert.equal(principal.role, 'user');
  assert.equal((await authenticator.authenticate({ 'x-api-key': key })).keyId, id);
  // Its last character changed (to another one: a random key may end in either).
  const altered = `${key!.slice(0, -1)}${key!.endsWith('A') ? 'B' : 'A'}`;
  await assert.rejects(authenticator.authenticate({ authorization: `Bearer ${altered}` }), refused);
  await assert.rejects(authenticator.authenticate({ authorization: `Bearer ${key}`, 'x-api-key': `${key}x` }), refused);
  await assert.rejects(authenticator.authenticate({ authorization: 'Token abc' }), refused);
  await keys.revoke(id!);
  // Revoked by another process: within the cache's second.
  advance(1_001);
  await assert.rejects(authenticator.authenticate({ authorization: `Bearer ${key}` }), refused);
  await backend.close();
});

test('a key revoked through this process stops at once', async () => {
  const { backend, authenticator, keys, key, id } = await setUp('auto', true, true);
  await authenticator.authenticate({ authorization: `Bearer ${key}` });
  await keys.revoke(id!);
  authenticator.forget(id);
  await assert.rejects(authenticator.authenticate({ authorization: `Bearer ${key}` }), refused);
  await backend.close();
});

test('credentials are read from one header form; lists of values are refused', () => {
  assert.equal(credentialOf({}), undefined);
  assert.equal(credentialOf({ authorization: 'bearer   abc ' }), 'abc');
  assert.equal(credentialOf({ 'x-api-key': ' abc ' }), 'abc');
  assert.throws(() => credentialOf({ authorization: ['Bearer a', 'Bearer b'] }), refused);
  assert.throws(() => credentialOf({ authorization: 'Bearer' }), refused);
});

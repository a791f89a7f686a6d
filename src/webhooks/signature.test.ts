/** Signatures checked by an independent implementation: the `standardwebhooks` package. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Webhook } from 'standardwebhooks';
import { WebhookSecrets, loadWebhookSecrets } from './secrets.js';
import { signedHeaders } from './signature.js';

test('a signed body verifies with standardwebhooks; a changed body, id or timestamp, or another secret does not', () => {
  const secrets = new WebhookSecrets('a master secret of enough length');
  const secret = secrets.secretFor('abcdefghijkl');
  assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/u);
  const body = JSON.stringify({ type: 'task.completed', timestamp: new Date().toISOString(), data: { id: 't', text: '你好' } });
  const now = Math.floor(Date.now() / 1000);
  const headers = signedHeaders(secret, 'msg_t_1', now, body);
  assert.deepEqual(new Webhook(secret).verify(body, { ...headers }), JSON.parse(body));
  assert.throws(() => new Webhook(secret).verify(`${body} `, { ...headers }));
  assert.throws(() => new Webhook(secret).verify(body, { ...headers, 'webhook-id': 'msg_t_2' }));
  assert.throws(() => new Webhook(secret).verify(body, { ...headers, 'webhook-timestamp': String(now - 1) }));
  assert.throws(() => new Webhook(secrets.secretFor(undefined)).verify(body, { ...headers }), 'another owner’s secret');
});

test('secrets: one per owner, the same from the same master secret; the master secret is made once and kept', async () => {
  const one = new WebhookSecrets('a master secret of enough length');
  const two = new WebhookSecrets('a master secret of enough length');
  assert.equal(one.secretFor('k1'), two.secretFor('k1'));
  assert.notEqual(one.secretFor('k1'), one.secretFor('k2'));
  assert.notEqual(one.secretFor(undefined), one.secretFor('k1'));
  assert.notEqual(new WebhookSecrets('another master secret, as long').secretFor('k1'), one.secretFor('k1'));
  let stored: string | undefined;
  const store = { masterSecret: async (candidate: string) => (stored ??= candidate) };
  const first = await loadWebhookSecrets(undefined, store);
  const second = await loadWebhookSecrets(undefined, store);
  assert.equal(first.secretFor('k1'), second.secretFor('k1'));
  assert.equal((await loadWebhookSecrets('x'.repeat(32), store)).secretFor('k1'), new WebhookSecrets('x'.repeat(32)).secretFor('k1'), 'WEBHOOK_SECRET wins');
});

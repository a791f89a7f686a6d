/**
 * The guarded webhook POST against a real loopback receiver: the URL rules (refused at submit),
 * a name that resolves to loopback and a connection that reaches it (refused at delivery, the
 * receiver never hit), no redirects, time-outs, refused and dropped connections.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TtsError } from '../errors.js';
import { freePort } from '../backends/redis/testing/redis-server.js';
import { checkWebhookUrl, postWebhook } from './post-webhook.js';

const hits: Array<{ path: string; body: string; headers: IncomingMessage['headers'] }> = [];
const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = {
  '/ok': (_req, res) => res.writeHead(204).end(),
  '/moved': (_req, res) => res.writeHead(302, { location: '/ok' }).end(),
  '/stall': () => undefined,
  '/drop': (req) => req.socket.destroy(),
};
const server = createServer((req, res) => {
  let body = '';
  req.on('data', (chunk: Buffer) => {
    body += chunk.toString();
  });
  req.on('end', () => {
    hits.push({ path: req.url ?? '', body, headers: req.headers });
    routes[req.url ?? '']?.(req, res);
  });
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const port = (server.address() as AddressInfo).port;
test.after(() => server.close());

const refusedWith = (code: string, message?: RegExp) => (error: unknown) => error instanceof TtsError && error.code === code && (message === undefined || message.test(error.message));
const options = { timeoutMs: 2_000, allowPrivate: false };

for (const url of [
  'http://127.0.0.1/hook',
  'http://[::ffff:127.0.0.1]/hook',
  'http://[::ffff:7f00:1]/hook',
  'http://0x7f.1/hook',
  'http://10.1.2.3/hook',
  'http://192.168.0.10/hook',
  'http://169.254.169.254/latest/meta-data/',
  'http://[::1]/hook',
  'http://[fe80::1]/hook',
  'http://[64:ff9b::7f00:1]/hook',
  'http://[2002:7f00:1::]/hook',
  'http://localhost./hook',
  'http://LOCALHOST/hook',
  'http://hooks.localhost/hook',
]) {
  test(`webhook_url ${url} is refused by its form`, () => {
    assert.throws(() => checkWebhookUrl(url, false), refusedWith('E_WEBHOOK_URL_FORBIDDEN', /private, loopback or reserved address/u));
  });
}

test('webhook_url must be http(s), a URL, without credentials; WEBHOOK_ALLOW_PRIVATE lets loopback through', () => {
  assert.throws(() => checkWebhookUrl('ftp://hooks.example.com/x', false), refusedWith('E_WEBHOOK_URL_FORBIDDEN', /http or https, got ftp/u));
  assert.throws(() => checkWebhookUrl('not a url', false), refusedWith('E_WEBHOOK_URL_FORBIDDEN', /not a valid URL/u));
  assert.throws(() => checkWebhookUrl('https://user:pw@hooks.example.com/x', false), refusedWith('E_WEBHOOK_URL_FORBIDDEN', /credentials/u));
  assert.equal(checkWebhookUrl('https://hooks.example.com/x?token=1', false).hostname, 'hooks.example.com');
  assert.equal(checkWebhookUrl('http://127.0.0.1:9/x', true).port, '9');
  assert.throws(() => checkWebhookUrl('https://user@127.0.0.1/x', true), refusedWith('E_WEBHOOK_URL_FORBIDDEN', /credentials/u), 'credentials are refused even so');
});

test('a host name that resolves to loopback is refused when delivering: the receiver is never reached', async () => {
  const before = hits.length;
  const resolve = async () => [{ address: '127.0.0.1', family: 4 }];
  await assert.rejects(
    postWebhook(`http://hooks.example.com:${port}/ok`, '{}', {}, { ...options, resolve }),
    refusedWith('E_WEBHOOK_URL_FORBIDDEN', /resolves to a private, loopback or reserved address \(127\.0\.0\.1\)/u),
  );
  // A check that passes the name's answer but not the connection (the path to the address changed): refused on connect.
  await assert.rejects(
    postWebhook(`http://hooks.example.com:${port}/ok`, '{}', {}, { ...options, resolve, allowAddress: (_address, stage) => stage !== 'connect' }),
    refusedWith('E_WEBHOOK_URL_FORBIDDEN', /connected to a private, loopback or reserved address \(127\.0\.0\.1\)/u),
  );
  assert.equal(hits.length, before);
});

test('a POST carries the body and headers; the status is returned whatever it is, and a redirect is not followed', async () => {
  const allowed = { ...options, allowPrivate: true };
  const before = hits.length;
  assert.equal(await postWebhook(`http://127.0.0.1:${port}/ok`, '{"a":"好"}', { 'content-type': 'application/json', 'webhook-id': 'msg_1' }, allowed), 204);
  const hit = hits.at(-1)!;
  assert.equal(hit.body, '{"a":"好"}');
  assert.equal(hit.headers['webhook-id'], 'msg_1');
  assert.equal(hit.headers['content-length'], String(Buffer.byteLength('{"a":"好"}')));
  assert.equal(await postWebhook(`http://127.0.0.1:${port}/moved`, '{}', {}, allowed), 302);
  assert.deepEqual(
    hits.slice(before).map((h) => h.path),
    ['/ok', '/moved'],
    'the redirect target was not called',
  );
});

test('no answer in time, a refused connection and a dropped one are E_WEBHOOK_DELIVERY_FAILED saying which', async () => {
  const allowed = { timeoutMs: 300, allowPrivate: true };
  await assert.rejects(postWebhook(`http://127.0.0.1:${port}/stall`, '{}', {}, allowed), refusedWith('E_WEBHOOK_DELIVERY_FAILED', /did not answer within 300 ms/u));
  await assert.rejects(postWebhook(`http://127.0.0.1:${port}/drop`, '{}', {}, allowed), refusedWith('E_WEBHOOK_DELIVERY_FAILED', /closed before an answer/u));
  const closed = await freePort();
  await assert.rejects(postWebhook(`http://127.0.0.1:${closed}/ok`, '{}', {}, allowed), refusedWith('E_WEBHOOK_DELIVERY_FAILED', /refused/u));
});

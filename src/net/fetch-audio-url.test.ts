import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeTone } from '../audio/testing/fixtures.js';
import { TtsError } from '../errors.js';
import { checkAudioUrl, fetchAudioUrl, isPublicAddress, type FetchAudioOptions } from './fetch-audio-url.js';

const dir = await mkdtemp(join(tmpdir(), 'fetch-audio-url-test-'));
const wav = await readFile(await makeTone(join(dir, 'tone.wav'), { seconds: 0.5 }));

// One loopback listener, routed by path; every request is counted so a test can show that a refused URL never reached it.
const hits = new Map<string, number>();
const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void | Promise<void>> = {
  '/audio': (_req, res) => {
    res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': wav.length });
    res.end(wav);
  },
  '/audio-trickle': async (_req, res) => {
    res.writeHead(200, { 'content-type': 'audio/wav' });
    for (let i = 0; i < 16; i++) {
      res.write(wav.subarray(i, i + 1));
      await sleep(2);
    }
    res.end(wav.subarray(16));
  },
  '/page': (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!DOCTYPE html><html><body>Not found, but with a 200</body></html>');
  },
  '/empty': (_req, res) => {
    res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': 0 });
    res.end();
  },
  '/missing': (_req, res) => {
    res.writeHead(404);
    res.end();
  },
  '/declared-too-large': (_req, res) => {
    res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': 10_000_000 });
    res.write(wav);
  },
  '/endless': (_req, res) => {
    res.writeHead(200, { 'content-type': 'audio/wav' });
    res.write(wav.subarray(0, 44));
    const chunk = Buffer.alloc(64 * 1024);
    const timer = setInterval(() => res.write(chunk), 5);
    res.on('close', () => clearInterval(timer));
  },
  '/stall-headers': () => undefined,
  '/stall-body': (_req, res) => {
    res.writeHead(200, { 'content-type': 'audio/wav' });
    res.write(wav.subarray(0, 44));
  },
  '/redirect': (req, res) => {
    const to = new URL(req.url!, 'http://x').searchParams.get('to') ?? '/audio';
    res.writeHead(302, { location: to });
    res.end();
  },
  '/redirect-loop': (_req, res) => {
    res.writeHead(302, { location: '/redirect-loop' });
    res.end();
  },
};
const server = createServer((req, res) => {
  const path = new URL(req.url!, 'http://x').pathname;
  hits.set(path, (hits.get(path) ?? 0) + 1);
  const route = routes[path];
  if (route === undefined) {
    res.writeHead(404);
    res.end();
    return;
  }
  void route(req, res);
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const port = (server.address() as AddressInfo).port;
const base = `http://127.0.0.1:${port}`;

test.after(async () => {
  server.closeAllConnections();
  server.close();
  await rm(dir, { recursive: true, force: true });
});

function totalHits(): number {
  return [...hits.values()].reduce((a, b) => a + b, 0);
}

/** Production settings. */
const strict: FetchAudioOptions = { maxBytes: 200_000, timeoutMs: 5_000, allowPrivate: false };
/** The loopback listener stands in for a public server: the address 127.0.0.1 exactly, and otherwise the real check. */
const standIn: FetchAudioOptions = { ...strict, allowAddress: (address) => address === '127.0.0.1' || isPublicAddress(address) };

let outputs = 0;
function outPath(): string {
  return join(dir, `out-${outputs++}.wav`);
}

async function refused(url: string, options: FetchAudioOptions, code: string, pattern?: RegExp): Promise<void> {
  const out = outPath();
  const error = await fetchAudioUrl(url, out, options).then(
    () => assert.fail(`expected ${code} for ${url}`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof TtsError, String(error));
  assert.equal(error.code, code, error.message);
  if (pattern !== undefined) assert.match(error.message, pattern);
  assert.ok(!error.message.includes(dir), `no server path in ${JSON.stringify(error.message)}`);
  await assert.rejects(access(out), 'nothing is left behind');
}

/** Refused before any request reached the listener, both when submitted and when fetched. */
async function refusedOutright(url: string, options: FetchAudioOptions = strict): Promise<void> {
  assert.throws(
    () => checkAudioUrl(url, false),
    (e: unknown) => e instanceof TtsError && e.code === 'E_URL_FORBIDDEN',
  );
  const before = totalHits();
  await refused(url, options, 'E_URL_FORBIDDEN');
  assert.equal(totalHits(), before, 'no request reached the listener');
}

// --- The address classifier ---------------------------------------------------------------

const NOT_PUBLIC = [
  '127.0.0.1',
  '127.255.255.254',
  '::1',
  '::ffff:127.0.0.1',
  '::ffff:7f00:1',
  '0:0:0:0:0:ffff:7f00:1',
  '::127.0.0.1',
  '::7f00:1',
  '0.0.0.0',
  '::',
  '10.0.0.1',
  '172.16.0.1',
  '172.31.255.255',
  '192.168.0.1',
  '::ffff:10.0.0.1',
  '169.254.169.254',
  '::ffff:169.254.169.254',
  'fe80::1',
  'fe80::1%eth0',
  'fc00::1',
  'fd00:ec2::254',
  '100.64.0.1',
  '198.18.0.1',
  '198.19.255.255',
  '192.0.0.1',
  '192.0.2.1',
  '203.0.113.1',
  '224.0.0.1',
  '239.255.255.250',
  '255.255.255.255',
  '240.0.0.1',
  'ff02::1',
  '64:ff9b::7f00:1',
  '64:ff9b::808:808',
  '64:ff9b:1::a00:1',
  '2002:7f00:1::',
  '2002:808:808::1',
  '2001:0:4136:e378:8000:63bf:3fff:fdd2',
  '2001:db8::1',
  '2001:2::1',
  '100::1',
  '::ffff:0:7f00:1',
  '5f00::1',
  'not an address',
  '',
  'localhost',
];
for (const address of NOT_PUBLIC) {
  test(`classifier: ${JSON.stringify(address)} is not public`, () => {
    assert.equal(isPublicAddress(address), false);
  });
}

const PUBLIC = ['8.8.8.8', '1.1.1.1', '93.184.216.34', '::ffff:8.8.8.8', '::ffff:808:808', '2606:4700:4700::1111', '2a00:1450:4001:80b::200e'];
for (const address of PUBLIC) {
  test(`classifier: ${address} is public`, () => {
    assert.equal(isPublicAddress(address), true);
  });
}

// --- Literals and local names, refused before connecting ------------------------------------

test('the URL parser writes decimal, hex and octal IPv4 as dotted and IPv4-mapped IPv6 in hex (the forms the check sees)', () => {
  assert.equal(new URL('http://2130706433/').hostname, '127.0.0.1');
  assert.equal(new URL('http://0x7f000001/').hostname, '127.0.0.1');
  assert.equal(new URL('http://0x7f.1/').hostname, '127.0.0.1');
  assert.equal(new URL('http://0177.0.0.1/').hostname, '127.0.0.1');
  assert.equal(new URL('http://[::ffff:127.0.0.1]/').hostname, '[::ffff:7f00:1]');
  assert.equal(new URL('http://[::127.0.0.1]/').hostname, '[::7f00:1]');
});

const FORBIDDEN_URLS = [
  `http://[::ffff:127.0.0.1]:${port}/audio`,
  `http://[::ffff:7f00:1]:${port}/audio`,
  `http://[0:0:0:0:0:ffff:127.0.0.1]:${port}/audio`,
  `http://[::ffff:169.254.169.254]/latest/meta-data/`,
  `http://[::1]:${port}/audio`,
  `http://[::]:${port}/audio`,
  `http://[64:ff9b::7f00:1]:${port}/audio`,
  `http://[64:ff9b:1::a00:1]:${port}/audio`,
  `http://[2002:7f00:1::]:${port}/audio`,
  `http://[::127.0.0.1]:${port}/audio`,
  `http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/audio`,
  `http://[fe80::1]:${port}/audio`,
  `http://[fc00::1]:${port}/audio`,
  `http://[fd00:ec2::254]/latest/meta-data/`,
  `http://[ff02::1]/audio`,
  `http://localhost:${port}/audio`,
  `http://localhost.:${port}/audio`,
  `http://LocalHost:${port}/audio`,
  `http://foo.localhost:${port}/audio`,
  `http://foo.localhost.:${port}/audio`,
  `http://127.0.0.1:${port}/audio`,
  `http://127.1:${port}/audio`,
  `http://2130706433:${port}/audio`,
  `http://0x7f000001:${port}/audio`,
  `http://0x7f.1:${port}/audio`,
  `http://0177.0.0.1:${port}/audio`,
  `http://0.0.0.0:${port}/audio`,
  `http://0:${port}/audio`,
  'http://169.254.169.254/latest/meta-data/',
  'http://10.0.0.1/audio',
  'http://172.16.0.1/audio',
  'http://192.168.1.1/audio',
  'http://100.64.0.1/audio',
  'http://198.18.0.1/audio',
  'http://192.0.0.1/audio',
  'http://224.0.0.1/audio',
  'http://255.255.255.255/audio',
  'http://[2001:db8::1]/audio',
];
for (const url of FORBIDDEN_URLS) {
  test(`refused outright: ${url}`, () => refusedOutright(url));
}

test('credentials in the URL are refused', () => refusedOutright(`http://user:secret@127.0.0.1:${port}/audio`, standIn));

for (const url of ['file:///etc/passwd', 'ftp://ftp.example.com/a.wav', 'data:audio/wav;base64,UklGRg==', 'gopher://127.0.0.1:70/']) {
  test(`a non-http scheme is refused: ${url.slice(0, 20)}`, () => refusedOutright(url, standIn));
}

test('a string that is not a URL is refused', () => refusedOutright('not a url', standIn));

// --- The public path (the listener standing in for a public server) --------------------------

test('a WAV from an allowed address is downloaded byte for byte', async () => {
  const out = outPath();
  await fetchAudioUrl(`${base}/audio`, out, standIn);
  assert.deepEqual(await readFile(out), wav);
});

test('a WAV that arrives a byte at a time is recognised and kept whole', async () => {
  const out = outPath();
  await fetchAudioUrl(`${base}/audio-trickle`, out, standIn);
  assert.deepEqual(await readFile(out), wav);
});

test('an HTML page answered with 200 is refused as not audio', () => refused(`${base}/page`, standIn, 'E_AUDIO_UNREADABLE', /text\/html/));

test('an empty body is refused as not audio', () => refused(`${base}/empty`, standIn, 'E_AUDIO_UNREADABLE'));

test('an error status is a fetch failure', () => refused(`${base}/missing`, standIn, 'E_URL_FETCH_FAILED', /HTTP 404/));

test('a redirect to an allowed address is followed', async () => {
  const out = outPath();
  await fetchAudioUrl(`${base}/redirect?to=/audio`, out, standIn);
  assert.deepEqual(await readFile(out), wav);
});

test('a redirect loop stops', () => refused(`${base}/redirect-loop`, standIn, 'E_URL_FETCH_FAILED', /redirects too many times/));

const PRIVATE_TARGETS = [
  `http://[::ffff:127.0.0.1]:${port}/audio`,
  `http://[::ffff:7f00:1]:${port}/audio`,
  `http://[::1]:${port}/audio`,
  `http://localhost:${port}/audio`,
  `http://0x7f000002:${port}/audio`,
  'http://169.254.169.254/latest/meta-data/',
  'http://10.0.0.1/audio',
  `http://private.test:${port}/audio`,
];
for (const target of PRIVATE_TARGETS) {
  test(`a redirect from an allowed address to ${target} is refused`, async () => {
    const options: FetchAudioOptions = { ...standIn, resolve: async () => [{ address: '10.0.0.1', family: 4 }] };
    const before = hits.get('/audio') ?? 0;
    await refused(`${base}/redirect?to=${encodeURIComponent(target)}`, options, 'E_URL_FORBIDDEN');
    assert.equal(hits.get('/audio') ?? 0, before, 'the private target was not reached');
  });
}

// --- Names, checked when resolved ------------------------------------------------------------

test('a name that resolves to loopback is refused before connecting', async () => {
  const before = totalHits();
  await refused(`http://rebind.test:${port}/audio`, { ...strict, resolve: async () => [{ address: '127.0.0.1', family: 4 }] }, 'E_URL_FORBIDDEN', /resolves to/);
  assert.equal(totalHits(), before);
});

test('a name with one private address among public ones is refused', () =>
  refused(
    `http://mixed.test:${port}/audio`,
    {
      ...strict,
      resolve: async () => [
        { address: '8.8.8.8', family: 4 },
        { address: '::ffff:10.0.0.1', family: 6 },
      ],
    },
    'E_URL_FORBIDDEN',
    /10\.0\.0\.1/,
  ));

test('a name that resolves to an allowed address is fetched', async () => {
  const out = outPath();
  await fetchAudioUrl(`http://audio.test:${port}/audio`, out, { ...standIn, resolve: async () => [{ address: '127.0.0.1', family: 4 }] });
  assert.deepEqual(await readFile(out), wav);
});

test('a name that does not resolve is a fetch failure', () =>
  refused(
    `http://nowhere.test:${port}/audio`,
    { ...strict, resolve: async () => Promise.reject(Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.test'), { code: 'ENOTFOUND' })) },
    'E_URL_FETCH_FAILED',
  ));

// --- The address actually connected, checked whatever let it through before ------------------

/** Passes every check made before connecting, so only the check of the connected address stands. */
const onlyConnectChecked: FetchAudioOptions = { ...strict, allowAddress: (address, stage) => stage !== 'connect' || isPublicAddress(address) };

test('an IP literal is checked again once connected', async () => {
  const before = totalHits();
  await refused(`${base}/audio`, onlyConnectChecked, 'E_URL_FORBIDDEN', /connected to .*127\.0\.0\.1/);
  assert.equal(totalHits(), before, 'not a byte of the request was sent');
});

test('a resolved name is checked again once connected', async () => {
  const before = totalHits();
  await refused(`http://rebind.test:${port}/audio`, { ...onlyConnectChecked, resolve: async () => [{ address: '127.0.0.1', family: 4 }] }, 'E_URL_FORBIDDEN', /connected to/);
  assert.equal(totalHits(), before);
});

test('every hop of a redirect is checked once connected', async () => {
  let connections = 0;
  const firstConnectionOnly: FetchAudioOptions = { ...strict, allowAddress: (_address, stage) => stage !== 'connect' || ++connections === 1 };
  const before = hits.get('/audio') ?? 0;
  await refused(`${base}/redirect?to=/audio`, firstConnectionOnly, 'E_URL_FORBIDDEN', /connected to/);
  assert.equal(connections, 2);
  assert.equal(hits.get('/audio') ?? 0, before, 'the second hop sent nothing');
});

// --- Size and time --------------------------------------------------------------------------

test('a body declared larger than the cap is refused before it is read', () => refused(`${base}/declared-too-large`, standIn, 'E_URL_FETCH_FAILED', /10000000 bytes; the limit is 200000/));

test('a streamed body that grows past the cap is cut off', () => refused(`${base}/endless`, { ...standIn, timeoutMs: 60_000 }, 'E_URL_FETCH_FAILED', /larger than 200000 bytes/));

test('a server that never answers is given up on at the time cap', () => refused(`${base}/stall-headers`, { ...standIn, timeoutMs: 300 }, 'E_URL_FETCH_FAILED', /within 300 ms/));

test('a body that never ends is given up on at the time cap', () => refused(`${base}/stall-body`, { ...standIn, timeoutMs: 300 }, 'E_URL_FETCH_FAILED', /within 300 ms/));

test('a canceled task stops its download at once: E_CANCELED, not a time-out', () => {
  const cancel = new AbortController();
  setTimeout(() => cancel.abort(), 100);
  return refused(`${base}/stall-body`, { ...standIn, timeoutMs: 60_000, cancel: cancel.signal }, 'E_CANCELED');
});

// --- Trusted networks ------------------------------------------------------------------------

for (const url of [`${base}/audio`, `http://localhost:${port}/audio`, `http://2130706433:${port}/audio`]) {
  test(`allowPrivate lets ${url} through`, async () => {
    assert.doesNotThrow(() => checkAudioUrl(url, true));
    const out = outPath();
    await fetchAudioUrl(url, out, { ...strict, allowPrivate: true });
    assert.deepEqual(await readFile(out), wav);
  });
}

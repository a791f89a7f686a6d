import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { ModerationConfig } from '../config/config.js';
import { TtsError } from '../errors.js';
import { CONTENT_REFUSED_MESSAGE, createModeration, type Moderation, type ModerationOptions } from './moderation.js';
import { foldForMatching } from './blocklist.js';
import { nestedQuantifier } from './regex-rules.js';

const dir = await mkdtemp(join(tmpdir(), 'moderation-test-'));
let files = 0;
async function blocklistFile(lines: string[]): Promise<string> {
  const path = join(dir, `blocklist-${files++}.txt`);
  await writeFile(path, lines.join('\n'));
  return path;
}

const silent = pino({ level: 'silent' });
const base: ModerationConfig = { timeoutMs: 3_000, fail: 'closed', allowPrivate: true };
const opened: Moderation[] = [];
async function moderation(config: Partial<ModerationConfig>, logger = silent, options: ModerationOptions = {}): Promise<Moderation> {
  const created = await createModeration({ ...base, ...config }, logger, options);
  opened.push(created);
  return created;
}

const isCode = (code: string, pattern?: RegExp) => (error: unknown) => error instanceof TtsError && error.code === code && (pattern === undefined || pattern.test(error.message));
const refused = (promise: Promise<void>) => assert.rejects(promise, isCode('E_CONTENT_REFUSED'));
const unavailable = (promise: Promise<void>) =>
  assert.rejects(promise, (error: unknown) => isCode('E_MODERATION_UNAVAILABLE')(error) && (error as TtsError).status === 503 && (error as TtsError).retryable);

// --- One loopback listener standing in for the external check, routed by path ----------------

const received: unknown[] = [];
const routes: Record<string, (req: IncomingMessage, res: ServerResponse, body: string) => void> = {
  '/check': (_req, res, body) => {
    const { text } = JSON.parse(body) as { text: string };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ allowed: !text.includes('forbidden') }));
  },
  '/flagged': (_req, res, body) => {
    const { text } = JSON.parse(body) as { text: string };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: 'modr-1', flagged: text.includes('forbidden'), categories: {} }));
  },
  '/slow': () => undefined,
  '/error': (_req, res) => {
    res.writeHead(500);
    res.end('{"allowed": true}');
  },
  '/garbage': (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"allowed": tru');
  },
  '/no-verdict': (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"allowed": "yes"}');
  },
  '/huge': (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(`{"allowed": true, "padding": "${'x'.repeat(200_000)}"}`);
  },
  '/redirect': (_req, res) => {
    res.writeHead(307, { location: '/check' });
    res.end();
  },
};
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    const path = new URL(req.url!, 'http://x').pathname;
    received.push({ path, method: req.method, contentType: req.headers['content-type'], body });
    (routes[path] ?? ((_q, r) => r.writeHead(404).end()))(req, res, body);
  });
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

test.after(async () => {
  for (const m of opened) await m.close();
  server.closeAllConnections();
  server.close();
  await rm(dir, { recursive: true, force: true });
});

// --- Nothing configured ----------------------------------------------------------------------

test('with neither a blocklist nor a URL, check is a no-op', async () => {
  const m = await moderation({});
  assert.equal(m.enabled, false);
  await m.check('anything at all');
});

// --- Blocklist: words and phrases ------------------------------------------------------------

test('a listed word is refused on word boundaries, in any case; a longer word that contains it is not', async () => {
  const m = await moderation({ blocklistPath: await blocklistFile(['# a comment line: darn is not a rule', '', '  heck  ', 'ice cream']) });
  assert.equal(m.enabled, true);
  await refused(m.check('What the heck.'));
  await refused(m.check('HECK!'));
  await refused(m.check('Heck'));
  await refused(m.check('I like ICE\n  cream a lot'));
  await m.check('Checking the heckle: a heckler, shecky.');
  await m.check('ice, cream');
  await m.check('darn it # a comment line');
});

test('disguises are seen through: full-width letters, zero-width characters, combining marks, accents', async () => {
  const m = await moderation({ blocklistPath: await blocklistFile(['heck']) });
  for (const disguised of ['ｈｅｃｋ', 'ＨＥＣＫ', 'he\u200Bck', 'h\u200De\u2060c\uFEFFk', 'h\u00ADeck', 'h\u0337e\u0337c\u0337k\u0337', 'hé́ck', 'héck', '𝐡𝐞𝐜𝐤', 'say ｈeck now']) {
    await refused(m.check(disguised));
  }
  assert.equal(foldForMatching('ＨＥ\u200BC\u0301K'), 'heck');
});

test('a phrase in Han, Kana or Hangul matches inside a run of text; a Latin word next to Han counts as a word', async () => {
  const m = await moderation({ blocklistPath: await blocklistFile(['坏话', 'ダメ', '나쁜말', 'heck']) });
  await refused(m.check('他说了一句坏话就走了'));
  await refused(m.check('これはダメです'));
  await refused(m.check('그건나쁜말이야'));
  await refused(m.check('这个heck东西'));
  await refused(m.check('他说了一句坏\u200B话'));
  await m.check('他说了一句好话');
  await m.check('これはタメです');
});

test('regular-expression rules match the normalised text; flags are kept', async () => {
  const m = await moderation({ blocklistPath: await blocklistFile(['/\\bh[e3]+ck(s|ed)?\\b/', '/^secret code \\d{4}$/', '/ice\\s+cream/']) });
  await refused(m.check('h3eck it'));
  await refused(m.check('HECKED'));
  await refused(m.check('Secret\n  code 1234'));
  await refused(m.check('ICE\t\tCREAM'));
  await m.check('line one\nsecret code 1234\nline three');
  await m.check('secret code 12345');
  await m.check('shecky');
});

test('an invalid regular expression stops start-up, naming the file and line but not the pattern', async () => {
  const path = await blocklistFile(['# rules', 'fine', '/(unclosed/']);
  await assert.rejects(createModeration({ ...base, blocklistPath: path }, silent), (error: unknown) => {
    assert.ok(isCode('E_INVALID_ARGUMENT', /line 3: invalid regular expression/)(error));
    assert.ok((error as TtsError).message.includes(path));
    assert.ok(!(error as TtsError).message.includes('unclosed'));
    return true;
  });
});

for (const [rule, why] of [
  ['/(a+)+$/', /repeats a group that itself repeats/],
  ['/(?:\\w*\\s)*x/', /repeats a group that itself repeats/],
  ['/heck/g', /not g or y/],
  ['/^heck$/m', /not m/],
  ['/heck', /needs a closing \//],
  ['/a*/', /matches an empty text/],
  ['\u200B', /empty once normalised/],
] as const) {
  test(`a rule refused at load: ${JSON.stringify(rule)}`, async () => {
    const path = await blocklistFile(['ok', rule]);
    await assert.rejects(createModeration({ ...base, blocklistPath: path }, silent), isCode('E_INVALID_ARGUMENT', new RegExp(`line 2: .*${why.source}`, 'u')));
  });
}

test('nested quantifiers are recognised through classes and escapes', () => {
  assert.equal(nestedQuantifier('(a+)+', ''), true);
  assert.equal(nestedQuantifier('(a|b{2,})*', ''), true);
  assert.equal(nestedQuantifier('(ab)+c*', ''), false);
  assert.equal(nestedQuantifier('[(a+)]+', ''), false);
  assert.equal(nestedQuantifier('\\(a+\\)+', ''), false);
  assert.equal(nestedQuantifier('(a{2})?', ''), false);
});

test('a blocklist that cannot be read stops start-up, naming the file', async () => {
  const missing = join(dir, 'no-such-file.txt');
  await assert.rejects(createModeration({ ...base, blocklistPath: missing }, silent), isCode('E_INVALID_ARGUMENT', /no-such-file\.txt cannot be read \(ENOENT\)/));
  const unreadable = await blocklistFile(['heck']);
  await chmod(unreadable, 0o000);
  if (process.getuid?.() !== 0) await assert.rejects(createModeration({ ...base, blocklistPath: unreadable }, silent), isCode('E_INVALID_ARGUMENT', /cannot be read \(EACCES\)/));
  await assert.rejects(createModeration({ ...base, blocklistPath: dir }, silent), isCode('E_INVALID_ARGUMENT', /cannot be read \(EISDIR\)/));
});

test('a 100,000-character text against 5,000 words and a few patterns is checked correctly', async () => {
  const words = Array.from({ length: 5_000 }, (_, i) => `zq${i.toString(36)}word`);
  const m = await moderation({ blocklistPath: await blocklistFile([...words, '/\\bq{3}x\\b/', '/number \\d+ of \\d+/']) });
  const filler = 'The quick brown fox jumps over the lazy dog, zq1wordy and xzq2word stay allowed. ';
  const clean = filler.repeat(Math.ceil(100_000 / filler.length)).slice(0, 100_000);
  await m.check(clean);
  await refused(m.check(`${clean.slice(0, 60_000)} ${words[4_999]} ${clean.slice(60_000)}`));
  await refused(m.check(`${clean.slice(0, 99_000)} ${words[4_321]!.toUpperCase()}`));
  await refused(m.check(`${clean} qqqx`));
});

test('a regular expression that overruns its time is ended: refused when failing closed, accepted when failing open', async () => {
  // Not nested, but quadratic: each start position scans to the end of the line.
  const path = await blocklistFile(['/.*needle/']);
  const haystack = 'a '.repeat(50_000);
  const closed = await moderation({ blocklistPath: path }, silent, { regexDeadlineMs: 200 });
  await unavailable(closed.check(haystack));
  await refused(closed.check('a needle'));
  const open = await moderation({ blocklistPath: path, fail: 'open' }, silent, { regexDeadlineMs: 200 });
  await open.check(haystack);
  await refused(open.check('a needle'));
});

test('checks at once are answered each for its own text', async () => {
  const m = await moderation({ blocklistPath: await blocklistFile(['/h[e3]ck/']) });
  const results = await Promise.allSettled(['heck', 'fine', 'h3ck', 'also fine'].map((text) => m.check(text)));
  assert.deepEqual(
    results.map((r) => r.status),
    ['rejected', 'fulfilled', 'rejected', 'fulfilled'],
  );
});

// --- The matched term stays out of messages and logs -----------------------------------------

test('the refusal and the logs never name the matched term; debug names the rule line only', async () => {
  const term = 'zorblax';
  const path = await blocklistFile(['# secret rules', 'heck', term]);
  for (const level of ['info', 'debug'] as const) {
    const lines: string[] = [];
    const logger = pino({ level }, { write: (line: string) => void lines.push(line) });
    const m = await moderation({ blocklistPath: path }, logger);
    const error = await m.check(`say ${term.toUpperCase()} now`).then(
      () => assert.fail('accepted'),
      (e: unknown) => e as TtsError,
    );
    assert.equal(error.code, 'E_CONTENT_REFUSED');
    assert.equal(error.status, 422);
    assert.equal(error.retryable, false);
    assert.equal(error.message, CONTENT_REFUSED_MESSAGE);
    assert.ok(!JSON.stringify(error.toWire()).toLowerCase().includes(term));
    const log = lines.join('');
    assert.match(log, /text refused by the content policy/);
    assert.ok(!log.toLowerCase().includes(term), `${level} log names the term: ${log}`);
    if (level === 'debug') assert.match(log, /"line":3/);
    else assert.doesNotMatch(log, /"line"/);
  }
});

// --- External check --------------------------------------------------------------------------

test('the external check gets the text as JSON; allowed and refused answers are followed', async () => {
  const m = await moderation({ url: `${origin}/check` });
  const before = received.length;
  await m.check('a harmless text');
  assert.deepEqual(received[before], { path: '/check', method: 'POST', contentType: 'application/json', body: '{"text":"a harmless text"}' });
  await refused(m.check('a forbidden text'));
});

test('an OpenAI-style {"flagged"} answer is understood', async () => {
  const m = await moderation({ url: `${origin}/flagged` });
  await m.check('a harmless text');
  await refused(m.check('a forbidden text'));
});

test('the blocklist is checked first; the external check is asked only about texts it lets through', async () => {
  const m = await moderation({ url: `${origin}/check`, blocklistPath: await blocklistFile(['heck']) });
  const before = received.length;
  await refused(m.check('heck'));
  assert.equal(received.length, before);
  await refused(m.check('forbidden'));
  assert.equal(received.length, before + 1);
});

for (const [path, what] of [
  ['/slow', 'no answer in time'],
  ['/error', 'a 500 answer'],
  ['/garbage', 'JSON that does not parse'],
  ['/no-verdict', 'no boolean verdict'],
  ['/huge', 'an answer over 64 KiB'],
  ['/redirect', 'a redirect (not followed)'],
] as const) {
  test(`external check, ${what}: refused when failing closed, accepted with a warning when failing open`, async () => {
    const closed = await moderation({ url: `${origin}${path}`, timeoutMs: 300 });
    await unavailable(closed.check('a harmless text'));
    const lines: string[] = [];
    const open = await moderation({ url: `${origin}${path}`, timeoutMs: 300, fail: 'open' }, pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }));
    await open.check('a harmless text');
    const warning = lines.map((line) => JSON.parse(line)).find((entry) => entry.level === 40);
    assert.ok(warning, 'a warning is logged');
    assert.match(warning.msg, /MODERATION_FAIL=open/);
    assert.ok(!JSON.stringify(warning).includes('harmless'), 'the warning does not hold the text');
  });
}

test('a redirect is never followed', async () => {
  const m = await moderation({ url: `${origin}/redirect`, fail: 'open' });
  const before = received.length;
  await m.check('a forbidden text');
  assert.deepEqual(
    received.slice(before).map((r: any) => r.path),
    ['/redirect'],
  );
});

test('a refused connection fails closed', async () => {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as AddressInfo).port;
  probe.close();
  await once(probe, 'close');
  await unavailable((await moderation({ url: `http://127.0.0.1:${port}/check` })).check('text'));
});

// --- SSRF rules ------------------------------------------------------------------------------

for (const url of [`${origin}/check`, 'http://localhost:8080/check', 'http://[::1]/check', 'http://10.0.0.5/check', 'http://169.254.169.254/latest', 'http://2130706433/check']) {
  test(`a private MODERATION_URL is refused at start-up without MODERATION_ALLOW_PRIVATE: ${url}`, async () => {
    await assert.rejects(createModeration({ ...base, url, allowPrivate: false }, silent), isCode('E_INVALID_ARGUMENT', /MODERATION_ALLOW_PRIVATE=1/));
  });
}

test('a name that resolves to a private address is refused at start-up', async () => {
  const resolve = async () => [{ address: '192.168.1.20', family: 4 }];
  await assert.rejects(createModeration({ ...base, url: 'http://moderation.test/check', allowPrivate: false }, silent, { resolve }), isCode('E_INVALID_ARGUMENT', /192\.168\.1\.20/));
});

test('a name that later resolves to loopback is refused when called, before connecting (fail closed)', async () => {
  let calls = 0;
  const resolve = async () => [{ address: calls++ === 0 ? '93.184.215.14' : '127.0.0.1', family: 4 }];
  const port = new URL(origin).port;
  const m = await moderation({ url: `http://rebind.test:${port}/check`, allowPrivate: false }, silent, { resolve });
  const before = received.length;
  await unavailable(m.check('text'));
  assert.equal(received.length, before, 'nothing reached the listener');
});

test('with MODERATION_ALLOW_PRIVATE, a sidecar on localhost is used', async () => {
  const m = await moderation({ url: `http://localhost:${new URL(origin).port}/check`, allowPrivate: true });
  await m.check('fine');
  await refused(m.check('forbidden'));
});

/**
 * The web page at /, in real headless Chromium (Debian's, driven by playwright-core) against
 * the real service: submit a text and see it reach 100 %, play it, upload a voice, record one
 * with Chromium's fake microphone and use it, an API error shown by its code, a key typed in
 * the key field, a phone-sized screen. Screenshots go to out/. Never skipped: `npm test`'s
 * pretest installs Chromium where it is missing (scripts/ensure-chromium.mjs).
 */

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Locator, type Page, type Response } from 'playwright-core';
import { makeTone } from '../audio/testing/fixtures.js';
import { DEFAULT_WEB_ROOT } from '../http/routes/page.js';
import { jsonPost, startTestService, type TestService } from '../service/testing/test-service.js';
import { existsSync } from 'node:fs';

const CHROMIUM = process.env.TEST_CHROMIUM_PATH ?? '/usr/bin/chromium';
const OUT = fileURLToPath(new URL('../../../out/', import.meta.url));
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
];
/** Three sentences: three segments on bench-sleep (200 characters each at most). */
const TEXT = [
  'The first sentence of this page test is long enough to fill most of one segment on its own, so that the task has several parts to report.',
  'The second sentence does the same, and the progress bar moves from one third to two thirds of the way when it is done.',
  'The third and last sentence ends the task, and the page should say one hundred percent once the audio is encoded.',
].join(' ');

let service: TestService;
let browser: Browser;
let desktop: BrowserContext;
let page: Page;
let scratch: string;
/** What the browser said that a test must not let pass: uncaught errors, and anything the CSP refused. */
const problems: string[] = [];

function watch(target: Page): void {
  target.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  target.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy|Refused to/iu.test(message.text())) problems.push(`console: ${message.text()}`);
  });
  // Deleting a voice asks first.
  target.on('dialog', (dialog) => void dialog.accept());
}

before(async () => {
  assert.ok(existsSync(join(DEFAULT_WEB_ROOT, 'index.html')), `the page is not built at ${DEFAULT_WEB_ROOT}: run \`npm run build\``);
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: \`npm test\` installs it (scripts/ensure-chromium.mjs), or set TEST_CHROMIUM_PATH`);
  scratch = await mkdtemp(join(tmpdir(), 'tts-page-test-'));
  await mkdir(OUT, { recursive: true });
  service = await startTestService({ BENCH_SLEEP_COST_MS: '150', BENCH_SLEEP_MS_PER_CHAR: '20' });
  // launch() starts Chromium on a fresh temporary profile (its user-data-dir), removed on close.
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  desktop = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await desktop.newPage();
  watch(page);
  await page.goto(service.url);
});

after(async () => {
  await browser?.close();
  await service?.stop();
  if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
});

/** The task row the page added last (the list is newest first). */
const newestTask = (target: Page) => target.locator('#tasks > li').first();

/** Sends the form with `send`, then waits for the new row to reach `completed`; answers its id. */
async function submitAndComplete(target: Page, send: () => Promise<void>): Promise<string> {
  const rows = await target.locator('#tasks > li').count();
  await send();
  await target.locator('#tasks > li').nth(rows).waitFor();
  const id = (await newestTask(target).getAttribute('data-task-id'))!;
  await target.locator(`#tasks > li[data-status="completed"][data-task-id="${id}"]`).waitFor({ timeout: 60_000 });
  return id;
}

/** Watches the page's calls of the real stream route, to check that it played the stream (as mp3) and was answered. */
function watchStreams(target: Page): () => void {
  const streamed: Array<{ url: string; status: number }> = [];
  const onResponse = (response: Response): void => {
    if (/\/api\/task\/[^/]+\/stream\?/u.test(response.url())) streamed.push({ url: response.url(), status: response.status() });
  };
  target.on('response', onResponse);
  return () => {
    target.off('response', onResponse);
    assert.ok(streamed.length > 0 && streamed.every((call) => call.url.endsWith('/stream?format=mp3') && call.status === 200), `streamed: ${JSON.stringify(streamed)}`);
  };
}

/** Clicks a row's Download button and checks the file the browser saved. */
async function assertDownload(row: ReturnType<typeof newestTask>, name: string, bytes: number): Promise<void> {
  const [download] = await Promise.all([row.page().waitForEvent('download'), row.getByRole('button', { name: /^Download/u }).click()]);
  assert.equal(download.suggestedFilename(), name);
  const path = join(scratch, `download-${name}`);
  await download.saveAs(path);
  assert.equal((await stat(path)).size, bytes);
}

/** Plays a row's audio and waits until the element knows a duration and has played some of it. */
async function playAndMeasure(row: Locator): Promise<{ duration: number; currentTime: number; source: string | undefined; src: string }> {
  await row.getByRole('button', { name: /^Play/u }).click();
  const audio = row.locator('audio');
  await audio.evaluate(
    (element: any) =>
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (element.error !== null) reject(new Error(`audio error ${element.error.code}: ${element.error.message}`));
          else if (element.duration > 0 && element.currentTime > 0) resolve();
          else setTimeout(check, 50);
        };
        check();
      }),
  );
  return audio.evaluate((element: any) => ({ duration: element.duration, currentTime: element.currentTime, source: element.dataset.source, src: element.src }));
}

test('/ and its assets are served without a key, with cache headers and a CSP that lets the page play blob: audio', async () => {
  const index = await fetch(`${service.url}/`);
  assert.equal(index.status, 200);
  assert.match(index.headers.get('content-type') ?? '', /^text\/html/u);
  assert.equal(index.headers.get('cache-control'), 'no-cache');
  const csp = index.headers.get('content-security-policy') ?? '';
  assert.match(csp, /media-src 'self' blob:/u);
  assert.match(csp, /script-src 'self'/u);
  const html = await index.text();
  const asset = /src="(\/assets\/[^"]+\.js)"/u.exec(html)?.[1];
  assert.ok(asset !== undefined, 'index.html names a hashed script');
  const script = await fetch(`${service.url}${asset}`);
  assert.equal(script.status, 200);
  assert.match(script.headers.get('content-type') ?? '', /javascript/u);
  assert.match(script.headers.get('cache-control') ?? '', /max-age=31536000.*immutable/u);
  // Nothing else is served from there: a missing asset, or a way out of the folder, is the API's 404.
  for (const path of ['/assets/missing.js', '/assets/..%2F..%2Fpackage.json', '/assets/%2e%2e/index.html', '/assets/.hidden', '/assets/']) {
    const missing = await service.request(path);
    assert.equal(missing.status, 404, path);
    assert.equal(missing.body.error.code, 'E_ROUTE_NOT_FOUND', path);
  }
  // /docs still works under the same headers.
  assert.equal((await fetch(`${service.url}/docs/`)).status, 200);
});

test('submit a text with the keyboard: progress reaches 100 %, and the audio plays', async () => {
  await page.getByLabel('Text', { exact: true }).fill(TEXT);
  await page.getByLabel('Format').selectOption('mp3');
  await page.getByLabel('Priority').fill('2');
  await page.getByRole('button', { name: 'Read aloud' }).focus();
  const id = await submitAndComplete(page, () => page.keyboard.press('Enter'));
  const row = newestTask(page);
  assert.match((await row.locator('.task-status').textContent()) ?? '', /Completed · 3\/3 segments · 100 %/u);
  assert.equal(await row.locator('progress').evaluate((element: any) => element.value), 100);
  const task = (await service.request(`/api/task/${id}`)).body;
  assert.equal(task.format, 'mp3');
  assert.equal(task.priority, 2);

  const played = await playAndMeasure(row);
  assert.ok(played.duration > 0 && Number.isFinite(played.duration), `duration ${played.duration}`);
  // Completed, without a key: the element plays the file's URL itself.
  assert.equal(played.source, 'file');
  assert.match(played.src, new RegExp(`/api/task/${id}/audio$`, 'u'));
  await assertDownload(row, `${id}.mp3`, task.result.bytes);
});

test('where the service streams (links.stream), the page plays the stream in <audio src>', async () => {
  const checkStreamed = watchStreams(page);
  // A pcm task: a browser cannot play its file, so even once completed the page plays its stream.
  await page.getByLabel('Text', { exact: true }).fill('Streamed while the rest is made.');
  await page.getByLabel('Format').selectOption('pcm');
  await submitAndComplete(page, () => page.getByRole('button', { name: 'Read aloud' }).click());
  const played = await playAndMeasure(newestTask(page));
  assert.equal(played.source, 'stream');
  assert.match(played.src, /\/stream\?format=mp3$/u);
  assert.ok(played.duration > 0, `duration ${played.duration}`);
  await newestTask(page)
    .locator('audio')
    .evaluate((element: any) => element.pause());
  checkStreamed();
  await page.getByLabel('Format').selectOption('mp3');
});

test('an API refusal is shown by its code and message', async () => {
  await page.getByLabel('Text', { exact: true }).fill('   ');
  await page.getByRole('button', { name: 'Read aloud' }).click();
  const error = page.locator('#synth-error');
  await error.filter({ hasText: 'E_TEXT_EMPTY' }).waitFor();
  assert.match((await error.textContent()) ?? '', /^E_TEXT_EMPTY: \S/u);
  assert.equal(await error.getAttribute('role'), 'alert');
});

test('upload a voice: it is listed and offered in the voice menu', async () => {
  const wav = await makeTone(join(scratch, 'voice.wav'), { seconds: 3, silence: 0.2 });
  await page.getByLabel('Name').fill('Uploaded voice');
  await page.getByLabel(/^Recording \(/u).setInputFiles(wav);
  await page.getByLabel(/^Transcript/u).fill('A tone that stands in for speech.');
  await page.getByLabel('Whose voice it is').fill('Test Speaker');
  await page.getByLabel(/agreed to have their voice cloned/u).check();
  await page.getByRole('button', { name: 'Add the voice' }).click();
  await page.locator('#voices li', { hasText: 'Uploaded voice' }).waitFor();
  assert.equal(await page.locator('#voice-error').textContent(), '');
  const { body } = await service.request('/api/voices');
  const voice = body.voices.find((v: { name: string }) => v.name === 'Uploaded voice');
  assert.ok(voice !== undefined);
  assert.equal(voice.speaker_name, 'Test Speaker');
  assert.equal(await page.locator('#voice option', { hasText: 'Uploaded voice' }).getAttribute('value'), voice.id);
  // Its recording plays from the library, as the engines hear it.
  const played = await playAndMeasure(page.locator('#voices li', { hasText: 'Uploaded voice' }));
  assert.ok(Math.abs(played.duration * 1000 - voice.duration_ms) < 100, `duration ${played.duration} s, voice ${voice.duration_ms} ms`);
  assert.match(played.src, new RegExp(`/api/voices/${voice.id}/audio$`, 'u'));
});

test('record a voice with the fake microphone, store it, and use it in a task; delete a voice', async () => {
  await page.getByLabel('Name').fill('Recorded voice');
  const record = page.getByRole('button', { name: 'Record with the microphone' });
  await record.click();
  const stop = page.getByRole('button', { name: 'Stop recording' });
  await stop.waitFor();
  // Long enough to hold 2 s of sound once the service trims silence: the page's own clock says when.
  await page.waitForFunction(() => Number.parseFloat((globalThis as any).document.getElementById('record-time')?.textContent ?? '0') >= 4);
  await stop.click();
  await page.locator('#record-preview:not([hidden])').waitFor();
  await page.getByLabel(/^Transcript/u).fill('Beeps from the fake microphone.');
  await page.getByLabel('Whose voice it is').fill('The fake microphone');
  await page.getByLabel(/agreed to have their voice cloned/u).check();
  await page.getByRole('button', { name: 'Add the voice' }).click();
  await page.locator('#voices li', { hasText: 'Recorded voice' }).or(page.locator('#voice-error:not(:empty)')).first().waitFor();
  assert.equal(await page.locator('#voice-error').textContent(), '');
  const { body } = await service.request('/api/voices');
  const voice = body.voices.find((v: { name: string }) => v.name === 'Recorded voice');
  assert.ok(voice !== undefined && voice.duration_ms > 0);
  // The new voice is chosen in the menu: submit a task with it.
  assert.equal(await page.getByLabel('Voice', { exact: true }).inputValue(), voice.id);
  await page.getByLabel('Text', { exact: true }).fill('Read in the recorded voice.');
  const id = await submitAndComplete(page, () => page.getByRole('button', { name: 'Read aloud' }).click());
  const task = (await service.request(`/api/task/${id}`)).body;
  assert.equal(task.status, 'completed');

  // Delete the uploaded one (the page asks first; the test accepts).
  await page.getByRole('button', { name: 'Delete the voice Uploaded voice' }).click();
  await page.locator('#voices li', { hasText: 'Uploaded voice' }).waitFor({ state: 'detached' });
  const left = (await service.request('/api/voices')).body.voices.map((v: { name: string }) => v.name);
  assert.deepEqual(left, ['Recorded voice']);
  await page.screenshot({ path: join(OUT, 'page-desktop.png'), fullPage: true });
});

test('the task list survives a reload (ids in local storage)', async () => {
  const before = await page.locator('#tasks > li').count();
  await page.reload();
  await page
    .locator('#tasks > li[data-status="completed"]')
    .nth(before - 1)
    .waitFor();
  assert.equal(await page.locator('#tasks > li').count(), before);
});

test('on a phone-sized screen nothing is wider than the screen', async () => {
  const phone = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  const small = await phone.newPage();
  watch(small);
  await small.goto(service.url);
  await small.getByLabel('Text', { exact: true }).fill('A short text from a phone.');
  await submitAndComplete(small, () => small.getByRole('button', { name: 'Read aloud' }).tap());
  const widths = await small.evaluate(() => ({ page: (globalThis as any).document.documentElement.scrollWidth as number, screen: (globalThis as any).innerWidth as number }));
  assert.ok(widths.page <= widths.screen, `the page is ${widths.page} px wide on a ${widths.screen} px screen`);
  await small.screenshot({ path: join(OUT, 'page-phone.png'), fullPage: true });
  await phone.close();
});

test('with API keys: the page says which code refused it, then works with the key typed in its key field', async () => {
  // The first key is made anonymously on loopback; from now on every API call needs one.
  const created = await service.request('/api/keys', jsonPost({ name: 'page-admin', role: 'admin' }));
  assert.equal(created.status, 201);
  await page.reload();
  await page.locator('#messages', { hasText: 'E_UNAUTHORIZED' }).waitFor();
  await page.getByLabel(/^API key/u).fill(created.body.key);
  await page.getByRole('button', { name: 'Use key' }).click();
  await page.locator('#voices li', { hasText: 'Recorded voice' }).waitFor();
  assert.equal(await page.locator('#messages').textContent(), '');

  await page.getByLabel('Voice', { exact: true }).selectOption({ label: "The engine's own voice" });
  await page.getByLabel('Format').selectOption('wav');
  await page.getByLabel('Text', { exact: true }).fill('A task sent with a key.');
  const id = await submitAndComplete(page, () => page.getByRole('button', { name: 'Read aloud' }).click());
  const row = newestTask(page);
  const task = (await service.request(`/api/task/${id}`, { headers: { authorization: `Bearer ${created.body.key}` } })).body;
  assert.equal(task.owner, created.body.api_key.id);
  // <audio src> cannot send the key: the page fetched the file with it and plays a blob.
  const played = await playAndMeasure(row);
  assert.ok(played.duration > 0 && Number.isFinite(played.duration), `duration ${played.duration}`);
  assert.match(played.src, /^blob:/u);
  assert.equal(played.source, 'file');
  await assertDownload(row, `${id}.wav`, task.result.bytes);

  // A stream, with a key: fetched with it and played through MediaSource.
  const checkStreamed = watchStreams(page);
  await page.getByLabel('Format').selectOption('pcm');
  await submitAndComplete(page, () => page.getByRole('button', { name: 'Read aloud' }).click());
  const streamed = await playAndMeasure(newestTask(page));
  assert.equal(streamed.source, 'stream');
  assert.match(streamed.src, /^blob:/u);
  assert.ok(streamed.duration > 0, `duration ${streamed.duration}`);
  checkStreamed();
  assert.deepEqual(problems, []);
});

test('a service built without the page answers / with E_PAGE_NOT_BUILT, and the API still works', async () => {
  const empty = await mkdtemp(join(tmpdir(), 'tts-no-page-'));
  const bare = await startTestService({}, { webRoot: empty });
  try {
    const answer = await bare.request('/');
    assert.equal(answer.status, 503);
    assert.equal(answer.body.error.code, 'E_PAGE_NOT_BUILT');
    assert.match(answer.body.error.message, /npm run build/u);
    assert.equal((await bare.request('/healthz')).status, 200);
    assert.equal((await bare.request('/assets/index.js')).body.error.code, 'E_ROUTE_NOT_FOUND');
  } finally {
    await bare.stop();
    await rm(empty, { recursive: true, force: true });
  }
});

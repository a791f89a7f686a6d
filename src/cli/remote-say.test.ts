/**
 * `tts-queue say --server` against a running service (issue 12): the same audio as a local
 * `say`, API keys, the progress bar from the task's events, the service's typed errors with
 * their exit codes, an unreachable or wrong server, Ctrl-C canceling the task on the service.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KeyService } from '../access/key-service.js';
import { makeTone } from '../audio/testing/fixtures.js';
import { probeMedia } from '../audio/probe.js';
import { freePort } from '../backends/redis/testing/redis-server.js';
import { startTestService, waitUntil, type TestService } from '../service/testing/test-service.js';
import { sampleChineseText } from '../text/testing/sample-text.js';
import { parseSrt, parseVtt } from '../text/testing/subtitle-parsers.js';

const CLI = fileURLToPath(new URL('./main.js', import.meta.url));
const dir = await mkdtemp(join(tmpdir(), 'remote-say-test-'));
const services: TestService[] = [];
test.after(async () => {
  for (const service of services) await service.stop();
  await rm(dir, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function say(args: string[], options: { env?: Record<string, string>; onSpawn?: (pid: number) => Promise<void> | void } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const env = { ...process.env, ...options.env };
    if (options.env?.TTS_QUEUE_KEY === undefined) delete env.TTS_QUEUE_KEY;
    const child = spawn(process.execPath, [CLI, 'say', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    void options.onSpawn?.(child.pid!);
  });
}

/** Runs `say` on a pseudo-terminal (util-linux `script`), where the progress bar is drawn; stdout and stderr together. */
function sayOnTerminal(args: string[]): Promise<Run> {
  const command = [process.execPath, CLI, 'say', ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  return new Promise((resolve) => {
    const child = spawn('script', ['-qefc', command, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr: stdout }));
  });
}

const espeak = await startTestService({ ENGINE: 'espeak', ENGINE_HOSTS: '1' });
services.push(espeak);
// A service that needs a key, on the stand-in engine; its segments take a while, so that a run can be interrupted.
const keyed = await startTestService({ BENCH_SLEEP_COST_MS: '30' });
services.push(keyed);
const { key } = await new KeyService(keyed.backend.keys).create({ name: 'cli', role: 'user' });

test('say --server gives the same audio as a local say for the same text (espeak, ffprobe)', async () => {
  const text = sampleChineseText(600);
  for (const format of ['wav', 'mp3']) {
    const remote = join(dir, `remote.${format}`);
    const local = join(dir, `local.${format}`);
    const fromServer = await say([text, '--server', espeak.url, '--out', remote, '--json']);
    assert.equal(fromServer.code, 0, fromServer.stderr);
    assert.equal((await say([text, '--engines', '1', '--out', local])).code, 0);
    const [a, b] = [await probeMedia(remote), await probeMedia(local)];
    assert.equal(a.audio?.codec, b.audio?.codec);
    assert.ok(a.durationMs !== undefined && a.durationMs > 10_000, `${a.durationMs} ms of audio`);
    assert.equal(a.durationMs, b.durationMs, 'the same audio length');
    assert.ok((await readFile(remote)).equals(await readFile(local)), 'the same bytes, even');
    const result = JSON.parse(fromServer.stdout) as { outPath: string; segments: number; taskId: string; cached: boolean };
    assert.equal(result.outPath, remote);
    assert.ok(result.segments > 1);
    assert.equal((await espeak.request(`/api/task/${result.taskId}`)).body.status, 'completed', 'a task on the service');
  }
});

test('say --subtitles writes the same subtitles locally and with --server: VTT by default, SRT by extension, timed to the audio', async () => {
  const text = '今天我们学习语音合成。The queue keeps every task durable. 最后一句话。';
  const remoteVtt = join(dir, 'remote.vtt');
  const localVtt = join(dir, 'local.vtt');
  const remote = await say([text, '--server', espeak.url, '--out', join(dir, 'subs-remote.wav'), '--subtitles', remoteVtt, '--no-reuse']);
  assert.equal(remote.code, 0, remote.stderr);
  const local = await say([text, '--engines', '1', '--out', join(dir, 'subs-local.wav'), '--subtitles', localVtt]);
  assert.equal(local.code, 0, local.stderr);
  const vtt = await readFile(remoteVtt, 'utf8');
  assert.equal(vtt, await readFile(localVtt, 'utf8'));
  const cues = parseVtt(vtt).cues;
  assert.deepEqual(
    cues.map((c) => c.text),
    ['今天我们学习语音合成。', 'The queue keeps every task durable.', '最后一句话。'],
  );
  const audio = await probeMedia(join(dir, 'subs-local.wav'));
  assert.ok(Math.abs(cues.at(-1)!.endTime * 1000 - audio.durationMs!) <= 50, `${cues.at(-1)!.endTime} s vs ${audio.durationMs} ms`);
  const srt = await say([text, '--server', espeak.url, '--out', join(dir, 'subs.wav'), '--subtitles', join(dir, 'subs.srt')]);
  assert.equal(srt.code, 0, srt.stderr);
  assert.equal(parseSrt(await readFile(join(dir, 'subs.srt'), 'utf8')).length, 3);
  const same = await say([text, '--out', join(dir, 'same.wav'), '--subtitles', join(dir, 'same.wav')]);
  assert.notEqual(same.code, 0);
  assert.match(same.stderr, /--subtitles and --out/u);
});

test('a second identical run reuses the result on the service, and says so; --no-reuse runs it again', async () => {
  const args = ['再说一遍同样的话。', '--server', espeak.url, '--json'];
  assert.equal((await say([...args, '--out', join(dir, 'first.wav')])).code, 0);
  const second = await say([...args, '--out', join(dir, 'second.wav')]);
  assert.equal(second.code, 0, second.stderr);
  assert.equal(JSON.parse(second.stdout).cached, true);
  assert.match(second.stderr, /an identical earlier result reused/u);
  assert.ok((await readFile(join(dir, 'second.wav'))).equals(await readFile(join(dir, 'first.wav'))));
  const fresh = await say([...args, '--out', join(dir, 'third.wav'), '--no-reuse']);
  assert.equal(JSON.parse(fresh.stdout).cached, false);
});

test('a progress bar follows the task on a terminal', async () => {
  const run = await sayOnTerminal([sampleChineseText(800), '--server', espeak.url, '--out', join(dir, 'progress.wav'), '--no-reuse']);
  assert.equal(run.code, 0, run.stdout);
  const bars = [...run.stdout.matchAll(/\[([#-]{30})\] (\d+)\/(\d+) segments/gu)];
  assert.ok(bars.length >= 2, run.stdout);
  const last = bars.at(-1)!;
  assert.equal(last[2], last[3], 'it ends full');
  assert.equal(last[1], '#'.repeat(30));
  assert.match(run.stdout, /progress\.wav: wav, [\d.]+ s of audio, \d+ segments/u);
});

test('an API key: by --key or TTS_QUEUE_KEY; none or a wrong one is E_UNAUTHORIZED, exit 5, saying what to do', async () => {
  const out = join(dir, 'keyed.wav');
  const withKey = await say(['有钥匙。', '--server', keyed.url, '--key', key, '--out', out]);
  assert.equal(withKey.code, 0, withKey.stderr);
  assert.ok((await probeMedia(out)).durationMs! > 0);
  const fromEnv = await say(['环境变量里的钥匙。', '--server', keyed.url, '--out', join(dir, 'env.wav')], { env: { TTS_QUEUE_KEY: key } });
  assert.equal(fromEnv.code, 0, fromEnv.stderr);

  const none = await say(['没有钥匙。', '--server', keyed.url, '--out', join(dir, 'none.wav')]);
  assert.equal(none.code, 5, none.stderr);
  assert.match(none.stderr, /tts-queue: E_UNAUTHORIZED: .+\(pass an API key with --key or TTS_QUEUE_KEY\)/u);
  const wrong = await say(['错的钥匙。', '--server', keyed.url, '--key', `${key.slice(0, -4)}xxxx`, '--out', join(dir, 'wrong.wav')]);
  assert.equal(wrong.code, 5, wrong.stderr);
  assert.match(wrong.stderr, /tts-queue: E_UNAUTHORIZED: .+\(check the key given with --key or TTS_QUEUE_KEY\)/u);
  assert.doesNotMatch(wrong.stderr, /\n\s+at /u, 'no stack trace');
  assert.deepEqual(
    (await readdir(dir)).filter((f) => f.startsWith('none') || f.startsWith('wrong')),
    [],
    'no output',
  );
});

test("the service's refusals come with their code and message, and the exit code of their kind", async () => {
  const empty = await say(['。，！', '--server', espeak.url, '--out', join(dir, 'empty.wav')]);
  assert.equal(empty.code, 3, empty.stderr);
  assert.match(empty.stderr, /tts-queue: E_TEXT_EMPTY: .{20,}/u);
  const voice = await makeTone(join(dir, 'voice.wav'), { seconds: 3 });
  const noConsent = await say(['跟着读。', '--server', espeak.url, '--voice', voice, '--out', join(dir, 'voiced.wav')]);
  assert.equal(noConsent.code, 3, noConsent.stderr);
  assert.match(noConsent.stderr, /tts-queue: E_CONSENT_REQUIRED: /u);
  const voiced = await say(['跟着读。', '--server', espeak.url, '--voice', voice, '--prompt-text', '参考的文字。', '--speaker-name', 'Test Speaker', '--out', join(dir, 'voiced.wav')]);
  assert.equal(voiced.code, 0, voiced.stderr);
  assert.ok((await probeMedia(join(dir, 'voiced.wav'))).durationMs! > 0);
  const unknownEngine = await say(['你好。', '--server', espeak.url, '--engine', 'glm-tts', '--out', join(dir, 'engine.wav')]);
  assert.equal(unknownEngine.code, 4, unknownEngine.stderr);
  assert.match(unknownEngine.stderr, /tts-queue: E_ENGINE_CAPABILITY: .*glm-tts/u);
});

test('options of the other mode are refused before anything is sent', async () => {
  const tasks = async (): Promise<number> => (await espeak.request('/api/tasks?limit=100')).body.tasks.length;
  const before = await tasks();
  for (const [args, pattern] of [
    [['--server', espeak.url, '--engines', '2'], /--engines is a setting of local runs/u],
    [['--server', espeak.url, '--pause-ms', '100'], /--pause-ms is a setting of local runs/u],
    [['--server', espeak.url, '--max-chars', '10'], /--max-chars is a setting of local runs/u],
    [['--key', 'ttsq_x'], /--key works with --server only/u],
    [['--no-reuse'], /--no-reuse works with --server only/u],
    [['--server', espeak.url, '--speaker-name', 'Somebody'], /--speaker-name goes with --voice/u],
    [['--server', 'ftp://example.com'], /Expected --server to be an http:\/\/ or https:\/\/ URL/u],
    [['--server', 'localhost:3000'], /Expected --server to be an http:\/\/ or https:\/\/ URL/u],
    [['--server', 'http://user:pw@127.0.0.1:3000'], /Expected --server without a user or password/u],
  ] as const) {
    const run = await say(['你好。', ...args, '--out', join(dir, 'refused.wav')]);
    assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, new RegExp(`tts-queue: E_INVALID_ARGUMENT: ${pattern.source}`, 'u'));
  }
  assert.equal(await tasks(), before, 'no task was made');
});

test('an unreachable server or one that is not the service: a clear error, exit 5', async () => {
  const port = await freePort(); // nothing listens there
  const refused = await say(['你好。', '--server', `http://127.0.0.1:${port}`, '--out', join(dir, 'unreachable.wav')]);
  assert.equal(refused.code, 5, refused.stderr);
  assert.match(refused.stderr, new RegExp(`tts-queue: E_SERVER_UNREACHABLE: Cannot reach the service at http://127.0.0.1:${port}/ \\(connection refused\\); check --server`, 'u'));
  const unknownHost = await say(['你好。', '--server', 'http://no-such-host.invalid', '--out', join(dir, 'unreachable.wav')]);
  assert.equal(unknownHost.code, 5, unknownHost.stderr);
  assert.match(unknownHost.stderr, /E_SERVER_UNREACHABLE: .*no such host "no-such-host\.invalid"/u);

  const other = http.createServer((_request, response) => response.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not Found</h1>'));
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  try {
    const run = await say(['你好。', '--server', `http://127.0.0.1:${(other.address() as AddressInfo).port}`, '--out', join(dir, 'other.wav')]);
    assert.equal(run.code, 5, run.stderr);
    assert.match(run.stderr, /tts-queue: E_SERVER_RESPONSE: .*answered 404 .*is --server the tts-queue service/u);
  } finally {
    other.close();
  }
});

test('Ctrl-C cancels the task on the service: exit 130, no output', async () => {
  const out = join(dir, 'interrupted.wav');
  let taskId: string | undefined;
  const run = await say([sampleChineseText(20_000), '--server', keyed.url, '--key', key, '--out', out], {
    onSpawn: async (pid) => {
      await waitUntil(async () => {
        const { body } = await keyed.request('/api/tasks?status=synthesizing', { headers: { authorization: `Bearer ${key}` } });
        taskId = body.tasks?.[0]?.id;
        return taskId !== undefined && body.tasks[0].progress.segments_done > 0;
      }, 'the task to be synthesizing');
      process.kill(pid, 'SIGINT');
    },
  });
  assert.equal(run.code, 130, run.stderr);
  assert.match(run.stderr, /tts-queue: E_CANCELED: Interrupted; the task was canceled on the service/u);
  assert.equal((await keyed.request(`/api/task/${taskId}`, { headers: { authorization: `Bearer ${key}` } })).body.status, 'canceled');
  assert.deepEqual(
    (await readdir(dir)).filter((f) => f.startsWith('interrupted')),
    [],
    'no output, whole or partial',
  );
});

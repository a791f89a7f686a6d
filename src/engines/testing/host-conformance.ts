/**
 * The protocol conformance suite: one set of cases every engine host must pass, run against
 * each host by a short test file. A host-specific behaviour does not belong here.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { HostSpec } from '../engine-host.js';
import { parseHostMessage, PROTOCOL_VERSION, type EngineCapabilities, type HostMessage, type VoiceReference, type WorkerMessage } from '../protocol.js';
import { makeReferenceVoice } from './reference-voice.js';
import { decodeWav } from '../../audio/wav.js';

export interface ConformanceOptions {
  /** A text the host can read, short enough to be quick. */
  sampleText: string;
  /** Environment that makes a segment last long enough to be canceled (e.g. a cost for bench-sleep). */
  slowEnv?: NodeJS.ProcessEnv;
  /** A long text used for the cancel case when the host has no slow mode. */
  slowText?: string;
}

/** A host process driven line by line, as the supervisor would. */
class RawHost {
  private readonly child;
  private readonly inbox: HostMessage[] = [];
  private readonly waiters: Array<() => void> = [];
  readonly exit: Promise<number | null>;

  constructor(spec: HostSpec, env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(spec.command, spec.args, { cwd: spec.cwd, env: { ...process.env, ...spec.env, ...env }, stdio: ['pipe', 'pipe', 'inherit'] });
    this.exit = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      // Every stdout line must be a valid protocol message.
      this.inbox.push(parseHostMessage(line));
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  send(message: WorkerMessage | string): void {
    this.child.stdin.write(`${typeof message === 'string' ? message : JSON.stringify(message)}\n`);
  }

  closeStdin(): void {
    this.child.stdin.end();
  }

  async next(timeoutMs = 60_000): Promise<HostMessage> {
    const deadline = Date.now() + timeoutMs;
    while (this.inbox.length === 0) {
      if (Date.now() > deadline) throw new Error('no message from the host in time');
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
    return this.inbox.shift()!;
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}

async function startHost(spec: HostSpec, env?: NodeJS.ProcessEnv): Promise<{ host: RawHost; capabilities: EngineCapabilities }> {
  const host = new RawHost(spec, env);
  const ready = await host.next(120_000);
  assert.equal(ready.type, 'ready', `first message must be ready, got ${JSON.stringify(ready)}`);
  assert.equal(ready.protocol, PROTOCOL_VERSION);
  return { host, capabilities: ready.capabilities };
}

export function runHostConformance(name: string, spec: () => HostSpec, options: ConformanceOptions): void {
  const dir = mkdtemp(join(tmpdir(), `conformance-${name}-`));
  test.after(async () => rm(await dir, { recursive: true, force: true }));

  /** A reference voice normalised as the worker would, for hosts that require one. */
  const voiceFor = async (capabilities: EngineCapabilities): Promise<{ voice?: VoiceReference }> => {
    if (!capabilities.requiresVoice) return {};
    return { voice: await makeReferenceVoice(await dir, 'voice', { sampleRate: capabilities.sampleRates[0]! }) };
  };

  test(`${name}: says ready with well-formed capabilities`, async () => {
    const { host, capabilities } = await startHost(spec());
    assert.ok(capabilities.sampleRates.length > 0);
    assert.ok(capabilities.maxSegmentChars >= 50, 'segments of at least 50 characters');
    assert.ok(Number.isInteger(capabilities.maxBatch) && capabilities.maxBatch >= 1);
    if (!capabilities.cloning) assert.ok(Array.isArray(capabilities.voiceFollowing));
    host.kill();
  });

  test(`${name}: answers synthesize with done and a 16-bit WAV at its rate`, async () => {
    const { host, capabilities } = await startHost(spec());
    const outPath = join(await dir, 'segment.wav');
    host.send({ type: 'synthesize', id: 'seg-1', text: options.sampleText, outPath, ...(await voiceFor(capabilities)) });
    const done = await host.next();
    assert.equal(done.type, 'done', JSON.stringify(done));
    assert.equal(done.id, 'seg-1');
    assert.equal(done.outPath, outPath);
    assert.ok(capabilities.sampleRates.includes(done.sampleRate));
    const audio = decodeWav(await readFile(outPath));
    assert.equal(audio.sampleRate, done.sampleRate);
    const fileMs = (audio.samples.length / audio.channels / audio.sampleRate) * 1000;
    assert.ok(Math.abs(fileMs - done.durationMs) < 5, `durationMs ${done.durationMs} matches the file's ${fileMs}`);
    assert.ok(fileMs > 0);
    host.kill();
  });

  test(`${name}: answers every segment of a batch (up to maxBatch sent at once) by its id`, async () => {
    const { host, capabilities } = await startHost(spec());
    const count = Math.min(3, capabilities.maxBatch);
    const voice = await voiceFor(capabilities);
    for (let i = 0; i < count; i++) host.send({ type: 'synthesize', id: `batch-${i}`, text: options.sampleText, outPath: join(await dir, `batch-${i}.wav`), ...voice });
    const answers = [];
    for (let i = 0; i < count; i++) answers.push(await host.next());
    assert.deepEqual(
      answers.map((a) => (a.type === 'done' ? a.id : JSON.stringify(a))).sort(),
      Array.from({ length: count }, (_, i) => `batch-${i}`),
    );
    for (let i = 0; i < count; i++) assert.ok(decodeWav(await readFile(join(await dir, `batch-${i}.wav`))).samples.length > 0);
    host.kill();
  });

  test(`${name}: answers ping with pong, and keeps serving after a malformed line and a seed out of range`, async () => {
    const { host, capabilities } = await startHost(spec());
    host.send('{this is not json');
    const error = await host.next();
    assert.equal(error.type, 'error');
    assert.equal(error.id, undefined);
    // Seeds are 0..2^32-1 (protocol.ts SEED_MAX): a segment with another is answered by its id.
    const outPath = join(await dir, 'seed.wav');
    host.send({ type: 'synthesize', id: 'seed-1', text: options.sampleText, outPath, seed: 2 ** 32, ...(await voiceFor(capabilities)) });
    const refused = await host.next();
    assert.ok(refused.type === 'error', JSON.stringify(refused));
    assert.deepEqual([refused.id, refused.code], ['seed-1', 'E_ENGINE_PROTOCOL']);
    host.send({ type: 'ping', id: 'p-1' });
    assert.deepEqual(await host.next(), { type: 'pong', id: 'p-1' });
    host.kill();
  });

  test(`${name}: cancel answers the segment with E_CANCELED`, async () => {
    const { host, capabilities } = await startHost(spec(), options.slowEnv);
    host.send({ type: 'synthesize', id: 'seg-c', text: options.slowText ?? options.sampleText, outPath: join(await dir, 'canceled.wav'), ...(await voiceFor(capabilities)) });
    host.send({ type: 'cancel', id: 'seg-c' });
    const answer = await host.next();
    assert.equal(answer.type, 'error', JSON.stringify(answer));
    assert.equal(answer.id, 'seg-c');
    assert.equal(answer.code, 'E_CANCELED');
    host.kill();
  });

  test(`${name}: shutdown lets the segment in flight finish, then exits 0`, async () => {
    const { host, capabilities } = await startHost(spec(), options.slowEnv);
    const outPath = join(await dir, 'last.wav');
    host.send({ type: 'synthesize', id: 'seg-last', text: options.sampleText, outPath, ...(await voiceFor(capabilities)) });
    host.send({ type: 'shutdown' });
    const done = await host.next();
    assert.equal(done.type, 'done', JSON.stringify(done));
    assert.ok(decodeWav(await readFile(outPath)).samples.length > 0);
    assert.equal(await host.exit, 0);
  });

  test(`${name}: exits 0 when its stdin closes`, async () => {
    const { host } = await startHost(spec());
    host.closeStdin();
    assert.equal(await host.exit, 0);
  });
}

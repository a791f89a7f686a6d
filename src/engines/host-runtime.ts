/**
 * The host side of the engine-host protocol, for hosts written in TypeScript: reads requests
 * from stdin, runs up to the engine's maxBatch at once, answers on stdout. An engine plugs in through `HostEngine`.
 */

import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { PROTOCOL_VERSION, ProtocolViolation, parseWorkerMessage, type EngineCapabilities, type HostMessage, type SynthesizeRequest } from './protocol.js';
import { TtsError, toTtsError } from '../errors.js';

export interface SynthesisOutcome {
  sampleRate: number;
  durationMs: number;
}

export interface HostEngine {
  readonly capabilities: EngineCapabilities;
  /** Writes a 16-bit PCM WAV at `request.outPath`. Stops early when `signal` aborts, if it can. */
  synthesize(request: SynthesizeRequest, signal: AbortSignal): Promise<SynthesisOutcome>;
}

/** True when the module at `moduleUrl` is the script node was started with (not imported). */
export function isMainModule(moduleUrl: string): boolean {
  const script = process.argv[1];
  return script !== undefined && fileURLToPath(moduleUrl) === script;
}

function send(message: HostMessage): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

/** Runs a host until stdin closes or `shutdown` arrives; stdout carries protocol messages only. */
export async function runHost(createEngine: () => Promise<HostEngine>): Promise<void> {
  // Anything printed by libraries must not corrupt the protocol stream.
  console.log = console.error;
  console.info = console.error;

  let engine: HostEngine;
  try {
    engine = await createEngine();
  } catch (error) {
    const failure = toTtsError(error);
    send({ type: 'error', code: 'E_ENGINE_START_FAILED', message: failure.message, retryable: true });
    process.exitCode = 1;
    return;
  }
  send({ type: 'ready', protocol: PROTOCOL_VERSION, capabilities: engine.capabilities });

  const queue: SynthesizeRequest[] = [];
  /** Segments being synthesised, up to the engine's maxBatch at once, by id. */
  const running = new Map<string, AbortController>();
  let shuttingDown = false;

  const finishIfIdle = (): void => {
    if (shuttingDown && running.size === 0 && queue.length === 0) {
      lines.close();
      process.stdin.destroy();
    }
  };

  const run = async (request: SynthesizeRequest): Promise<void> => {
    const controller = new AbortController();
    running.set(request.id, controller);
    try {
      const outcome = await engine.synthesize(request, controller.signal);
      if (controller.signal.aborted) throw new TtsError('E_CANCELED', 'The segment was canceled.');
      send({ type: 'done', id: request.id, outPath: request.outPath, ...outcome });
    } catch (error) {
      const failure = controller.signal.aborted ? new TtsError('E_CANCELED', 'The segment was canceled.') : toTtsError(error);
      send({ type: 'error', id: request.id, ...failure.toWire(), retryable: failure.retryable });
    } finally {
      running.delete(request.id);
    }
  };

  const work = async (): Promise<void> => {
    while (running.size < engine.capabilities.maxBatch && queue.length > 0) {
      void run(queue.shift()!).then(work);
    }
    finishIfIdle();
  };

  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  lines.on('line', (line) => {
    if (line.trim() === '') return;
    let message: ReturnType<typeof parseWorkerMessage>;
    try {
      message = parseWorkerMessage(line);
    } catch (error) {
      const why = error instanceof ProtocolViolation ? error.message : String(error);
      // A segment with a bad field is answered by its id, so that the worker is not left waiting for it.
      const id = segmentId(line);
      send({ type: 'error', ...(id === undefined ? {} : { id }), code: 'E_ENGINE_PROTOCOL', message: `bad request: ${why}`, retryable: false });
      return;
    }
    switch (message.type) {
      case 'synthesize':
        if (shuttingDown) {
          send({ type: 'error', id: message.id, code: 'E_ENGINE_CLOSED', message: 'The host is shutting down.', retryable: true });
          return;
        }
        queue.push(message);
        void work();
        return;
      case 'cancel': {
        const controller = running.get(message.id);
        if (controller !== undefined) {
          controller.abort();
          return;
        }
        const queued = queue.findIndex((r) => r.id === message.id);
        if (queued !== -1) {
          queue.splice(queued, 1);
          send({ type: 'error', id: message.id, code: 'E_CANCELED', message: 'The segment was canceled.', retryable: false });
        }
        return;
      }
      case 'ping':
        send({ type: 'pong', id: message.id });
        return;
      case 'shutdown':
        shuttingDown = true;
        finishIfIdle();
        return;
    }
  });
  lines.on('close', () => {
    // stdin closed (the worker went away): finish what is running, then exit.
    shuttingDown = true;
  });
}

/** The id of a `synthesize` line that could not be parsed as a whole, if it has one. */
function segmentId(line: string): string | undefined {
  try {
    const message: unknown = JSON.parse(line);
    if (typeof message !== 'object' || message === null) return undefined;
    const { type, id } = message as { type?: unknown; id?: unknown };
    return type === 'synthesize' && typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

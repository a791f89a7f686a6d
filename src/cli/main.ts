#!/usr/bin/env node
/** The `tts-queue` command: the entry point, where things start. */

import { readFileSync } from 'node:fs';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { SAY_USAGE, runSay } from './say.js';
import { runServe } from './serve.js';
import { runKeys } from './keys.js';
import { TtsError, toTtsError } from '../errors.js';

const USAGE = `Usage: tts-queue <command> [options]

Commands:
  serve   run the service (HTTP API, queue, worker, engines); configured by environment
          variables (see the README); this is what \`npm start\` runs
  api     the HTTP API only (BACKEND=redis): add as many as you like, on any machines
  worker  engines and worker only (BACKEND=redis), with /healthz, /readyz and /metrics
          on METRICS_PORT; one per GPU machine, ENGINE=glm-tts:N for N GPUs
  say     read text aloud into an audio file on this machine, without the service, or
          on a running service with --server URL
  keys    create, list and revoke API keys (on BACKEND and DATA_DIR, the service running or not)
  help    show this help

Run "tts-queue say --help" for the options of say, "tts-queue keys --help" for keys.`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    switch (command) {
      case 'say':
        await runSay(rest, controller.signal);
        return EXIT.ok;
      case 'keys':
        await runKeys(rest);
        return EXIT.ok;
      case 'serve':
      case 'api':
      case 'worker':
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await runServe(command);
        return EXIT.ok;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(`${USAGE}\n\n${SAY_USAGE}\n`);
        return EXIT.ok;
      case '--version':
      case '-v':
        process.stdout.write(`${version()}\n`);
        return EXIT.ok;
      default:
        throw new TtsError('E_INVALID_ARGUMENT', `Unknown command "${command}". Expected one of: serve, api, worker, say, keys, help.`);
    }
  } catch (error) {
    const failure = isUsageError(error) ? new TtsError('E_INVALID_ARGUMENT', (error as Error).message) : toTtsError(error);
    process.stderr.write(`\ntts-queue: ${failure.code}: ${failure.message}\n`);
    if (failure.code === 'E_INTERNAL' && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
    return exitCodeFor(failure.code);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** node:util parseArgs reports unknown or malformed options with these codes. */
function isUsageError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}

process.exitCode = await main(process.argv.slice(2));

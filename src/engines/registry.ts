/** The engine hosts this project ships, by name, and how to start each one. */

import { fileURLToPath } from 'node:url';
import type { HostSpec } from './engine-host.js';
import { TtsError } from '../errors.js';

const nodeHost = (name: string, script: string, env?: NodeJS.ProcessEnv): HostSpec => ({
  name,
  command: process.execPath,
  args: [fileURLToPath(new URL(`./hosts/${script}`, import.meta.url))],
  env,
});

const HOSTS = {
  /** espeak-ng as WebAssembly: real speech on a CPU, no timbre cloning. The embedded default. */
  espeak: (env?: NodeJS.ProcessEnv) => nodeHost('espeak', 'espeak-host.js', env),
  /** Stand-in with a fixed cost per segment, for benchmarks and orchestration tests only. */
  'bench-sleep': (env?: NodeJS.ProcessEnv) => nodeHost('bench-sleep', 'bench-sleep-host.js', env),
} as const;

export type EngineName = keyof typeof HOSTS;
export const ENGINE_NAMES = Object.keys(HOSTS) as EngineName[];

export function hostSpec(name: string, env?: NodeJS.ProcessEnv): HostSpec {
  if (!Object.hasOwn(HOSTS, name)) {
    throw new TtsError('E_ENGINE_UNKNOWN', `Expected an engine among ${ENGINE_NAMES.join(', ')}, got "${name}".`);
  }
  return HOSTS[name as EngineName](env);
}

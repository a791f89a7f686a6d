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

/** The Python hosts live in python/hosts/ at the project root (this file runs from dist/src/engines/). */
export const PYTHON_HOSTS_DIR = fileURLToPath(new URL('../../../python/hosts/', import.meta.url));

const pythonHost = (name: string, script: string, env: NodeJS.ProcessEnv | undefined, timeouts: Pick<HostSpec, 'startTimeoutMs' | 'segmentBaseTimeoutMs' | 'segmentPerCharTimeoutMs'>): HostSpec => ({
  name,
  command: env?.GLMTTS_PYTHON ?? process.env.GLMTTS_PYTHON ?? 'python3',
  args: [`${PYTHON_HOSTS_DIR}${script}`],
  env: { PYTHONUNBUFFERED: '1', ...env },
  ...timeouts,
});

const HOSTS = {
  /** espeak-ng as WebAssembly: real speech on a CPU, no timbre cloning. The embedded default. */
  espeak: (env?: NodeJS.ProcessEnv) => nodeHost('espeak', 'espeak-host.js', env),
  /** Stand-in with a fixed cost per segment, for benchmarks and orchestration tests only. */
  'bench-sleep': (env?: NodeJS.ProcessEnv) => nodeHost('bench-sleep', 'bench-sleep-host.js', env),
  /**
   * GLM-TTS loaded once per host (docs/glm-tts.md). Loading takes minutes: hence the start timeout.
   * In CPU mode a segment takes ten or more times its length in audio, so it is given far longer
   * before it is declared hung (15 s a character: a real-time factor of about 60 for Mandarin).
   */
  'glm-tts': (env?: NodeJS.ProcessEnv) =>
    pythonHost('glm-tts', 'glm_tts_host.py', env, {
      startTimeoutMs: 900_000,
      ...((env?.GLMTTS_DEVICE ?? process.env.GLMTTS_DEVICE)?.trim() === 'cpu' ? { segmentBaseTimeoutMs: 600_000, segmentPerCharTimeoutMs: 15_000 } : { segmentBaseTimeoutMs: 60_000 }),
    }),
  /** GLM-TTS's official script run per segment: it reloads the model every time. */
  'glm-tts-cli': (env?: NodeJS.ProcessEnv) => pythonHost('glm-tts-cli', 'glm_tts_cli_host.py', env, { startTimeoutMs: 30_000, segmentBaseTimeoutMs: 900_000 }),
} as const;

export type EngineName = keyof typeof HOSTS;
export const ENGINE_NAMES = Object.keys(HOSTS) as EngineName[];

export function hostSpec(name: string, env?: NodeJS.ProcessEnv): HostSpec {
  if (!Object.hasOwn(HOSTS, name)) {
    throw new TtsError('E_ENGINE_UNKNOWN', `Expected an engine among ${ENGINE_NAMES.join(', ')}, got "${name}".`);
  }
  return HOSTS[name as EngineName](env);
}

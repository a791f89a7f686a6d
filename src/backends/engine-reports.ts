/** Summing workers' engine reports (backend.ts, `engineReports`): one rule for every backend. */

import type { EngineReport } from './backend.js';

/** How long an engine with no live worker stays known. */
export const KNOWN_ENGINE_MS = 7 * 24 * 3_600_000;

export interface StoredReports {
  /** By owner: the engines of one worker process and when the report lapses. */
  workers: Array<{ expiresAt: number; engines: readonly EngineReport[] }>;
  /** By engine name: its last capabilities, its place in the worker's order of preference, when last reported. */
  known: Array<{ capabilities: EngineReport['capabilities']; rank: number; seenAt: number }>;
}

export function sumEngineReports(stored: StoredReports, now: number): EngineReport[] {
  const byEngine = new Map<string, EngineReport>();
  // Workers list their engines in the operator's order of preference (ENGINE=glm-tts,espeak).
  const ordered = [...stored.known].filter((k) => now - k.seenAt < KNOWN_ENGINE_MS).sort((a, b) => a.rank - b.rank || a.capabilities.engine.localeCompare(b.capabilities.engine));
  for (const { capabilities } of ordered) byEngine.set(capabilities.engine, { capabilities, hosts: 0, hostsUp: 0, busy: 0 });
  for (const worker of stored.workers) {
    if (worker.expiresAt <= now) continue;
    for (const report of worker.engines) {
      const sum = byEngine.get(report.capabilities.engine) ?? { capabilities: report.capabilities, hosts: 0, hostsUp: 0, busy: 0 };
      sum.capabilities = report.capabilities;
      sum.hosts += report.hosts;
      sum.hostsUp += report.hostsUp;
      sum.busy += report.busy;
      byEngine.set(report.capabilities.engine, sum);
    }
  }
  return [...byEngine.values()];
}

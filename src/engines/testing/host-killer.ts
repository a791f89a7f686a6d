/**
 * TEST HELPER: kills engine hosts with SIGKILL the moment they appear (spawned, not yet ready,
 * or ready), as the OOM killer does to a process that keeps growing while it loads its model.
 */

export interface HostKiller {
  /** Hosts killed so far. */
  killed(): number;
  /** Stops killing. */
  stop(): void;
}

/** Kills every live pid `pids()` reports (polled every few milliseconds) until `stop()`. */
export function killHostsAsTheyAppear(pids: () => Array<number | undefined>): HostKiller {
  const killed = new Set<number>();
  const timer = setInterval(() => {
    for (const pid of pids()) {
      if (pid === undefined || killed.has(pid)) continue;
      killed.add(pid);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone: it still counts as one death.
      }
    }
  }, 2);
  return { killed: () => killed.size, stop: () => clearInterval(timer) };
}

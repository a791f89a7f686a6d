/** A one-line progress bar by segment, drawn on stderr only when it is a terminal. */

export interface ProgressBar {
  update(done: number, total: number): void;
  finish(): void;
}

const WIDTH = 30;

export function createProgressBar(stream: NodeJS.WriteStream = process.stderr, enabled = true): ProgressBar {
  if (!enabled || !stream.isTTY) return { update: () => undefined, finish: () => undefined };
  const started = performance.now();
  let drawn = false;
  return {
    update(done, total) {
      const ratio = total === 0 ? 1 : done / total;
      // Within the bar whatever the counts say (a server may send done > total).
      const filled = Number.isFinite(ratio) ? Math.min(WIDTH, Math.max(0, Math.round(ratio * WIDTH))) : WIDTH;
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      stream.write(`\r[${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}] ${done}/${total} segments  ${seconds}s`);
      drawn = true;
    },
    finish() {
      if (drawn) stream.write('\n');
      drawn = false;
    },
  };
}

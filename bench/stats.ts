/** Small helpers shared by the benchmarks: medians and aligned report lines. */

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export interface BenchLine {
  name: string;
  value: string;
  baseline: string;
  ratio: string;
  /** null: a figure to read, with no target. */
  target: string | null;
  met: boolean | null;
}

export function printLines(title: string, lines: BenchLine[]): void {
  console.log(`\n## ${title}`);
  for (const line of lines) {
    const verdict = line.target === null ? '' : `  | target: ${line.target}  → ${line.met ? 'MET' : 'NOT MET'}`;
    console.log(`- ${line.name}: ${line.value}  | baseline: ${line.baseline}  | ratio: ${line.ratio}${verdict}`);
  }
}

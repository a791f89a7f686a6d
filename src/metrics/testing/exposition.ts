/** TEST HELPER: reads Prometheus text exposition (what GET /metrics answers) into samples. */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE_LINE = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/u;
const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/gu;

export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE_LINE.exec(line);
    if (match === null) throw new Error(`Expected a sample line (name{labels} value), got ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const [, key, raw] of (match[2] ?? '').matchAll(LABEL)) labels[key!] = raw!.replace(/\\n/gu, '\n').replace(/\\(.)/gu, '$1');
    const value = match[3] === '+Inf' ? Number.POSITIVE_INFINITY : match[3] === '-Inf' ? Number.NEGATIVE_INFINITY : Number(match[3]);
    samples.push({ name: match[1]!, labels, value });
  }
  return samples;
}

/** The value of the one sample named `name` whose labels include `labels`; undefined if none, an error if several. */
export function sampleValue(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value));
  if (found.length > 1) throw new Error(`Expected one sample of ${name} with ${JSON.stringify(labels)}, got ${found.length}`);
  return found[0]?.value;
}

/**
 * Fundamental frequency (F0) estimation by normalised autocorrelation: enough to tell the
 * typical pitch of a voice (its median over voiced frames), which the espeak host follows.
 */

export interface PitchOptions {
  minHz?: number;
  maxHz?: number;
  /** Frames analysed at most (evenly spread), to bound the cost on long recordings. */
  maxFrames?: number;
}

/** Median F0 in Hz over the voiced frames of mono 16-bit audio, or undefined if none is voiced. */
export function medianPitchHz(samples: Int16Array, sampleRate: number, options: PitchOptions = {}): number | undefined {
  const { minHz = 60, maxHz = 400, maxFrames = 150 } = options;
  const frameSize = Math.round(sampleRate * 0.04);
  const minLag = Math.floor(sampleRate / maxHz);
  const maxLag = Math.ceil(sampleRate / minHz);
  const frameCount = Math.floor((samples.length - frameSize - maxLag) / frameSize);
  if (frameCount < 1) return undefined;
  const step = Math.max(1, Math.floor(frameCount / maxFrames));

  // Frames quieter than 1/10 of the loudest frame are treated as unvoiced.
  const energies: number[] = [];
  for (let f = 0; f < frameCount; f += step) energies.push(energy(samples, f * frameSize, frameSize));
  const loudest = Math.max(...energies);
  const estimates: number[] = [];
  for (let f = 0, e = 0; f < frameCount; f += step, e++) {
    if ((energies[e] ?? 0) < loudest * 0.1) continue;
    const start = f * frameSize;
    let bestLag = 0;
    let best = 0;
    const e0 = energy(samples, start, frameSize);
    for (let lag = minLag; lag <= maxLag; lag++) {
      let cross = 0;
      for (let i = 0; i < frameSize; i++) cross += (samples[start + i] ?? 0) * (samples[start + i + lag] ?? 0);
      const normalised = cross / Math.sqrt(e0 * energy(samples, start + lag, frameSize) || 1);
      if (normalised > best) {
        best = normalised;
        bestLag = lag;
      }
    }
    if (best > 0.6 && bestLag > 0) estimates.push(sampleRate / bestLag);
  }
  if (estimates.length === 0) return undefined;
  estimates.sort((a, b) => a - b);
  return estimates[Math.floor(estimates.length / 2)];
}

function energy(samples: Int16Array, start: number, length: number): number {
  let sum = 0;
  for (let i = start; i < start + length; i++) {
    const v = samples[i] ?? 0;
    sum += v * v;
  }
  return sum;
}

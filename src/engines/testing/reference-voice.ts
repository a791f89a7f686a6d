/** A reference voice as the worker hands it to a host: a tone fixture, normalised at the host's rate. */

import { join } from 'node:path';
import type { VoiceReference } from '../protocol.js';
import { normalizeReference } from '../../audio/reference.js';
import { makeTone } from '../../audio/testing/fixtures.js';

export async function makeReferenceVoice(dir: string, name: string, options: { sampleRate: number; frequencyHz?: number; promptText?: string }): Promise<VoiceReference> {
  const source = await makeTone(join(dir, `${name}-source.wav`), { seconds: 3, frequencyHz: options.frequencyHz });
  const normalized = await normalizeReference(source, { sampleRate: options.sampleRate, outPath: join(dir, `${name}.wav`) });
  return { audioPath: normalized.path, sha256: normalized.sha256, promptText: options.promptText ?? '参考音频的文字' };
}

/** Voices: a reference recording normalised once at upload, stored, and reused by id. */

import { randomUUID } from 'node:crypto';
import { rename } from 'node:fs/promises';
import { normalizeReference } from '../audio/reference.js';
import type { TaskBackend, VoiceRecord } from '../backends/backend.js';
import type { EngineCapabilities } from '../engines/protocol.js';
import { TtsError } from '../errors.js';
import type { BlobStore } from '../storage/blob-store.js';
import { normalizeText } from '../text/normalize.js';
import { MAX_PROMPT_TEXT_CHARS, UUID } from './synthesis-request.js';

export const VOICE_FIELDS = ['name', 'prompt_text'] as const;
const MAX_NAME_CHARS = 100;

export class VoiceService {
  constructor(
    private readonly backend: TaskBackend,
    private readonly blobs: BlobStore,
    private readonly engines: () => EngineCapabilities | undefined,
  ) {}

  /** Creates a voice from an uploaded recording (at `uploadPath`, which this takes over). */
  async create(fields: Record<string, unknown>, uploadPath: string | undefined): Promise<VoiceRecord> {
    const id = randomUUID();
    try {
      for (const key of Object.keys(fields)) {
        if (!(VOICE_FIELDS as readonly string[]).includes(key)) throw new TtsError('E_INVALID_ARGUMENT', `Unknown field \`${key}\`; the fields are name, prompt_text and the file \`audio\`.`);
      }
      if (uploadPath === undefined) throw new TtsError('E_INVALID_ARGUMENT', 'Expected a file field `audio` with the voice recording (multipart/form-data).');
      const name = typeof fields.name === 'string' ? normalizeText(fields.name) : '';
      if (name === '' || name.length > MAX_NAME_CHARS) throw new TtsError('E_INVALID_ARGUMENT', `Expected \`name\` to be a text of 1 to ${MAX_NAME_CHARS} characters.`);
      if (fields.prompt_text !== undefined && typeof fields.prompt_text !== 'string')
        throw new TtsError('E_INVALID_ARGUMENT', 'Expected `prompt_text` to be a string: the transcript of the recording.');
      const promptText = normalizeText((fields.prompt_text as string | undefined) ?? '');
      if (promptText.length > MAX_PROMPT_TEXT_CHARS) throw new TtsError('E_INVALID_ARGUMENT', `Expected \`prompt_text\` to have at most ${MAX_PROMPT_TEXT_CHARS} characters.`);
      const sampleRate = this.engines()?.sampleRates[0];
      if (sampleRate === undefined) throw new TtsError('E_NOT_READY', 'The engines are still starting; try again in a moment.');

      const originalPath = this.blobs.voiceOriginalPath(id);
      await this.blobs.prepareFor(originalPath);
      await rename(uploadPath, originalPath);
      const normalized = await normalizeReference(originalPath, { sampleRate, outPath: this.blobs.voiceReferencePath(id, sampleRate) });
      // Both are read by whichever worker prepares a task with this voice.
      await this.blobs.save(originalPath);
      await this.blobs.save(normalized.path);
      const voice: VoiceRecord = {
        id,
        name,
        promptText,
        audioPath: normalized.path,
        sha256: normalized.sha256,
        sampleRate,
        durationMs: Math.round(normalized.durationMs),
        originalPath,
        createdAt: Date.now(),
      };
      await this.backend.createVoice(voice);
      return voice;
    } catch (error) {
      if (uploadPath !== undefined) await this.blobs.remove(uploadPath);
      await this.blobs.removeVoice(id);
      throw error;
    }
  }

  async get(id: string): Promise<VoiceRecord> {
    const voice = UUID.test(id) ? await this.backend.getVoice(id) : undefined;
    if (voice === undefined) throw new TtsError('E_VOICE_NOT_FOUND', 'No voice has this id; GET /api/voices lists them.');
    return voice;
  }

  async list(): Promise<VoiceRecord[]> {
    return await this.backend.listVoices();
  }

  async delete(id: string): Promise<void> {
    await this.get(id);
    await this.backend.deleteVoice(id);
    await this.blobs.removeVoice(id);
  }
}

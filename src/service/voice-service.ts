/** Voices: a reference recording normalised once at upload, stored, and reused by id. */

import { randomUUID } from 'node:crypto';
import { rename } from 'node:fs/promises';
import { normalizeReference } from '../audio/reference.js';
import type { KeyQuotas, TaskBackend, VoiceRecord } from '../backends/backend.js';
import type { AuditTrail } from '../access/audit-trail.js';
import { canSee, listScope, ownerOf, type Actor, type Principal } from '../access/principal.js';
import { quotaOf } from './task-service.js';
import type { EngineCapabilities } from '../engines/protocol.js';
import { TtsError } from '../errors.js';
import type { BlobStore } from '../storage/blob-store.js';
import { normalizeText } from '../text/normalize.js';
import { MAX_PROMPT_TEXT_CHARS, UUID, speakerConsent } from './synthesis-request.js';

export const VOICE_FIELDS = ['name', 'prompt_text', 'consent', 'speaker_name'] as const;
const MAX_NAME_CHARS = 100;

export interface VoiceServiceOptions {
  backend: TaskBackend;
  blobs: BlobStore;
  /** The engine voices are normalised for (the preferred one that clones). */
  engine: () => EngineCapabilities | undefined;
  /** Whether a recording needs `consent` and `speaker_name`. */
  consentRequired: boolean;
  defaultQuotas: Required<KeyQuotas>;
  audit: AuditTrail;
}

export class VoiceService {
  constructor(private readonly options: VoiceServiceOptions) {}

  /** Creates a voice from an uploaded recording (at `uploadPath`, which this takes over). */
  async create(actor: Actor, fields: Record<string, unknown>, uploadPath: string | undefined): Promise<VoiceRecord> {
    const { backend, blobs } = this.options;
    const id = randomUUID();
    const owner = ownerOf(actor.principal);
    try {
      for (const key of Object.keys(fields)) {
        if (!(VOICE_FIELDS as readonly string[]).includes(key))
          throw new TtsError('E_INVALID_ARGUMENT', `Unknown field \`${key}\`; the fields are name, prompt_text, consent, speaker_name and the file \`audio\`.`);
      }
      if (fields.consent !== undefined && fields.consent !== 'true' && fields.consent !== 'false') throw new TtsError('E_INVALID_ARGUMENT', 'Expected `consent` to be true or false.');
      const speakerName = speakerConsent(fields.consent === 'true', fields.speaker_name, this.options.consentRequired);
      if (uploadPath === undefined) throw new TtsError('E_INVALID_ARGUMENT', 'Expected a file field `audio` with the voice recording (multipart/form-data).');
      const name = typeof fields.name === 'string' ? normalizeText(fields.name) : '';
      if (name === '' || name.length > MAX_NAME_CHARS) throw new TtsError('E_INVALID_ARGUMENT', `Expected \`name\` to be a text of 1 to ${MAX_NAME_CHARS} characters.`);
      if (fields.prompt_text !== undefined && typeof fields.prompt_text !== 'string')
        throw new TtsError('E_INVALID_ARGUMENT', 'Expected `prompt_text` to be a string: the transcript of the recording.');
      const promptText = normalizeText((fields.prompt_text as string | undefined) ?? '');
      if (promptText.length > MAX_PROMPT_TEXT_CHARS) throw new TtsError('E_INVALID_ARGUMENT', `Expected \`prompt_text\` to have at most ${MAX_PROMPT_TEXT_CHARS} characters.`);
      const maxVoices = quotaOf(actor.principal, 'voices', this.options.defaultQuotas);
      // Counted again when stored; checked first so that a key at its limit costs no normalising.
      if (maxVoices > 0 && (await backend.listVoices(owner ?? '')).length >= maxVoices) {
        throw new TtsError('E_QUOTA_VOICES', `This key has ${maxVoices} stored voices, its limit; delete one (DELETE /api/voices/ID) before adding another.`);
      }
      const sampleRate = this.options.engine()?.sampleRates[0];
      if (sampleRate === undefined) throw new TtsError('E_NOT_READY', 'The engines are still starting; try again in a moment.');

      const originalPath = blobs.voiceOriginalPath(id);
      await blobs.prepareFor(originalPath);
      await rename(uploadPath, originalPath);
      const normalized = await normalizeReference(originalPath, { sampleRate, outPath: blobs.voiceReferencePath(id, sampleRate) });
      // Both are read by whichever worker prepares a task with this voice.
      await blobs.save(originalPath);
      await blobs.save(normalized.path);
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
      if (owner !== undefined) voice.owner = owner;
      if (speakerName !== undefined) voice.consent = { speakerName, at: voice.createdAt };
      await backend.createVoice(voice, { maxVoices });
      await this.options.audit.record(actor, 'voice.create', id, speakerName === undefined ? { name } : { name, speaker: speakerName });
      return voice;
    } catch (error) {
      if (uploadPath !== undefined) await blobs.remove(uploadPath);
      await blobs.removeVoice(id);
      throw error;
    }
  }

  /** A voice the principal may see; another key's voice is E_VOICE_NOT_FOUND, as one that does not exist. */
  async get(id: string, principal: Principal): Promise<VoiceRecord> {
    const voice = UUID.test(id) ? await this.options.backend.getVoice(id) : undefined;
    if (voice === undefined || !canSee(principal, voice.owner)) throw new TtsError('E_VOICE_NOT_FOUND', 'No voice has this id; GET /api/voices lists them.');
    return voice;
  }

  async list(principal: Principal): Promise<VoiceRecord[]> {
    return await this.options.backend.listVoices(listScope(principal));
  }

  async delete(id: string, actor: Actor): Promise<void> {
    await this.get(id, actor.principal);
    await this.options.backend.deleteVoice(id);
    await this.options.blobs.removeVoice(id);
    await this.options.audit.record(actor, 'voice.delete', id);
  }
}

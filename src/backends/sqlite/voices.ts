/** Stored voices: one row each; their files are the blob store's. */

import type { SqliteConnection } from './connection.js';
import type { VoiceConsent, VoiceRecord } from '../backend.js';
import { TtsError } from '../../errors.js';

interface VoiceRow {
  id: string;
  name: string;
  prompt_text: string;
  audio_path: string;
  sha256: string;
  sample_rate: number;
  duration_ms: number;
  original_path: string;
  created_at: number;
  owner: string | null;
  consent: string | null;
}

function toVoice(row: VoiceRow): VoiceRecord {
  const voice: VoiceRecord = {
    id: row.id,
    name: row.name,
    promptText: row.prompt_text,
    audioPath: row.audio_path,
    sha256: row.sha256,
    sampleRate: row.sample_rate,
    durationMs: row.duration_ms,
    originalPath: row.original_path,
    createdAt: row.created_at,
  };
  if (row.owner !== null) voice.owner = row.owner;
  if (row.consent !== null) voice.consent = JSON.parse(row.consent) as VoiceConsent;
  return voice;
}

export class VoiceStore {
  constructor(private readonly connection: SqliteConnection) {}

  create(voice: VoiceRecord, maxVoices = 0): void {
    this.connection.transaction(() => {
      if (maxVoices > 0) {
        const count = this.connection.sql<[string | null], { n: number }>('SELECT COUNT(*) AS n FROM voices WHERE owner IS ?').get(voice.owner ?? null)!.n;
        if (count >= maxVoices) throw new TtsError('E_QUOTA_VOICES', `This key has ${count} stored voices, its limit; delete one (DELETE /api/voices/ID) before adding another.`);
      }
      this.connection
        .sql(
          `INSERT INTO voices (id, name, prompt_text, audio_path, sha256, sample_rate, duration_ms, original_path, created_at, owner, consent)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          voice.id,
          voice.name,
          voice.promptText,
          voice.audioPath,
          voice.sha256,
          voice.sampleRate,
          voice.durationMs,
          voice.originalPath,
          voice.createdAt,
          voice.owner ?? null,
          voice.consent === undefined ? null : JSON.stringify(voice.consent),
        );
    });
  }

  get(id: string): VoiceRecord | undefined {
    const row = this.connection.sql<[string], VoiceRow>('SELECT * FROM voices WHERE id = ?').get(id);
    return row && toVoice(row);
  }

  list(owner?: string): VoiceRecord[] {
    if (owner === undefined) return this.connection.sql<[], VoiceRow>('SELECT * FROM voices ORDER BY created_at DESC, id').all().map(toVoice);
    return this.connection
      .sql<[string | null], VoiceRow>('SELECT * FROM voices WHERE owner IS ? ORDER BY created_at DESC, id')
      .all(owner === '' ? null : owner)
      .map(toVoice);
  }

  delete(id: string): boolean {
    return this.connection.write(() => this.connection.sql('DELETE FROM voices WHERE id = ?').run(id).changes > 0);
  }
}

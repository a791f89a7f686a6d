/** Stored voices: one row each; their files are the blob store's. */

import type { SqliteConnection } from './connection.js';
import type { VoiceRecord } from '../backend.js';

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
}

function toVoice(row: VoiceRow): VoiceRecord {
  return {
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
}

export class VoiceStore {
  constructor(private readonly connection: SqliteConnection) {}

  create(voice: VoiceRecord): void {
    this.connection.write(() =>
      this.connection
        .sql(
          `INSERT INTO voices (id, name, prompt_text, audio_path, sha256, sample_rate, duration_ms, original_path, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(voice.id, voice.name, voice.promptText, voice.audioPath, voice.sha256, voice.sampleRate, voice.durationMs, voice.originalPath, voice.createdAt),
    );
  }

  get(id: string): VoiceRecord | undefined {
    const row = this.connection.sql<[string], VoiceRow>('SELECT * FROM voices WHERE id = ?').get(id);
    return row && toVoice(row);
  }

  list(): VoiceRecord[] {
    return this.connection.sql<[], VoiceRow>('SELECT * FROM voices ORDER BY created_at DESC, id').all().map(toVoice);
  }

  delete(id: string): boolean {
    return this.connection.write(() => this.connection.sql('DELETE FROM voices WHERE id = ?').run(id).changes > 0);
  }
}

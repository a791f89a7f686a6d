/**
 * `tts-queue keys`: create, list and revoke API keys on the configured backend and DATA_DIR,
 * whether the service runs or not (a running service sees a change within a second).
 */

import { parseArgs } from 'node:util';
import { AuditTrail } from '../access/audit-trail.js';
import { KeyService } from '../access/key-service.js';
import { ANONYMOUS, type Actor } from '../access/principal.js';
import { KEY_ROLES, type ApiKeyRecord, type KeyQuotas, type KeyRole } from '../backends/backend.js';
import { openAccessStores } from '../backends/factory.js';
import { loadConfig } from '../config/config.js';
import { TtsError } from '../errors.js';
import { createLogger } from '../service/logger.js';
import { loadWebhookSecrets } from '../webhooks/secrets.js';

export const KEYS_USAGE = `Usage: tts-queue keys <create|list|revoke> [options]

  tts-queue keys create --name NAME [--role admin|user] [--rps N] [--chars-per-day N]
                        [--open-tasks N] [--voices N] [--webhook-url URL]
      Creates a key and prints it (only this once) on standard output, and the secret that
      signs its webhooks on standard error. Limits not given are the service's defaults
      (RATE_LIMIT_RPS, QUOTA_*); 0 is no limit. --webhook-url: where the webhooks of its
      tasks that name no webhook_url go (a public http(s) URL).
  tts-queue keys list [--json]
      Every key: id, name, role, limits, when created, last used and revoked.
  tts-queue keys revoke ID_OR_NAME
      Revokes a key: requests with it are refused (a running service: within a second).

Uses the service's BACKEND, DATA_DIR and REDIS_URL, from the environment.`;

/** The keys command acts from the machine it runs on: recorded so in the audit log. */
const CLI_ACTOR: Actor = { principal: ANONYMOUS, address: 'cli' };

function count(raw: string | undefined, option: string): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new TtsError('E_INVALID_ARGUMENT', `Expected ${option} to be a whole number (0: no limit), got "${raw}".`);
  return value;
}

const when = (ms: number | undefined): string => (ms === undefined ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/u, 'Z'));

function quotaText(quotas: KeyQuotas): string {
  const parts = [
    quotas.requestsPerSecond === undefined ? undefined : `${quotas.requestsPerSecond}/s`,
    quotas.charsPerDay === undefined ? undefined : `${quotas.charsPerDay} chars/day`,
    quotas.openTasks === undefined ? undefined : `${quotas.openTasks} open tasks`,
    quotas.voices === undefined ? undefined : `${quotas.voices} voices`,
  ].filter((part) => part !== undefined);
  return parts.length === 0 ? 'defaults' : parts.join(', ');
}

function table(keys: ApiKeyRecord[]): string {
  const rows = [
    ['ID', 'NAME', 'ROLE', 'CREATED', 'LAST USED', 'REVOKED', 'LIMITS'],
    ...keys.map((k) => [k.id, k.name, k.role, when(k.createdAt), when(k.lastUsedAt), when(k.revokedAt), quotaText(k.quotas)]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export async function runKeys(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    out.write(`${KEYS_USAGE}\n`);
    return;
  }
  if (!['create', 'list', 'revoke'].includes(command)) throw new TtsError('E_INVALID_ARGUMENT', `Unknown keys command "${command}". Expected create, list or revoke.`);
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: command === 'revoke',
    options: {
      name: { type: 'string' },
      role: { type: 'string' },
      rps: { type: 'string' },
      'chars-per-day': { type: 'string' },
      'open-tasks': { type: 'string' },
      voices: { type: 'string' },
      'webhook-url': { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const config = loadConfig(process.env);
  const stores = await openAccessStores(config);
  try {
    const keys = new KeyService(stores.keys, Date.now, config.webhooks.allowPrivate);
    const audit = new AuditTrail(stores.audit, createLogger('silent'));
    if (command === 'create') {
      if (values.name === undefined) throw new TtsError('E_INVALID_ARGUMENT', 'Expected --name NAME: who or what will use the key.');
      const role = values.role ?? 'user';
      if (!(KEY_ROLES as readonly string[]).includes(role)) throw new TtsError('E_INVALID_ARGUMENT', `Expected --role to be admin or user, got "${role}".`);
      const { record, key } = await keys.create({
        name: values.name,
        role: role as KeyRole,
        quotas: {
          requestsPerSecond: count(values.rps, '--rps'),
          charsPerDay: count(values['chars-per-day'], '--chars-per-day'),
          openTasks: count(values['open-tasks'], '--open-tasks'),
          voices: count(values.voices, '--voices'),
        },
        webhookUrl: values['webhook-url'],
      });
      await audit.record(CLI_ACTOR, 'key.create', record.id, { name: record.name, role: record.role });
      out.write(`${key}\n`);
      err.write(`Created key ${record.id} "${record.name}" (${record.role}). The key above is shown only this once: keep it safe.\n`);
      const secrets = await loadWebhookSecrets(config.webhooks.secret, stores.webhooks);
      err.write(`Its webhooks are signed with ${secrets.secretFor(record.id)} (also at GET /api/webhooks/secret with the key).\n`);
    } else if (command === 'list') {
      const all = await keys.list();
      out.write(values.json === true ? `${JSON.stringify(all.map(({ hash: _hash, ...key }) => key))}\n` : `${table(all)}\n`);
    } else {
      if (positionals.length !== 1) throw new TtsError('E_INVALID_ARGUMENT', 'Expected one key id or name: tts-queue keys revoke ID_OR_NAME.');
      const before = await keys.find(positionals[0]!);
      const revoked = await keys.revoke(before.id);
      if (before.revokedAt === undefined) await audit.record(CLI_ACTOR, 'key.revoke', revoked.id, { name: revoked.name });
      out.write(`Revoked key ${revoked.id} "${revoked.name}" (${when(revoked.revokedAt)}).\n`);
    }
  } finally {
    await stores.close();
  }
}

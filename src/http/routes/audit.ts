/** Reading the audit log: who created, used, downloaded and deleted which task, voice and key. */

import type { FastifyInstance } from 'fastify';
import { AUDIT_PAGE_DEFAULT, AuditListBody, AuditListQuery, ErrorBody, type AuditListQueryJson } from '../schemas.js';
import { presentAuditEntry } from '../presenters.js';
import type { AppDependencies } from '../app.js';
import { requireAdmin } from '../access.js';
import type { AuditAction } from '../../backends/backend.js';
import { TtsError } from '../../errors.js';

/** A date-time the schema let through, in ms; one the clock cannot hold (a leap second) is refused the same way. */
function timeOf(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new TtsError('E_INVALID_ARGUMENT', `Expected \`${name}\` to be an ISO 8601 date-time with a time zone, such as 2025-01-31T12:00:00Z, got "${value.slice(0, 60)}".`);
  return ms;
}

export function auditRoutes(app: FastifyInstance, deps: AppDependencies): void {
  app.get(
    '/api/audit',
    {
      onRequest: requireAdmin,
      schema: { summary: 'The audit log, newest first, filtered, a page at a time (admin)', querystring: AuditListQuery, response: { 200: AuditListBody, '4xx': ErrorBody } },
    },
    async (request) => {
      const query = request.query as AuditListQueryJson;
      const page = await deps.audit.list({
        keyId: query.key_id,
        action: query.action as AuditAction | undefined, // one of AUDIT_ACTIONS: the schema checked it
        subject: query.subject,
        since: timeOf('since', query.since),
        until: timeOf('until', query.until),
        limit: query.limit ?? AUDIT_PAGE_DEFAULT,
        cursor: query.cursor,
      });
      return { entries: page.entries.map(presentAuditEntry), next_cursor: page.nextCursor ?? null };
    },
  );
}

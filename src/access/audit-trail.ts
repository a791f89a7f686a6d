/**
 * Records who did what in the audit log. An entry is written after the action succeeded; a
 * failure to write it (the storage is full) is logged as an error and does not undo or fail
 * the action, which has happened.
 */

import type { AuditAction, AuditLog } from '../backends/backend.js';
import type { Logger } from '../service/logger.js';
import type { Actor } from './principal.js';

export class AuditTrail {
  constructor(
    private readonly log: AuditLog,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  async record(actor: Actor, action: AuditAction, subject: string, detail?: Record<string, string | number | boolean>): Promise<void> {
    try {
      await this.log.append({ at: this.now(), action, keyId: actor.principal.keyId, address: actor.address, subject, ...(detail === undefined ? {} : { detail }) });
    } catch (error) {
      this.logger.error({ err: error, action, subject }, 'could not write an audit entry');
    }
  }
}

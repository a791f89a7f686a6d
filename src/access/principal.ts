/**
 * Who is asking: an API key (admin or user) or nobody (anonymous: allowed where the service
 * needs no key). What a principal may see follows from it, in one place.
 */

import type { KeyQuotas, KeyRole } from '../backends/backend.js';

export interface Principal {
  /** The key's id, which is also the owner of what it makes; null when anonymous. */
  keyId: string | null;
  role: KeyRole | 'anonymous';
  quotas: KeyQuotas;
  /** Anonymous on a loopback-only service: the operator's own machine, trusted as an admin. */
  local?: boolean;
  /** The key's default webhook, for its tasks that name none. */
  webhookUrl?: string;
}

/** Anonymous where only this machine can call (loopback, no key yet): may do what an admin does. */
export const ANONYMOUS: Principal = Object.freeze({ keyId: null, role: 'anonymous', quotas: Object.freeze({}), local: true }) as Principal;
/** Anonymous on an address others reach (AUTH=off): sees every task, but manages no keys and reads no audit log. */
export const ANONYMOUS_REMOTE: Principal = Object.freeze({ keyId: null, role: 'anonymous', quotas: Object.freeze({}), local: false }) as Principal;

/** The owner recorded on what this principal makes (undefined: made without a key). */
export function ownerOf(principal: Principal): string | undefined {
  return principal.keyId ?? undefined;
}

/**
 * Whether the principal sees a task or voice of `owner`. An admin sees everything; so does an
 * anonymous request, which only gets this far where the service needs no key (loopback without
 * keys, or AUTH=off): there every request is the same nobody.
 */
export function canSee(principal: Principal, owner: string | undefined): boolean {
  return principal.role !== 'user' || owner === principal.keyId;
}

/** The owner a listing is limited to (undefined: everything). */
export function listScope(principal: Principal): string | undefined {
  return principal.role === 'user' ? principal.keyId! : undefined;
}

/** Whether the principal may manage keys and read the audit log. */
export function isAdmin(principal: Principal): boolean {
  return principal.role === 'admin' || (principal.role === 'anonymous' && principal.local === true);
}

/** A principal and where its request came from: what the audit log records. */
export interface Actor {
  principal: Principal;
  /** The client's address (behind TRUST_PROXY: the forwarded one); `cli` for the keys command. */
  address: string;
}

/** The service acting on its own (tests, internal callers): anonymous, from nowhere. */
export const SYSTEM_ACTOR: Actor = Object.freeze({ principal: ANONYMOUS, address: 'local' });

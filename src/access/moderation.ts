/**
 * The moderation hook: the content policy a text passes before its task is accepted.
 *
 * Two checks, each optional, run in this order:
 * 1. the blocklist (MODERATION_BLOCKLIST, see blocklist.ts for the file format): words, phrases
 *    and regular expressions, matched on a normalised text;
 * 2. an external check (MODERATION_URL, see src/net/moderation-client.ts for its contract),
 *    asked only when the blocklist let the text through.
 *
 * A refused text is `422 E_CONTENT_REFUSED`. Its message says only that the content policy
 * refused it: neither clients nor logs learn which term matched. At `info` a refusal is logged
 * with the check that refused it; at `debug` also the blocklist line that matched, never the
 * term or the text.
 *
 * A check that cannot finish (the external check answers late, wrongly or not at all; a
 * blocklist regular expression overruns its time) follows MODERATION_FAIL: `closed` (the
 * default) refuses the text with `503 E_MODERATION_UNAVAILABLE` (retryable), `open` accepts it
 * and logs a warning.
 *
 * With neither check configured, `check` is a no-op that returns a settled promise.
 *
 * Wiring: `const moderation = await createModeration(config.moderation, logger)` at start-up
 * (it throws E_INVALID_ARGUMENT for an unreadable or invalid blocklist, or a MODERATION_URL on a
 * private address without MODERATION_ALLOW_PRIVATE=1); `await moderation.check(text)` before a
 * task is stored; `await moderation.close()` at shutdown.
 */

import type { ModerationConfig } from '../config/config.js';
import { TtsError } from '../errors.js';
import type { Resolve } from '../net/address-guard.js';
import { askModerationService, checkModerationUrl, type ModerationClientOptions, ModerationUnavailableError } from '../net/moderation-client.js';
import type { Logger } from '../service/logger.js';
import { Blocklist } from './blocklist.js';
import { RegexDeadlineError } from './regex-rules.js';

export interface Moderation {
  /** True when at least one check is configured. */
  readonly enabled: boolean;
  /** Resolves when `text` may be accepted; rejects with E_CONTENT_REFUSED, or E_MODERATION_UNAVAILABLE (MODERATION_FAIL=closed). */
  check(text: string): Promise<void>;
  /** Releases the blocklist's worker thread; `check` must not be called afterwards. */
  close(): Promise<void>;
}

export interface ModerationOptions {
  /** How long a text's blocklist regular expressions may run (1 s unless set). */
  regexDeadlineMs?: number;
  /** Resolves host names for the external check (the system resolver unless set); tests answer made-up names with it. */
  resolve?: Resolve;
}

/** The message of every refusal: the same whichever rule or check refused. */
export const CONTENT_REFUSED_MESSAGE = "The text was refused by this service's content policy.";
const UNAVAILABLE_MESSAGE = 'The content check is unavailable right now; try again shortly.';

const ACCEPTED: Promise<void> = Promise.resolve();
const DISABLED: Moderation = { enabled: false, check: () => ACCEPTED, close: () => ACCEPTED };

export async function createModeration(config: ModerationConfig, logger: Logger, options: ModerationOptions = {}): Promise<Moderation> {
  if (config.blocklistPath === undefined && config.url === undefined) return DISABLED;
  const log = logger.child({ component: 'moderation' });
  let client: ModerationClientOptions | undefined;
  if (config.url !== undefined) {
    client = { url: new URL(config.url), timeoutMs: config.timeoutMs, allowPrivate: config.allowPrivate, resolve: options.resolve };
    let startUp: 'ok' | 'unresolved';
    try {
      startUp = await checkModerationUrl(client);
    } catch (error) {
      throw new TtsError('E_INVALID_ARGUMENT', `${(error as Error).message}.`, { cause: error });
    }
    if (startUp === 'unresolved') log.warn({ host: client.url.hostname }, 'MODERATION_URL does not resolve yet; it is checked again at each call');
  }
  const blocklist = config.blocklistPath === undefined ? undefined : await Blocklist.load(config.blocklistPath, { regexDeadlineMs: options.regexDeadlineMs });
  log.info({ blocklistRules: blocklist?.ruleCount, external: client?.url.host, fail: config.fail }, 'content moderation on');
  return new ContentPolicy(blocklist, client, config.fail, log);
}

class ContentPolicy implements Moderation {
  readonly enabled = true;

  constructor(
    private readonly blocklist: Blocklist | undefined,
    private readonly client: ModerationClientOptions | undefined,
    private readonly fail: ModerationConfig['fail'],
    private readonly log: Logger,
  ) {}

  async check(text: string): Promise<void> {
    if (this.blocklist !== undefined) {
      let match: Awaited<ReturnType<Blocklist['match']>>;
      try {
        match = await this.blocklist.match(text);
      } catch (error) {
        if (!(error instanceof RegexDeadlineError)) throw error;
        // The rule's line, for the operator to rewrite it; not the text.
        return this.unavailable('blocklist', `${error.message} on this text`, error);
      }
      if (match !== undefined) {
        this.log.debug({ check: 'blocklist', line: match.line }, 'blocklist rule matched');
        return this.refuse('blocklist');
      }
    }
    if (this.client !== undefined) {
      let allowed: boolean;
      try {
        allowed = await askModerationService(text, this.client);
      } catch (error) {
        if (!(error instanceof ModerationUnavailableError)) throw error;
        return this.unavailable('external', `MODERATION_URL: ${error.message}`, error);
      }
      if (!allowed) return this.refuse('external');
    }
  }

  async close(): Promise<void> {
    await this.blocklist?.close();
  }

  private refuse(check: 'blocklist' | 'external'): never {
    this.log.info({ check }, 'text refused by the content policy');
    throw new TtsError('E_CONTENT_REFUSED', CONTENT_REFUSED_MESSAGE);
  }

  private unavailable(check: 'blocklist' | 'external', reason: string, cause: Error): void {
    if (this.fail === 'open') {
      this.log.warn({ check, reason }, 'content check unavailable; text accepted (MODERATION_FAIL=open)');
      return;
    }
    this.log.warn({ check, reason }, 'content check unavailable; text refused (MODERATION_FAIL=closed)');
    throw new TtsError('E_MODERATION_UNAVAILABLE', UNAVAILABLE_MESSAGE, { cause });
  }
}

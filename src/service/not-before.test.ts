/** `not_before`'s rule (parseNotBefore): a time to come within 30 days, a little skew allowed, a real calendar time with a zone. */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TtsError } from '../errors.js';
import { NOT_BEFORE_MAX_AHEAD_MS, NOT_BEFORE_SKEW_MS, parseNotBefore } from './synthesis-request.js';

const NOW = Date.parse('2026-11-27T10:00:00Z');
const iso = (ms: number): string => new Date(ms).toISOString();
const refused = (value: string, message: RegExp): void => {
  assert.throws(
    () => parseNotBefore(value, NOW),
    (error: unknown) => error instanceof TtsError && error.code === 'E_NOT_BEFORE_INVALID' && message.test(error.message),
    value,
  );
};

test('not_before: times to come, offsets and fractions are read to the millisecond', () => {
  assert.equal(parseNotBefore('2026-11-27T12:00:00Z', NOW), NOW + 2 * 3_600_000);
  assert.equal(parseNotBefore('2026-11-27T14:00:00.250+02:00', NOW), NOW + 2 * 3_600_000 + 250);
  assert.equal(parseNotBefore('2026-11-27t12:00:00z', NOW), NOW + 2 * 3_600_000);
});

test('not_before: up to the clock-skew allowance in the past is accepted (the task starts at once); beyond it is refused', () => {
  assert.equal(parseNotBefore(iso(NOW - NOT_BEFORE_SKEW_MS), NOW), NOW - NOT_BEFORE_SKEW_MS);
  refused(iso(NOW - NOT_BEFORE_SKEW_MS - 1), /has passed/u);
});

test('not_before: up to 30 days ahead is accepted; beyond is refused', () => {
  assert.equal(parseNotBefore(iso(NOW + NOT_BEFORE_MAX_AHEAD_MS), NOW), NOW + NOT_BEFORE_MAX_AHEAD_MS);
  refused(iso(NOW + NOT_BEFORE_MAX_AHEAD_MS + 1), /30 days/u);
});

test('not_before: a day or time that does not exist is refused', () => {
  for (const value of ['2026-02-30T00:00:00Z', '2026-13-01T00:00:00Z', '2026-12-01T24:00:00Z', '2026-12-01T10:60:00Z', '2026-12-31T23:59:60Z']) refused(value, /ISO 8601/u);
});

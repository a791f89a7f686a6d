/**
 * How request schemas are compiled, in one place: Fastify's validator (app.ts) and the checks made
 * outside HTTP (`tts-queue say` submits the same fields) use the same Ajv options, so a request is
 * refused with the same code and message whichever way it arrives.
 */

import { Ajv, type Options } from 'ajv';
import type { Static, TSchema } from '@sinclair/typebox';
import { schemaViolation, type SchemaError } from './validation-errors.js';

/**
 * No coercion: a JSON `"text": 42` is refused, not read as "42" (text inputs are read by their
 * schema in text-values.ts). Unknown fields are refused, not silently removed. `verbose` gives
 * each error the value and the schema it failed, for the messages.
 */
export const AJV_OPTIONS = { coerceTypes: false, removeAdditional: false, verbose: true, allowUnionTypes: true } as const satisfies Options;

/** The annotations schemas carry for error messages (validation-errors.ts), known to Ajv so strict mode keeps refusing typos. */
export function schemaAnnotations<A extends { addKeyword(keyword: string): unknown }>(ajv: A): A {
  for (const keyword of ['x-expected', 'x-error-code', 'x-unlisted-code']) ajv.addKeyword(keyword);
  return ajv;
}

/** A checker for values outside a request: returns the value, typed, or throws the typed error the API would answer. */
export function schemaChecker<S extends TSchema>(schema: S, context: 'body' | 'querystring' = 'body'): (value: unknown) => Static<S> {
  const ajv = schemaAnnotations(new Ajv({ ...AJV_OPTIONS, useDefaults: true }));
  const validate = ajv.compile(schema);
  return (value) => {
    if (validate(value)) return value as Static<S>;
    throw schemaViolation((validate.errors ?? []) as SchemaError[], context, schema as Parameters<typeof schemaViolation>[2]);
  };
}

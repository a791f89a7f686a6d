/**
 * Schema violations (Ajv errors, compiled with `verbose` so each carries the value and the schema
 * it failed) as typed errors whose message says "Expected `field` to be X, got Y.". X comes from
 * the schema (its `x-expected` annotation, or its type and bounds); Y is a bounded preview of
 * the value, never the value itself: a 5,000-level nested list is shown as "a list of 1 item".
 */

import { isErrorCode, TtsError, type ErrorCode } from '../errors.js';

interface SchemaNode {
  type?: unknown;
  enum?: unknown[];
  const?: unknown;
  anyOf?: SchemaNode[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  maxItems?: number;
  maxProperties?: number;
  pattern?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  additionalProperties?: unknown;
  patternProperties?: Record<string, SchemaNode>;
  'x-expected'?: string;
  'x-error-code'?: string;
  'x-unlisted-code'?: string;
}

/** An Ajv error object as Fastify hands it over in `error.validation`. */
export interface SchemaError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
  data?: unknown;
  parentSchema?: SchemaNode;
}

const PREVIEW_CHARS = 60;

function quote(text: string, max = PREVIEW_CHARS): string {
  const shown = [...text].slice(0, max).join('');
  return `${JSON.stringify(shown)}${shown.length < text.length ? '…' : ''}`;
}

/** What a value is, in a few words: never serialises more than a bounded part of it. */
export function previewValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return quote(value);
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'a number out of range';
  if (typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `a list of ${value.length} item${value.length === 1 ? '' : 's'}`;
  if (typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.length === 0) return 'an empty object';
    const shown = keys
      .slice(0, 5)
      .map((key) => quote(key, 20))
      .join(', ');
    return `an object with ${keys.length === 1 ? 'the field' : `${keys.length} fields:`} ${shown}${keys.length > 5 ? ', …' : ''}`;
  }
  return typeof value;
}

function range(what: string, min: number | undefined, max: number | undefined, unit = ''): string {
  if (min !== undefined && max !== undefined) return `${what} ${unit ? 'of ' : 'from '}${min} to ${max}${unit}`;
  if (max !== undefined) return `${what} of at most ${max}${unit}`;
  if (min !== undefined) return `${what} of at least ${min}${unit}`;
  return what;
}

/** "an integer from 1 to 100", "one of wav, mp3", ... from the schema. */
export function expectedBy(schema: SchemaNode | undefined): string {
  if (schema === undefined) return 'valid';
  if (schema['x-expected'] !== undefined) return schema['x-expected'];
  if (schema.enum !== undefined) return `one of ${schema.enum.join(', ')}`;
  // A union of literals (TypeBox's Type.Union of Type.Literal).
  if (schema.anyOf?.every((branch) => branch.const !== undefined)) return `one of ${schema.anyOf.map((branch) => String(branch.const)).join(', ')}`;
  switch (schema.type) {
    case 'integer':
      return range('an integer', schema.minimum, schema.maximum);
    case 'number':
      return range('a number', schema.minimum, schema.maximum);
    case 'string':
      return schema.pattern !== undefined ? `a string matching ${schema.pattern}` : range('a string', schema.minLength, schema.maxLength, ' characters');
    case 'boolean':
      return 'true or false';
    case 'array':
      return range('a list', undefined, schema.maxItems, ' items');
    case 'object':
      return range('an object', undefined, schema.maxProperties, ' fields');
    default:
      return 'valid';
  }
}

/** `/pronunciations/0/pinyin` → `pronunciations[0].pinyin` (each name cut short). */
function fieldName(instancePath: string): string {
  let name = '';
  for (const raw of instancePath.split('/').slice(1)) {
    const segment = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    name += /^\d+$/u.test(segment) ? `[${segment}]` : `${name === '' ? '' : '.'}${[...segment].slice(0, 40).join('')}`;
  }
  return name;
}

/** The schemas from the root down to the value at `instancePath` (for the codes they carry). */
function schemasAlong(root: SchemaNode | undefined, instancePath: string): SchemaNode[] {
  const found: SchemaNode[] = [];
  let node = root;
  for (const segment of instancePath.split('/').slice(1)) {
    if (node === undefined) break;
    found.push(node);
    const name = segment.replaceAll('~1', '/').replaceAll('~0', '~');
    node =
      node.properties?.[name] ??
      node.items ??
      Object.values(node.patternProperties ?? {})[0] ??
      (typeof node.additionalProperties === 'object' ? (node.additionalProperties as SchemaNode) : undefined);
  }
  if (node !== undefined) found.push(node);
  return found;
}

function codeFor(error: SchemaError, rootSchema: SchemaNode | undefined): ErrorCode {
  const unlisted = error.parentSchema?.['x-unlisted-code'];
  if (error.keyword === 'enum' && isErrorCode(unlisted)) return unlisted;
  const annotated = schemasAlong(rootSchema, error.instancePath).findLast((schema) => isErrorCode(schema['x-error-code']));
  return (annotated?.['x-error-code'] as ErrorCode | undefined) ?? 'E_INVALID_ARGUMENT';
}

const ROOT_NAMES: Record<string, string> = { body: 'the body', querystring: 'the query', params: 'the path', headers: 'the headers' };

/**
 * One typed error for a failed validation. Ajv stops at the first failure, after the branches
 * of a union: the last error is the one that decided.
 */
export function schemaViolation(errors: SchemaError[], context: string | undefined, rootSchema: SchemaNode | undefined): TtsError {
  const error = errors.at(-1);
  if (error === undefined) return new TtsError('E_INVALID_ARGUMENT', `Expected ${ROOT_NAMES[context ?? ''] ?? 'the request'} to be valid.`);
  const field = fieldName(error.instancePath);
  const at = field === '' ? (ROOT_NAMES[context ?? ''] ?? 'the request') : `\`${field}\``;
  const code = codeFor(error, rootSchema);
  const inside = field === '' ? '' : ` in ${at}`;
  // The field at fault, as OpenAI's error shape reports it (`param`).
  const param = field === '' ? undefined : field;
  switch (error.keyword) {
    case 'required': {
      const missing = String(error.params.missingProperty);
      const named = field === '' ? missing : `${field}.${missing}`;
      const described = (error.parentSchema?.properties?.[missing] as { description?: string } | undefined)?.description;
      const what = described === undefined ? '' : `: ${described.charAt(0).toLowerCase()}${described.slice(1).replace(/\.$/u, '')}`;
      return new TtsError(code, `Expected \`${named}\` to be given${what}.`, { param: named });
    }
    case 'additionalProperties': {
      const known = Object.keys(error.parentSchema?.properties ?? {});
      const unknown = String(error.params.additionalProperty);
      return new TtsError(code, `Unknown field ${quote(unknown, 40)}${inside}; the fields are ${known.join(', ')}.`, { param: field === '' ? unknown.slice(0, 40) : param });
    }
    case 'propertyNames': {
      const names = (error.parentSchema as { propertyNames?: SchemaNode } | undefined)?.propertyNames;
      return new TtsError(code, `Expected the names${inside} to be ${expectedBy(names)}, got ${quote(String(error.params.propertyName), 40)}.`, { param });
    }
    default:
      return new TtsError(code, `Expected ${at} to be ${expectedBy(error.parentSchema)}, got ${previewValue(error.data)}.`, { param });
  }
}

/**
 * Values that arrive as text (query parameters, multipart fields) read by the type their schema
 * gives, before the schema validates them. Ajv's own coercion is off: it would turn `"text": 42`
 * of a JSON body into "42", and "Infinity" or "1e400" into Infinity, which then passes `maximum`.
 * Text that does not read cleanly is left as it is, so the schema refuses it and the message
 * shows what was sent.
 */

interface PropertySchema {
  type?: unknown;
}

const INTEGER = /^[+-]?\d{1,16}$/u;
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/iu;

function readText(text: string, schema: PropertySchema): unknown {
  switch (schema.type) {
    case 'integer': {
      const value = Number(text);
      return INTEGER.test(text) && Number.isSafeInteger(value) ? value : text;
    }
    case 'number': {
      const value = Number(text);
      return NUMBER.test(text) && Number.isFinite(value) ? value : text;
    }
    case 'boolean':
      return text === 'true' ? true : text === 'false' ? false : text;
    case 'object':
    case 'array':
      try {
        return JSON.parse(text) as unknown;
      } catch {
        return text;
      }
    default:
      return text;
  }
}

/** Reads, in place, each string value whose property the object schema types as a number, boolean, object or list. */
export function readTextValues(values: Record<string, unknown>, schema: { properties?: Record<string, unknown> } | undefined): Record<string, unknown> {
  const properties = schema?.properties;
  if (properties === undefined) return values;
  for (const [key, value] of Object.entries(values)) {
    const property = Object.hasOwn(properties, key) ? properties[key] : undefined;
    if (typeof value === 'string' && typeof property === 'object' && property !== null) values[key] = readText(value, property as PropertySchema);
  }
  return values;
}

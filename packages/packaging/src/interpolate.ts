/**
 * Compose-style variable interpolation: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
 * `${VAR:?message}`, `${VAR?message}`, `${VAR:+replacement}`, `${VAR+replacement}`, and `$$`
 * for a literal dollar. Defaults and replacements may themselves hold variables.
 */
export class InterpolationError extends Error {
  readonly variable: string | undefined;

  constructor(message: string, variable?: string) {
    super(message);
    this.name = 'InterpolationError';
    this.variable = variable;
  }
}

type Lookup = (name: string) => string | undefined;

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

/** Interpolates one string; `where` names its place in the file for error messages. */
export function interpolateString(text: string, lookup: Lookup, where = 'value'): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch !== '$') {
      out += ch;
      i += 1;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (next === '{') {
      const end = findClosingBrace(text, i + 2);
      if (end === -1) {
        throw new InterpolationError(`${where}: "\${" at offset ${i} is never closed with "}"`);
      }
      out += expandBraced(text.slice(i + 2, end), lookup, where);
      i = end + 1;
      continue;
    }
    const name = NAME.exec(text.slice(i + 1));
    if (name) {
      out += lookup(name[0]) ?? '';
      i += 1 + name[0].length;
      continue;
    }
    out += '$';
    i += 1;
  }
  return out;
}

function findClosingBrace(text: string, from: number): number {
  let depth = 1;
  for (let i = from; i < text.length; i += 1) {
    if (text[i] === '$' && text[i + 1] === '{') {
      depth += 1;
      i += 1;
    } else if (text[i] === '}') {
      depth -= 1;
      if (depth === 0) return i;
    }
  }
  return -1;
}

function expandBraced(body: string, lookup: Lookup, where: string): string {
  const name = NAME.exec(body);
  if (!name) {
    throw new InterpolationError(`${where}: "\${${body}}" does not start with a variable name`);
  }
  const variable = name[0];
  const rest = body.slice(variable.length);
  const value = lookup(variable);
  if (rest === '') return value ?? '';
  const operator = /^(:?[-?+])/.exec(rest)?.[1];
  if (!operator) {
    throw new InterpolationError(
      `${where}: "\${${body}}" has an unknown modifier; use :-, -, :?, ?, :+ or +`,
      variable,
    );
  }
  const operand = rest.slice(operator.length);
  const unset = value === undefined;
  const empty = unset || value === '';
  switch (operator) {
    case ':-':
      return empty ? interpolateString(operand, lookup, where) : (value ?? '');
    case '-':
      return unset ? interpolateString(operand, lookup, where) : value;
    case ':?':
    case '?':
      if (operator === ':?' ? empty : unset) {
        const message = interpolateString(operand, lookup, where) || 'is required';
        throw new InterpolationError(
          `${where}: required variable ${variable}: ${message}`,
          variable,
        );
      }
      return value ?? '';
    case ':+':
      return empty ? '' : interpolateString(operand, lookup, where);
    default:
      return unset ? '' : interpolateString(operand, lookup, where);
  }
}

/** Interpolates every string in a parsed YAML document (keys stay as they are). */
export function interpolateDeep(value: unknown, lookup: Lookup, where = ''): unknown {
  if (typeof value === 'string') return interpolateString(value, lookup, where || 'value');
  if (Array.isArray(value)) {
    return value.map((item, index) => interpolateDeep(item, lookup, `${where}[${index}]`));
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      out[key] = interpolateDeep(item, lookup, where ? `${where}.${key}` : key);
    }
    return out;
  }
  return value;
}

/** Names of all variables a string refers to (for "is every variable documented" checks). */
export function referencedVariables(text: string): Set<string> {
  const names = new Set<string>();
  const pattern = /\$\{([A-Za-z_][A-Za-z0-9_]*)|\$([A-Za-z_][A-Za-z0-9_]*)/g;
  for (const match of text.replaceAll('$$', '').matchAll(pattern)) {
    names.add((match[1] ?? match[2])!);
  }
  return names;
}

/**
 * A reader for `.env` files as Docker Compose reads them: `KEY=VALUE` lines, `#` comments,
 * blank lines, optional `export ` and single or double quotes around the value.
 */
export class EnvFileError extends Error {
  readonly line: number;

  constructor(line: number, problem: string) {
    super(`line ${line}: ${problem}`);
    this.name = 'EnvFileError';
    this.line = line;
  }
}

const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Parses the text of an env file; throws {@link EnvFileError} naming the first bad line. */
export function parseEnvFile(text: string): Map<string, string> {
  const values = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, index) => {
    const lineNo = index + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const body = line.startsWith('export ') ? line.slice('export '.length).trim() : line;
    const eq = body.indexOf('=');
    if (eq <= 0) {
      throw new EnvFileError(lineNo, `expected KEY=VALUE, found "${body.slice(0, 40)}"`);
    }
    const key = body.slice(0, eq).trim();
    if (!KEY.test(key)) {
      throw new EnvFileError(lineNo, `"${key}" is not a valid variable name (letters, digits, _)`);
    }
    if (values.has(key)) {
      throw new EnvFileError(lineNo, `${key} is set twice; keep one line`);
    }
    values.set(key, unquote(body.slice(eq + 1).trim(), lineNo));
  });
  return values;
}

function unquote(value: string, lineNo: number): string {
  const quote = value[0];
  if (quote === '"' || quote === "'") {
    if (value.length < 2 || value[value.length - 1] !== quote) {
      throw new EnvFileError(lineNo, `the value opens with ${quote} but does not close with it`);
    }
    return value.slice(1, -1);
  }
  // An unquoted value ends at " #" (an inline comment).
  const comment = value.search(/\s#/);
  return comment === -1 ? value : value.slice(0, comment).trimEnd();
}

/**
 * A small lexer for a sql step's text: it splits the text into statements at top-level
 * semicolons and names each statement's leading keywords, skipping what PostgreSQL skips —
 * `--` and nested `/* *\/` comments, '…' and E'…' strings, "…" identifiers, $tag$…$tag$ bodies,
 * and the semicolons inside a `BEGIN ATOMIC … END` function body. It does not parse SQL; it
 * only needs to find where statements start, so the engine can run them one by one and refuse
 * the ones that would end the step's transaction.
 */
import { StepError } from './types.ts';

export interface SqlStatement {
  /** The statement's text, without the separating semicolon. */
  text: string;
  /** Up to three leading words, upper-cased, comments removed. */
  keywords: string[];
}

const WORD = /[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/y;
const DOLLAR_TAG = /\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/y;

function unterminated(what: string, offset: number): StepError {
  return new StepError(
    'SQL_INVALID_TEXT',
    `the step's SQL has an unterminated ${what} starting at offset ${offset}; close it`,
    { retryable: false, details: { offset } },
  );
}

/** Splits `sql` into its non-empty statements; throws SQL_INVALID_TEXT for unclosed quotes. */
export function splitStatements(sql: string): SqlStatement[] {
  const statements: SqlStatement[] = [];
  let start = 0;
  let words: string[] = [];
  let atomicDepth = 0;
  const finish = (end: number) => {
    const text = sql.slice(start, end).trim();
    if (words.length > 0) statements.push({ text, keywords: words.slice(0, 3) });
    words = [];
    atomicDepth = 0;
  };
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end + 1;
    } else if (c === '/' && next === '*') {
      const from = i;
      let depth = 1;
      i += 2;
      while (depth > 0) {
        if (i >= sql.length) throw unterminated('comment', from);
        if (sql[i] === '/' && sql[i + 1] === '*') {
          depth++;
          i += 2;
        } else if (sql[i] === '*' && sql[i + 1] === '/') {
          depth--;
          i += 2;
        } else i++;
      }
    } else if (c === "'" || c === '"') {
      const from = i;
      const escapes = c === "'" && /[eE]/.test(sql[i - 1] ?? '') && !/\w/.test(sql[i - 2] ?? '');
      i++;
      for (;;) {
        if (i >= sql.length) throw unterminated(c === '"' ? 'quoted identifier' : 'string', from);
        const d = sql[i]!;
        if (escapes && d === '\\') i += 2;
        else if (d === c && sql[i + 1] === c) i += 2;
        else if (d === c) {
          i++;
          break;
        } else i++;
      }
      if (words.length === 0) words.push(c === '"' ? 'IDENTIFIER' : 'STRING');
    } else if (c === '$' && !/[\w$]/.test(sql[i - 1] ?? '')) {
      DOLLAR_TAG.lastIndex = i;
      const tag = DOLLAR_TAG.exec(sql);
      if (!tag) {
        i++;
        continue;
      }
      const close = sql.indexOf(tag[0], i + tag[0].length);
      if (close === -1) throw unterminated(`${tag[0]} quoted body`, i);
      i = close + tag[0].length;
      if (words.length === 0) words.push('STRING');
    } else if (c === ';') {
      if (atomicDepth > 0) {
        i++;
        continue;
      }
      finish(i);
      i++;
      start = i;
    } else if (/[A-Za-z_\u0080-\uffff]/.test(c) && !/[\w$]/.test(sql[i - 1] ?? '')) {
      WORD.lastIndex = i;
      const word = WORD.exec(sql)![0].toUpperCase();
      i += word.length;
      const previous = words.at(-1);
      if (words.length < 8) words.push(word);
      // A SQL-standard function body (`BEGIN ATOMIC … END`) holds unquoted semicolons; inside
      // it, CASE … END and nested BEGIN … END pair up.
      if (word === 'ATOMIC' && previous === 'BEGIN' && words.length > 2) atomicDepth++;
      else if (atomicDepth > 0 && (word === 'CASE' || word === 'BEGIN')) atomicDepth++;
      else if (atomicDepth > 0 && word === 'END') atomicDepth--;
    } else {
      if (!/\s/.test(c) && words.length === 0) words.push(c);
      i++;
    }
  }
  finish(sql.length);
  return statements;
}

/**
 * Why a statement may not run inside the step's transaction, or undefined. These end or
 * escape the transaction the engine opened (so its statement timeout and rollback would no
 * longer apply) or change who the session is.
 */
export function transactionControl(keywords: readonly string[]): string | undefined {
  const [first, second, third] = keywords;
  switch (first) {
    case 'BEGIN':
    case 'COMMIT':
    case 'END':
    case 'ROLLBACK':
    case 'ABORT':
      return first;
    case 'START':
      return second === 'TRANSACTION' ? 'START TRANSACTION' : undefined;
    case 'PREPARE':
      return second === 'TRANSACTION' ? 'PREPARE TRANSACTION' : undefined;
    case 'SET':
    case 'RESET':
      if (first === 'RESET' && second === 'ALL') return 'RESET ALL';
      if (second === 'SESSION' && third === 'AUTHORIZATION')
        return `${first} SESSION AUTHORIZATION`;
      return undefined;
    default:
      return undefined;
  }
}

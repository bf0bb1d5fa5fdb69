/**
 * `.dockerignore` rules as BuildKit applies them: one pattern a line, `#` comments, `!` to
 * re-include, `*` and `?` within one path segment, `**` across segments, and a pattern that
 * matches a folder excludes everything in it. The last matching pattern decides.
 */
import {
  copyFileSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  symlinkSync,
} from 'node:fs';
import path from 'node:path';

export interface IgnoreRule {
  pattern: string;
  negate: boolean;
  regex: RegExp;
}

export function parseDockerignore(text: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    const pattern = path.posix
      .normalize((negate ? line.slice(1) : line).trim())
      .replace(/^\/+/, '')
      .replace(/\/+$/, '');
    if (pattern === '' || pattern === '.') continue;
    rules.push({ pattern, negate, regex: globToRegExp(pattern) });
  }
  return rules;
}

function globToRegExp(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i += 1) {
    const ch = pattern[i]!;
    if (ch === '*' && pattern[i + 1] === '*') {
      // `**/` matches zero or more folders; a trailing `**` matches everything below.
      if (pattern[i + 2] === '/') {
        source += '(?:.*/)?';
        i += 2;
      } else {
        source += '.*';
        i += 1;
      }
    } else if (ch === '*') {
      source += '[^/]*';
    } else if (ch === '?') {
      source += '[^/]';
    } else {
      source += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`);
}

/** Whether the context path (posix, relative to the context root) is left out of the build. */
export function isIgnored(relativePath: string, rules: readonly IgnoreRule[]): boolean {
  const segments = relativePath.split('/');
  let ignored = false;
  for (const rule of rules) {
    // A rule matches the path itself or any folder above it.
    for (let n = 1; n <= segments.length; n += 1) {
      if (rule.regex.test(segments.slice(0, n).join('/'))) {
        ignored = !rule.negate;
        break;
      }
    }
  }
  return ignored;
}

/**
 * Copies what `COPY . .` would see of `sourceDir` into `targetDir`: every file the rules keep.
 * Returns the number of files copied.
 */
export function copyBuildContext(
  sourceDir: string,
  targetDir: string,
  rules: readonly IgnoreRule[],
): number {
  let copied = 0;
  const walk = (relative: string) => {
    const from = path.join(sourceDir, relative);
    for (const entry of readdirSync(from)) {
      const rel = relative ? `${relative}/${entry}` : entry;
      if (isIgnored(rel, rules)) continue;
      const abs = path.join(sourceDir, rel);
      const stat = lstatSync(abs);
      const dest = path.join(targetDir, rel);
      if (stat.isDirectory()) {
        mkdirSync(dest, { recursive: true });
        walk(rel);
      } else if (stat.isSymbolicLink()) {
        symlinkSync(readlinkSync(abs), dest);
        copied += 1;
      } else if (stat.isFile()) {
        copyFileSync(abs, dest);
        copied += 1;
      }
    }
  };
  mkdirSync(targetDir, { recursive: true });
  walk('');
  return copied;
}

/**
 * A Dockerfile read into stages, on top of dockerfile-ast's parser: each stage's base image,
 * name and instructions, with `${ARG}` references resolvable from the ARG defaults.
 */
import dockerfileAst from 'dockerfile-ast';

export interface DockerInstruction {
  keyword: string;
  /** The arguments without flags, line continuations joined. */
  args: string;
  /** Flags such as `--mount=…` or `--from=build`, as written. */
  flags: string[];
  /** One-based line of the instruction. */
  line: number;
}

export interface DockerStage {
  /** The `AS` name, or the stage's index when it has none. */
  name: string;
  /** The image or stage it starts from, as written (may hold `${ARG}`). */
  from: string;
  instructions: DockerInstruction[];
}

export interface ParsedDockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  globalArgs: Map<string, string | undefined>;
  stages: DockerStage[];
}

export function parseDockerfile(text: string): ParsedDockerfile {
  const dockerfile = dockerfileAst.DockerfileParser.parse(text);
  const globalArgs = new Map<string, string | undefined>();
  const stages: DockerStage[] = [];
  for (const instruction of dockerfile.getInstructions()) {
    const keyword = instruction.getKeyword().toUpperCase();
    const flagged = instruction as unknown as { getFlags?: () => { toString(): string }[] };
    const item: DockerInstruction = {
      keyword,
      args: (instruction.getArgumentsContent() ?? '').trim(),
      flags: (flagged.getFlags?.() ?? []).map((flag) => flag.toString()),
      line: instruction.getRange().start.line + 1,
    };
    if (keyword === 'FROM') {
      const words = item.args.split(/\s+/);
      const asIndex = words.findIndex((w) => w.toUpperCase() === 'AS');
      stages.push({
        name: asIndex >= 0 ? words[asIndex + 1]! : String(stages.length),
        from: words[0]!,
        instructions: [],
      });
      continue;
    }
    const stage = stages[stages.length - 1];
    if (stage) {
      stage.instructions.push(item);
    } else if (keyword === 'ARG') {
      const [name, value] = splitAssignment(item.args);
      globalArgs.set(name, value);
    } else {
      throw new Error(
        `line ${item.line}: ${keyword} before the first FROM (only ARG may come first)`,
      );
    }
  }
  if (stages.length === 0) throw new Error('the Dockerfile has no FROM instruction');
  return { globalArgs, stages };
}

function splitAssignment(text: string): [string, string | undefined] {
  const eq = text.indexOf('=');
  if (eq === -1) return [text.trim(), undefined];
  return [
    text.slice(0, eq).trim(),
    text
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1'),
  ];
}

/** The ARGs a stage declares, with their defaults (undefined when it has none). */
export function stageArgs(stage: DockerStage): Map<string, string | undefined> {
  const args = new Map<string, string | undefined>();
  for (const instruction of stage.instructions) {
    if (instruction.keyword !== 'ARG') continue;
    const [name, value] = splitAssignment(instruction.args);
    args.set(name, value);
  }
  return args;
}

export function findStage(parsed: ParsedDockerfile, name: string): DockerStage {
  const stage = parsed.stages.find((s) => s.name === name);
  if (!stage) {
    const names = parsed.stages.map((s) => s.name).join(', ');
    throw new Error(`the Dockerfile has no stage named "${name}" (stages: ${names})`);
  }
  return stage;
}

/** Resolves a stage's base to an image reference: follows stage names, expands ARGs. */
export function resolveBaseImage(parsed: ParsedDockerfile, stageName: string): string {
  const seen = new Set<string>();
  let stage = findStage(parsed, stageName);
  for (;;) {
    if (seen.has(stage.name)) throw new Error(`stage ${stage.name} builds on itself`);
    seen.add(stage.name);
    const from = expandArgs(stage.from, parsed.globalArgs);
    const parent = parsed.stages.find((s) => s.name === from);
    if (!parent) return from;
    stage = parent;
  }
}

/** Expands `${NAME}` and `$NAME` with the given values; unknown names are an error. */
export function expandArgs(text: string, values: ReadonlyMap<string, string | undefined>): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_m, a, b) => {
    const name = (a ?? b) as string;
    const value = values.get(name);
    if (value === undefined) throw new Error(`\${${name}} has no value (no ARG default)`);
    return value;
  });
}

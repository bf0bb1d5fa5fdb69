/**
 * The compiled plan as the CLI shows it. `normalizeCompiledPlan` accepts the answer of
 * POST /v1/projects/{projectId}/plans with the execution plan's fields at the top level or
 * under `plan` / `executionPlan` (and the PlanRef's sha256 beside it), so the view does not
 * depend on how the api nests them.
 */

export interface StepView {
  id: string;
  kind: string;
  needs: string[];
}

export interface DecisionView {
  action: 'RUN' | 'SKIP' | string;
  reason: string;
}

export interface CompiledPlanView {
  planId: string;
  planVersion: string;
  sha256: string | null;
  steps: StepView[];
  /** Topological levels, ties broken by id. */
  levels: string[][];
  decisions: Record<string, DecisionView>;
  estimate: { durationMs: number; criticalPathMs?: number; basis?: string } | null;
  requiresApproval: boolean;
  approvalReasons: string[];
  source: { kind?: string; manifestSchemaVersion?: string; projectName?: string } | null;
  skippedAtImport: { uniqueId: string; reason: string }[];
  warnings: string[];
}

type Obj = Record<string, unknown>;

function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export function normalizeCompiledPlan(answer: unknown): CompiledPlanView {
  if (!isObj(answer)) throw new Error('the api answered the plan request without a JSON object');
  const candidates = [answer, answer.executionPlan, answer.plan].filter(isObj);
  const plan = candidates.find((c) => Array.isArray(c.steps)) ?? answer;
  const steps: StepView[] = (Array.isArray(plan.steps) ? plan.steps : [])
    .filter(isObj)
    .map((s) => ({
      id: String(s.id),
      kind: str(s.kind) ?? '?',
      needs: Array.isArray(s.needs) ? s.needs.map(String) : [],
    }));
  const order = isObj(plan.order) ? plan.order : {};
  const levels = Array.isArray(order.levels)
    ? order.levels.map((level) => (Array.isArray(level) ? level.map(String) : []))
    : levelsOf(steps);
  const decisions: Record<string, DecisionView> = {};
  if (isObj(plan.decisions)) {
    for (const [id, d] of Object.entries(plan.decisions)) {
      if (isObj(d)) decisions[id] = { action: str(d.action) ?? '?', reason: str(d.reason) ?? '' };
    }
  }
  const estimate =
    isObj(plan.estimate) && typeof plan.estimate.durationMs === 'number'
      ? {
          durationMs: plan.estimate.durationMs,
          ...(typeof plan.estimate.criticalPathMs === 'number'
            ? { criticalPathMs: plan.estimate.criticalPathMs }
            : {}),
          ...(str(plan.estimate.basis) ? { basis: str(plan.estimate.basis)! } : {}),
        }
      : null;
  const planRef = [answer.planRef, plan.planRef].find(isObj);
  const sha256 = str(answer.sha256) ?? str(plan.sha256) ?? str(planRef?.sha256) ?? null;
  const report = isObj(plan.report) ? plan.report : {};
  return {
    planId: str(plan.planId) ?? str(answer.planId) ?? '?',
    planVersion: str(plan.planVersion) ?? str(answer.planVersion) ?? '?',
    sha256,
    steps,
    levels,
    decisions,
    estimate,
    requiresApproval: plan.requiresApproval === true || answer.requiresApproval === true,
    approvalReasons: Array.isArray(plan.approvalReasons) ? plan.approvalReasons.map(String) : [],
    source: isObj(plan.source) ? (plan.source as CompiledPlanView['source']) : null,
    skippedAtImport: (Array.isArray(report.skipped) ? report.skipped : [])
      .filter(isObj)
      .map((s) => ({ uniqueId: String(s.uniqueId), reason: str(s.reason) ?? '' })),
    warnings: Array.isArray(report.warnings) ? report.warnings.map(String) : [],
  };
}

/**
 * Topological levels of steps (a step sits one level below its deepest need), ties broken by
 * id; steps caught in a cycle or needing unknown ids land in a last level of their own.
 */
export function levelsOf(steps: readonly StepView[]): string[][] {
  const byId = new Map(steps.map((s) => [s.id, s]));
  const depth = new Map<string, number>();
  const visiting = new Set<string>();
  const depthOf = (id: string): number => {
    const known = depth.get(id);
    if (known !== undefined) return known;
    const step = byId.get(id);
    if (!step || visiting.has(id)) return Number.POSITIVE_INFINITY;
    visiting.add(id);
    const d = step.needs.reduce((max, need) => Math.max(max, depthOf(need) + 1), 0);
    visiting.delete(id);
    depth.set(id, d);
    return d;
  };
  const levels: string[][] = [];
  const stranded: string[] = [];
  for (const step of steps) {
    const d = depthOf(step.id);
    if (!Number.isFinite(d)) stranded.push(step.id);
    else (levels[d] ??= []).push(step.id);
  }
  const result = levels.filter((l) => l !== undefined).map((l) => l.sort());
  if (stranded.length) result.push(stranded.sort());
  return result;
}

/** `850ms`, `12.3s`, `4m05s`, `1h02m`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const whole = Math.round(seconds);
  if (whole < 3600) return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`;
  return `${Math.floor(whole / 3600)}h${String(Math.floor((whole % 3600) / 60)).padStart(2, '0')}m`;
}

/** The ordered plan as text lines: header, levels with each step's decision, estimate. */
export function renderPlan(view: CompiledPlanView): string[] {
  const lines: string[] = [];
  const run = view.steps.filter((s) => (view.decisions[s.id]?.action ?? 'RUN') === 'RUN').length;
  lines.push(`plan ${view.planId} version ${view.planVersion}`);
  if (view.sha256) lines.push(`  sha256   ${view.sha256}`);
  if (view.source?.kind === 'dbt') {
    const parts = [
      view.source.projectName ? `project ${view.source.projectName}` : undefined,
      view.source.manifestSchemaVersion
        ? `manifest ${view.source.manifestSchemaVersion}`
        : undefined,
    ].filter(Boolean);
    lines.push(`  source   dbt${parts.length ? ` (${parts.join(', ')})` : ''}`);
  }
  lines.push(
    `  steps    ${view.steps.length} in ${view.levels.length} levels: ${run} RUN, ${view.steps.length - run} SKIP`,
  );
  if (view.estimate) {
    const critical =
      view.estimate.criticalPathMs !== undefined
        ? `, critical path ${formatDuration(view.estimate.criticalPathMs)}`
        : '';
    const basis = view.estimate.basis ? `, basis ${view.estimate.basis}` : '';
    lines.push(`  estimate ${formatDuration(view.estimate.durationMs)}${critical}${basis}`);
  }
  lines.push(`  requires approval: ${view.requiresApproval ? 'yes' : 'no'}`);
  for (const reason of view.approvalReasons) lines.push(`    - ${reason}`);

  const kindOf = new Map(view.steps.map((s) => [s.id, s.kind]));
  const idWidth = Math.min(48, Math.max(4, ...view.steps.map((s) => s.id.length)));
  const kindWidth = Math.max(4, ...view.steps.map((s) => s.kind.length));
  view.levels.forEach((level, index) => {
    lines.push('', `level ${index + 1} (${level.length} ${level.length === 1 ? 'step' : 'steps'})`);
    for (const id of level) {
      const decision = view.decisions[id] ?? { action: 'RUN', reason: '' };
      const reason = decision.reason ? `  ${decision.reason}` : '';
      lines.push(
        `  ${decision.action.padEnd(4)} ${id.padEnd(idWidth)}  ${(kindOf.get(id) ?? '?').padEnd(kindWidth)}${reason}`.trimEnd(),
      );
    }
  });
  if (view.skippedAtImport.length) {
    lines.push('', `not imported (${view.skippedAtImport.length}):`);
    for (const s of view.skippedAtImport) lines.push(`  ${s.uniqueId}  ${s.reason}`);
  }
  if (view.warnings.length) {
    lines.push('', 'warnings:');
    for (const w of view.warnings) lines.push(`  ${w}`);
  }
  return lines;
}

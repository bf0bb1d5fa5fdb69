/**
 * Live progress of a run, built only from its events (DESIGN §6): which steps are done, which
 * run now, which failed and why, and the run's status. The same rules as the store's read
 * model: steps announced by RunQueued/RunStarted (`payload.stepIds`) start PENDING, each step
 * event moves its step, run events move the run. A failed attempt that will be retried
 * (`payload.willRetry`) is shown as a failure but does not count the step as done.
 *
 * Two renderings: on a TTY a frame (progress bar, running steps) redrawn in place, with
 * failures and run-level changes printed above it as they happen; elsewhere one line per event.
 */
import { formatDuration } from './plan-view.ts';

/** The fields of a run event the CLI reads (a RunEvent of @dvt/contracts has them all). */
export interface ProgressEvent {
  runSeq: number;
  eventType: string;
  stepId?: string | null;
  attempt?: number | null;
  payload?: Record<string, unknown> | null;
  emittedAt?: string;
}

export type StepState = 'PENDING' | 'RUNNING' | 'RETRYING' | 'COMPLETED' | 'FAILED' | 'SKIPPED';

export interface StepFailure {
  stepId: string;
  attempt: number | null;
  error: string;
  willRetry: boolean;
}

const TERMINAL_RUN: Record<string, string> = {
  RunCompleted: 'COMPLETED',
  RunFailed: 'FAILED',
  RunCancelled: 'CANCELLED',
};

const DONE: ReadonlySet<StepState> = new Set(['COMPLETED', 'FAILED', 'SKIPPED']);

export class RunProgress {
  readonly runId: string;
  status = 'QUEUED';
  waitingApproval = false;
  lastSeq = 0;
  runError: string | null = null;
  readonly steps = new Map<string, StepState>();
  readonly failures: StepFailure[] = [];
  readonly #expectedTotal: number;

  /** `expectedSteps`: the plan's step count when known (the bar's total before RunStarted). */
  constructor(runId: string, expectedSteps = 0) {
    this.runId = runId;
    this.#expectedTotal = expectedSteps;
  }

  get total(): number {
    return Math.max(this.#expectedTotal, this.steps.size);
  }

  get done(): number {
    let n = 0;
    for (const state of this.steps.values()) if (DONE.has(state)) n += 1;
    return n;
  }

  count(state: StepState): number {
    let n = 0;
    for (const s of this.steps.values()) if (s === state) n += 1;
    return n;
  }

  /** Steps running now (a retried step between attempts counts), by id. */
  get running(): string[] {
    return [...this.steps]
      .filter(([, s]) => s === 'RUNNING' || s === 'RETRYING')
      .map(([id]) => id)
      .sort();
  }

  get ended(): boolean {
    return this.status === 'COMPLETED' || this.status === 'FAILED' || this.status === 'CANCELLED';
  }

  /**
   * Applies one event; returns false (and changes nothing) for an event at or before the last
   * runSeq applied — a replay after a reconnect.
   */
  apply(event: ProgressEvent): boolean {
    if (event.runSeq <= this.lastSeq) return false;
    this.lastSeq = event.runSeq;
    const payload = event.payload ?? {};
    const stepId = event.stepId ?? null;
    if (
      (event.eventType === 'RunQueued' || event.eventType === 'RunStarted') &&
      Array.isArray(payload.stepIds)
    ) {
      for (const id of payload.stepIds)
        if (!this.steps.has(String(id))) this.steps.set(String(id), 'PENDING');
    }
    if (stepId && event.eventType.startsWith('Step')) this.#applyStep(stepId, event, payload);
    switch (event.eventType) {
      case 'RunStarted':
      case 'RunResumed':
        if (!this.ended) this.status = 'RUNNING';
        break;
      case 'RunPaused':
        if (!this.ended) this.status = 'PAUSED';
        break;
      case 'ApprovalRequested':
        this.waitingApproval = true;
        break;
      case 'ApprovalGranted':
        this.waitingApproval = false;
        break;
    }
    const terminal = TERMINAL_RUN[event.eventType];
    if (terminal && !this.ended) {
      this.status = terminal;
      this.waitingApproval = false;
      if (payload.error !== undefined) this.runError = errorText(payload.error);
    }
    return true;
  }

  #applyStep(stepId: string, event: ProgressEvent, payload: Record<string, unknown>): void {
    switch (event.eventType) {
      case 'StepStarted':
        this.steps.set(stepId, 'RUNNING');
        break;
      case 'StepCompleted':
        this.steps.set(stepId, 'COMPLETED');
        break;
      case 'StepSkipped':
        this.steps.set(stepId, 'SKIPPED');
        break;
      case 'StepFailed': {
        const willRetry = payload.willRetry === true;
        this.steps.set(stepId, willRetry ? 'RETRYING' : 'FAILED');
        this.failures.push({
          stepId,
          attempt: event.attempt ?? null,
          error: errorText(payload.error ?? payload.message ?? 'failed'),
          willRetry,
        });
        break;
      }
    }
  }
}

/** `{ code, message }` → `CODE: message`; strings as they are; anything else as JSON. */
export function errorText(error: unknown): string {
  if (typeof error === 'string') return error;
  if (typeof error === 'object' && error !== null) {
    const e = error as Record<string, unknown>;
    const message =
      typeof e.message === 'string'
        ? e.message
        : typeof e.detail === 'string'
          ? e.detail
          : undefined;
    if (message !== undefined)
      return typeof e.code === 'string' ? `${e.code}: ${message}` : message;
  }
  return JSON.stringify(error);
}

export function progressBar(
  done: number,
  total: number,
  width: number,
  fill = '#',
  empty = '-',
): string {
  const ratio = total > 0 ? Math.min(1, done / total) : 0;
  const filled = Math.round(ratio * width);
  return `[${fill.repeat(filled)}${empty.repeat(width - filled)}]`;
}

function statusLabel(p: RunProgress): string {
  return p.waitingApproval ? `${p.status} (waiting for approval)` : p.status;
}

function fit(text: string, width: number): string {
  return text.length > width ? `${text.slice(0, Math.max(0, width - 1))}…` : text;
}

/** The in-place frame: status + bar + counts, then the steps running now. */
export function renderFrame(
  p: RunProgress,
  options: { width: number; elapsedMs?: number; unicode?: boolean },
): string[] {
  const width = Math.max(40, options.width);
  const counts = [
    `${p.count('COMPLETED')} ok`,
    p.count('FAILED') ? `${p.count('FAILED')} failed` : undefined,
    p.count('SKIPPED') ? `${p.count('SKIPPED')} skipped` : undefined,
  ].filter(Boolean);
  const elapsed = options.elapsedMs !== undefined ? `  ${formatDuration(options.elapsedMs)}` : '';
  const bar = options.unicode
    ? progressBar(p.done, p.total, 24, '█', '░')
    : progressBar(p.done, p.total, 24);
  const head = `${statusLabel(p)} ${bar} ${p.done}/${p.total} steps (${counts.join(', ')})${elapsed}`;
  const running = p.running;
  let runningLine = `running (${running.length}): `;
  if (running.length === 0) runningLine += '-';
  else {
    const shown: string[] = [];
    for (const id of running) {
      const rest = running.length - shown.length - 1;
      const candidate = [...shown, id].join(', ') + (rest > 0 ? `, +${rest} more` : '');
      if (runningLine.length + candidate.length > width && shown.length > 0) break;
      shown.push(id);
    }
    const more = running.length - shown.length;
    runningLine += shown.join(', ') + (more > 0 ? `, +${more} more` : '');
  }
  return [fit(head, width), fit(runningLine, width)];
}

/**
 * One line for an event (non-TTY output), prefixed with the progress after it when `p` is
 * given (a listing that starts mid-run has no meaningful progress).
 */
export function describeEvent(event: ProgressEvent, p: RunProgress | null): string {
  const payload = event.payload ?? {};
  const counter = p ? `[${String(p.done).padStart(String(p.total).length)}/${p.total}] ` : '';
  const attempt = event.attempt ? ` (attempt ${event.attempt})` : '';
  const step = event.stepId ? ` ${event.stepId}` : '';
  let tail = '';
  switch (event.eventType) {
    case 'StepStarted':
      tail = attempt;
      break;
    case 'StepCompleted':
      tail =
        typeof payload.durationMs === 'number' ? ` in ${formatDuration(payload.durationMs)}` : '';
      break;
    case 'StepFailed':
      tail = `${attempt}: ${errorText(payload.error ?? payload.message ?? 'failed')}${payload.willRetry === true ? ' — will retry' : ''}`;
      break;
    case 'StepSkipped':
      tail = typeof payload.reason === 'string' ? `: ${payload.reason}` : '';
      break;
    case 'RunFailed':
    case 'RunCancelled':
      tail = payload.error !== undefined ? `: ${errorText(payload.error)}` : '';
      break;
    case 'ApprovalRequested':
      tail = typeof payload.reason === 'string' ? `: ${payload.reason}` : '';
      break;
  }
  return `${counter}#${event.runSeq} ${event.eventType}${step}${tail}`;
}

/** Events that stay on screen above the TTY frame. */
function isNotable(event: ProgressEvent): boolean {
  return (
    event.eventType === 'StepFailed' ||
    event.eventType in TERMINAL_RUN ||
    event.eventType === 'RunPaused' ||
    event.eventType === 'RunResumed' ||
    event.eventType === 'ApprovalRequested' ||
    event.eventType === 'ApprovalGranted'
  );
}

export interface ProgressRenderer {
  onEvent(event: ProgressEvent): void;
  /** Redraws (TTY: the elapsed time moves); no-op for line output. */
  tick(): void;
  /** A message about the connection (reconnecting, falling back to polling). */
  notice(text: string): void;
  finish(): void;
}

export interface RendererOptions {
  write: (text: string) => void;
  progress: RunProgress;
  /** Terminal width in columns. */
  columns?: number;
  /** Clock in epoch ms, for the elapsed time. */
  now?: () => number;
  /** Line output: prefix each line with done/total (default true). */
  counter?: boolean;
}

/** One line per event, for logs and pipes. */
export function createLineRenderer(options: RendererOptions): ProgressRenderer {
  const { write, progress } = options;
  return {
    onEvent(event) {
      if (progress.apply(event)) {
        write(describeEvent(event, options.counter === false ? null : progress) + '\n');
      }
    },
    tick() {},
    notice(text) {
      write(`dvt: ${text}\n`);
    },
    finish() {},
  };
}

/** A frame redrawn in place with ANSI cursor movement; notable events scroll above it. */
export function createTtyRenderer(options: RendererOptions): ProgressRenderer {
  const { write, progress } = options;
  const now = options.now ?? Date.now;
  const started = now();
  let drawn = 0;
  const clear = () => {
    // Cursor up to the frame's first line, then erase to the end of the screen.
    if (drawn > 0) write(`\x1b[${drawn}F\x1b[0J`);
    drawn = 0;
  };
  const draw = () => {
    const lines = renderFrame(progress, {
      width: (options.columns ?? 80) - 1,
      elapsedMs: now() - started,
      unicode: true,
    });
    write(lines.join('\n') + '\n');
    drawn = lines.length;
  };
  return {
    onEvent(event) {
      if (!progress.apply(event)) return;
      clear();
      if (isNotable(event)) write(describeEvent(event, progress) + '\n');
      draw();
    },
    tick() {
      clear();
      draw();
    },
    notice(text) {
      clear();
      write(`dvt: ${text}\n`);
      draw();
    },
    finish() {
      clear();
      draw();
    },
  };
}

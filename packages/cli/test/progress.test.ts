import { describe, expect, it } from 'vitest';
import {
  createLineRenderer,
  createTtyRenderer,
  describeEvent,
  progressBar,
  renderFrame,
  RunProgress,
  type ProgressEvent,
} from '../src/progress.ts';

let seq = 0;
function ev(
  eventType: string,
  stepId: string | null = null,
  payload: Record<string, unknown> = {},
  attempt: number | null = null,
): ProgressEvent {
  seq += 1;
  return { runSeq: seq, eventType, stepId, attempt, payload };
}

function script(): ProgressEvent[] {
  seq = 0;
  return [
    ev('RunQueued', null, { stepIds: ['a', 'b', 'c', 'd'] }),
    ev('RunStarted'),
    ev('StepStarted', 'a', {}, 1),
    ev('StepStarted', 'b', {}, 1),
    ev('StepCompleted', 'a', { durationMs: 1500 }, 1),
    ev(
      'StepFailed',
      'b',
      { error: { code: 'HTTP_STATUS', message: 'expected 200, got 503' }, willRetry: true },
      1,
    ),
    ev('StepStarted', 'b', {}, 2),
    ev(
      'StepFailed',
      'b',
      { error: { code: 'HTTP_STATUS', message: 'expected 200, got 503' }, willRetry: false },
      2,
    ),
    ev('StepSkipped', 'c', { reason: 'an upstream step failed' }),
    ev('StepSkipped', 'd', { reason: 'an upstream step failed' }),
    ev('RunFailed', null, { error: { code: 'STEP_FAILED', message: 'step b failed' } }),
  ];
}

describe('RunProgress', () => {
  it('follows steps through a run with a retried failure', () => {
    const events = script();
    const p = new RunProgress('r1');
    const seen: string[] = [];
    for (const e of events) {
      p.apply(e);
      seen.push(`${p.status} ${p.done}/${p.total} running=${p.running.join(',')}`);
    }
    expect(seen).toEqual([
      'QUEUED 0/4 running=',
      'RUNNING 0/4 running=',
      'RUNNING 0/4 running=a',
      'RUNNING 0/4 running=a,b',
      'RUNNING 1/4 running=b',
      'RUNNING 1/4 running=b',
      'RUNNING 1/4 running=b',
      'RUNNING 2/4 running=',
      'RUNNING 3/4 running=',
      'RUNNING 4/4 running=',
      'FAILED 4/4 running=',
    ]);
    expect(p.failures).toEqual([
      { stepId: 'b', attempt: 1, error: 'HTTP_STATUS: expected 200, got 503', willRetry: true },
      { stepId: 'b', attempt: 2, error: 'HTTP_STATUS: expected 200, got 503', willRetry: false },
    ]);
    expect(p.runError).toBe('STEP_FAILED: step b failed');
    expect(p.ended).toBe(true);
  });

  it('ignores a replayed event (runSeq at or before the last applied)', () => {
    const events = script().slice(0, 5);
    const p = new RunProgress('r1');
    for (const e of events) expect(p.apply(e)).toBe(true);
    const startedA = events[2]!;
    expect(p.apply(startedA)).toBe(false);
    expect(p.apply({ ...startedA, runSeq: 5 })).toBe(false);
    expect(p.steps.get('a')).toBe('COMPLETED');
    expect(p.lastSeq).toBe(5);
  });

  it('uses the expected step count until steps are announced, and tracks approvals and pauses', () => {
    seq = 0;
    const p = new RunProgress('r1', 7);
    expect(p.total).toBe(7);
    p.apply(ev('ApprovalRequested', 'sign-off', { reason: 'plan needs sign-off' }));
    expect(p.waitingApproval).toBe(true);
    p.apply(ev('RunPaused'));
    expect(p.status).toBe('PAUSED');
    p.apply(ev('ApprovalGranted', 'sign-off'));
    p.apply(ev('RunResumed'));
    expect([p.status, p.waitingApproval]).toEqual(['RUNNING', false]);
    p.apply(ev('RunCancelled'));
    p.apply(ev('RunResumed'));
    expect(p.status).toBe('CANCELLED');
  });
});

describe('rendering', () => {
  it('draws a bar of done/total', () => {
    expect(progressBar(0, 4, 8)).toBe('[--------]');
    expect(progressBar(1, 4, 8)).toBe('[##------]');
    expect(progressBar(4, 4, 8)).toBe('[########]');
    expect(progressBar(0, 0, 4)).toBe('[----]');
  });

  it('renders the frame: status, bar, counts, elapsed, running steps (cut to the width)', () => {
    const events = script();
    const p = new RunProgress('r1');
    for (const e of events.slice(0, 5)) p.apply(e);
    expect(renderFrame(p, { width: 100, elapsedMs: 65_000 })).toEqual([
      'RUNNING [######------------------] 1/4 steps (1 ok)  1m05s',
      'running (1): b',
    ]);
    seq = 100;
    for (const id of ['x1', 'x2', 'x3', 'x4', 'x5'])
      p.apply(ev('StepStarted', `model.shop.${id}_long_name`, {}, 1));
    const [, running] = renderFrame(p, { width: 60 });
    expect(running).toBe('running (6): b, model.shop.x1_long_name, +4 more');
    expect(running!.length).toBeLessThanOrEqual(60);
  });

  it('prints one line per event, with progress, for non-TTY output', () => {
    const events = script();
    let out = '';
    const renderer = createLineRenderer({
      write: (t) => (out += t),
      progress: new RunProgress('r1'),
    });
    for (const e of events) renderer.onEvent(e);
    renderer.onEvent(events[4]!); // a replay prints nothing
    expect(out.split('\n')).toEqual([
      '[0/4] #1 RunQueued',
      '[0/4] #2 RunStarted',
      '[0/4] #3 StepStarted a (attempt 1)',
      '[0/4] #4 StepStarted b (attempt 1)',
      '[1/4] #5 StepCompleted a in 1.5s',
      '[1/4] #6 StepFailed b (attempt 1): HTTP_STATUS: expected 200, got 503 — will retry',
      '[1/4] #7 StepStarted b (attempt 2)',
      '[2/4] #8 StepFailed b (attempt 2): HTTP_STATUS: expected 200, got 503',
      '[3/4] #9 StepSkipped c: an upstream step failed',
      '[4/4] #10 StepSkipped d: an upstream step failed',
      '[4/4] #11 RunFailed: STEP_FAILED: step b failed',
      '',
    ]);
  });

  it('describes an event without a counter when there is no progress', () => {
    seq = 41;
    expect(describeEvent(ev('StepSkipped', 'x', { reason: 'disabled' }), null)).toBe(
      '#42 StepSkipped x: disabled',
    );
  });

  it('redraws the TTY frame in place and keeps failures above it', () => {
    const events = script();
    let out = '';
    let clock = 0;
    const renderer = createTtyRenderer({
      write: (t) => (out += t),
      progress: new RunProgress('r1'),
      columns: 81,
      now: () => clock,
    });
    for (const e of events.slice(0, 6)) {
      clock += 1000;
      renderer.onEvent(e);
    }
    const up = '\x1b[2F\x1b[0J';
    // First frame drawn without erasing; every later event erases the 2-line frame first.
    expect(
      out.startsWith('QUEUED [░░░░░░░░░░░░░░░░░░░░░░░░] 0/4 steps (0 ok)  1.0s\nrunning (0): -\n'),
    ).toBe(true);
    expect(out.split(up).length - 1).toBe(5);
    const last = out.slice(out.lastIndexOf(up) + up.length);
    expect(last).toBe(
      '[1/4] #6 StepFailed b (attempt 1): HTTP_STATUS: expected 200, got 503 — will retry\n' +
        'RUNNING [██████░░░░░░░░░░░░░░░░░░] 1/4 steps (1 ok)  6.0s\n' +
        'running (1): b\n',
    );
    // Plain step events are not kept on screen.
    expect(out).not.toContain('#3 StepStarted');
  });
});

import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, commonEnv, loadConfig, temporalEnv } from '../src/index.ts';

const schema = z.object({ ...commonEnv, ...temporalEnv });
const good = {
  DATABASE_URL: 'postgres://dvt:s3cret-pass@127.0.0.1:5432/dvt',
  INTERNAL_API_TOKEN: 'a-long-internal-token',
  TEMPORAL_ADDRESS: '127.0.0.1:7233',
};

describe('loadConfig', () => {
  it('applies defaults and freezes the result', () => {
    const config = loadConfig(schema, good);
    expect(config.TEMPORAL_TASK_QUEUE).toBe('dvt-runs');
    expect(config.TEMPORAL_NAMESPACE).toBe('default');
    expect(config.SHUTDOWN_GRACE_MS).toBe(10_000);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('names a missing variable in one line', () => {
    const { DATABASE_URL: _omit, ...rest } = good;
    expect(() => loadConfig(schema, rest)).toThrowError(
      'invalid configuration: DATABASE_URL: is required but not set',
    );
  });

  it('names a malformed variable without printing its value', () => {
    let error: unknown;
    try {
      loadConfig(schema, {
        ...good,
        TEMPORAL_ADDRESS: 'http://hunter2-host',
        INTERNAL_API_TOKEN: 'short',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain('TEMPORAL_ADDRESS: must be host:port');
    expect(message).toContain('INTERNAL_API_TOKEN: must be at least 16 characters');
    expect(message).not.toContain('hunter2');
    expect(message).not.toContain('short');
    expect(message.split('\n')).toHaveLength(1);
  });

  it('treats empty strings as unset', () => {
    const config = loadConfig(schema, { ...good, TEMPORAL_NAMESPACE: '' });
    expect(config.TEMPORAL_NAMESPACE).toBe('default');
  });
});

import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface ServiceMetrics {
  registry: Registry;
  httpDuration: Histogram<'method' | 'route' | 'status'>;
  dependencyUp: Counter<'dependency' | 'result'>;
}

/** A registry per service (never the global one), with process metrics and HTTP timings. */
export function createMetrics(service: string): ServiceMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: 'dvt_' });
  const httpDuration = new Histogram({
    name: 'dvt_http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const dependencyUp = new Counter({
    name: 'dvt_health_probe_total',
    help: 'Readiness probe results per dependency',
    labelNames: ['dependency', 'result'],
    registers: [registry],
  });
  return { registry, httpDuration, dependencyUp };
}

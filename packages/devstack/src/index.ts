export * from './paths.ts';
export * from './process.ts';
export * from './infra.ts';

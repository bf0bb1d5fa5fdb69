export * from './compose.ts';
export * from './dockerfile.ts';
export * from './dockerignore.ts';
export * from './env-file.ts';
export * from './interpolate.ts';
export * from './paths.ts';

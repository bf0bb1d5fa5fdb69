export { importManifest } from './import.ts';
export type {
  DbtImportOptions,
  DbtImportPolicies,
  DbtImportReport,
  DbtImportResult,
  DbtPlan,
  ResourcePolicy,
} from './import.ts';
export { SUPPORTED_SCHEMA_VERSIONS, parseManifest, schemaVersionOf } from './manifest.ts';
export type { DbtNode, ParsedManifest } from './manifest.ts';
export { buildDbtGraph } from './graph.ts';
export type { DbtGraph } from './graph.ts';
export {
  indirectSelectionModes,
  parseSelectorArgs,
  selectNodes,
  selectorMethods,
} from './selector.ts';
export type {
  IndirectSelection,
  SelectionResult,
  SelectorCriterion,
  SelectorIntersection,
} from './selector.ts';

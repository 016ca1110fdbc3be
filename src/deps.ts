// The composition root lives in src/composition/root.ts; these names stay for the modules
// that type what they take from it.
export type { BackendName, Root as Deps } from './composition/root.js';

import { artifactKey, type ArtifactTarget } from '../../src/domain/artifact.js';

/**
 * The search tags of an artifact upload: its object key, and the request (seed 003's
 * request_id, or a debug bundle's validation run) it belongs to.
 */
export function artifactTags(target: ArtifactTarget): string[] {
  const request = target.kind === 'debug-bundle' ? target.validation_run_id : target.request_id;
  return [`artifact:${artifactKey(target)}`, `request:${request}`];
}

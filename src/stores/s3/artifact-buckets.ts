import type { Config } from '../../config.js';
import type { ArtifactKind } from '../../domain/artifact.js';

/** The configuration keys naming the artifact buckets. */
export type ArtifactBucketConfig = Pick<
  Config,
  'ARTIFACT_BUCKET_SAMPLES' | 'ARTIFACT_BUCKET_TA_BUNDLES' | 'ARTIFACT_BUCKET_DEBUG_BUNDLES'
>;

/** The bucket of each artifact kind (seed 003: one bucket per kind); the one place that maps them. */
export function artifactBuckets(
  config: ArtifactBucketConfig,
): Readonly<Record<ArtifactKind, string>> {
  return {
    sample: config.ARTIFACT_BUCKET_SAMPLES,
    'ta-bundle': config.ARTIFACT_BUCKET_TA_BUNDLES,
    'debug-bundle': config.ARTIFACT_BUCKET_DEBUG_BUNDLES,
  };
}

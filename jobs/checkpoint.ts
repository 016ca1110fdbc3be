/**
 * The job data key under which resumable state rides along with the payload (written by the
 * worker runtime, hidden from every reader of a job).
 */
export const CHECKPOINT_KEY = '$checkpoint';

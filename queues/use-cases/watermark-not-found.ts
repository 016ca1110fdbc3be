import { NotFoundError } from '../../src/errors/index.js';

/** No run was ever recorded for the source; collectors read this as "first collection". */
export function watermarkNotFound(sourceId: string): NotFoundError {
  return new NotFoundError(`no watermark for source "${sourceId}" yet`, { source_id: sourceId }, [
    { path: 'source_id', message: 'no run has been recorded for this source' },
  ]);
}

import { ConflictError } from './request-errors.js';

/**
 * A configuration write named a version that is not the key's current one (another write
 * came first, or the key does not exist, or exists where 0 was named): 409, with the
 * current version the caller must read and name.
 */
export class ConfigVersionConflictError extends ConflictError {
  constructor(
    readonly key: string,
    readonly expectedVersion: number,
    readonly currentVersion: number,
  ) {
    super(
      currentVersion === 0
        ? `config key "${key}" does not exist; create it with version 0 (or none), not ${expectedVersion}`
        : `config key "${key}" is at version ${currentVersion}, not ${expectedVersion}; read it and write again naming ${currentVersion}`,
      { key, expected_version: expectedVersion, current_version: currentVersion },
      [{ path: 'version', message: `stale: the current version is ${currentVersion}` }],
    );
  }
}

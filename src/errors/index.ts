export { StowageError, type ErrorContext } from './stowage-error.js';
export { PermanentError } from './permanent-error.js';
export { TransientError } from './transient-error.js';
export { SaturationError, isSaturation } from './saturation-error.js';
export { ValidationError, type FieldIssue } from './validation-error.js';
export { isPermanent } from './classify.js';
export { StartupRefusedError } from './startup-refused-error.js';
export { NotFoundError, ForbiddenError, ConflictError } from './request-errors.js';
export {
  ERROR_CODES,
  ERROR_CODE_NAMES,
  statusOf,
  isErrorCode,
  type ErrorCode,
  type ErrorKind,
  type ErrorCodeEntry,
} from './error-codes.js';

import type { ErrorRequestHandler } from 'express';
import { StowageError, ValidationError, type FieldIssue } from '../errors/index.js';
import { HttpProblem } from './problem.js';

// The statuses of the use-case codes whose answers name fields (context.errors); every other
// error goes to the error middleware as it is.
// TODO(merge): take these from the error-code catalogue once it exists (src/errors/error-codes.ts).
const STATUS: Record<string, number> = {
  not_found: 404,
  unknown_job_type: 404,
  forbidden: 403,
  conflict: 409,
  artifact_exists: 409,
};

function fieldIssues(value: unknown): FieldIssue[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value.filter(
    (v): v is FieldIssue =>
      typeof (v as FieldIssue | undefined)?.path === 'string' &&
      typeof (v as FieldIssue).message === 'string',
  );
}

/**
 * A use case's error as the problem the route always answered: a StowageError whose context
 * names fields (`errors`) keeps them in the problem document.
 */
export function problemOf(err: unknown): unknown {
  if (!(err instanceof StowageError) || err instanceof ValidationError) return err;
  const status = STATUS[err.code];
  const errors = fieldIssues(err.context.errors);
  if (status === undefined || errors === undefined) return err;
  return new HttpProblem(status, err.code, err.message, errors);
}

/** Router-level error middleware: translates use-case errors, then lets the app's handler answer. */
export const useCaseProblems: ErrorRequestHandler = (err, _req, _res, next) => {
  next(problemOf(err));
};

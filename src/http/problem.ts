import type { ErrorRequestHandler, Response } from 'express';
import { StowageError, statusOf, type ErrorCode, type FieldIssue } from '../errors/index.js';
import type { Logger } from '../log.js';
import { classifyRedisError } from '../stores/redis/classify-redis-error.js';

/** An RFC 9457 problem document, with the failing fields when there are any. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  errors?: FieldIssue[];
  /** A stale configuration write (409): the key's current version. */
  current_version?: number;
  /** A quota refusal (429): which quota of TENANT_QUOTAS, and its limit. */
  quota?: string;
  limit?: number;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  507: 'Insufficient Storage',
};

/** Raised by routes to answer with a problem document. */
export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    detail: string,
    readonly errors?: FieldIssue[],
  ) {
    super(detail);
    this.name = 'HttpProblem';
  }

  /** The problem of a catalogued code, at the status the catalogue gives it. */
  static of(code: ErrorCode, detail: string, errors?: FieldIssue[]): HttpProblem {
    return new HttpProblem(statusOf(code), code, detail, errors);
  }
}

/** The failing fields an error names: a ValidationError's, or a request error's. */
/** The failing fields of an error: its `issues`, or the `errors` a use case put in its context. */
function issuesOf(err: StowageError): FieldIssue[] | undefined {
  const issues = (err as { issues?: unknown }).issues ?? err.context.errors;
  if (!Array.isArray(issues)) return undefined;
  return issues.filter(
    (v): v is FieldIssue =>
      typeof (v as FieldIssue | undefined)?.path === 'string' &&
      typeof (v as FieldIssue).message === 'string',
  );
}

/** The problem document of a status, code and detail: its type URI and title filled in. */
export function problemDocument(problem: Omit<Problem, 'type' | 'title'>): Problem {
  return {
    type: `https://stowage.dev/problems/${problem.code}`,
    title: TITLES[problem.status] ?? 'Error',
    ...problem,
  };
}

/** Writes a problem document. */
export function sendProblem(res: Response, problem: Omit<Problem, 'type' | 'title'>): void {
  res
    .status(problem.status)
    .type('application/problem+json')
    .send(JSON.stringify(problemDocument(problem)));
}

/** Maps body-parser's errors (malformed JSON, too large, bad charset) to problems. */
function fromBodyParser(err: { type?: string; status?: number; message?: string }) {
  switch (err.type) {
    case 'entity.parse.failed':
      return new HttpProblem(
        400,
        'invalid_json',
        `request body is not valid JSON: ${err.message ?? ''}`,
        [{ path: '(body)', message: 'malformed JSON' }],
      );
    case 'entity.too.large':
      return new HttpProblem(413, 'payload_too_large', 'request body is larger than the limit');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new HttpProblem(415, 'unsupported_media_type', err.message ?? 'unsupported encoding');
    default:
      return err.status !== undefined && err.status >= 400 && err.status < 500
        ? new HttpProblem(err.status, 'bad_request', err.message ?? 'bad request')
        : undefined;
  }
}

/** The one error middleware: every error becomes problem+json; only the unexpected is a 500. */
export function problemHandler(log: Logger): ErrorRequestHandler {
  return (thrown: unknown, req, res, next) => {
    if (res.headersSent) {
      // Answered already (a 413 cut a body off, say): a reader of the dropped body that
      // fails afterwards has no one left to tell.
      if (!res.writableEnded) next(thrown);
      return;
    }
    // Redis lost under a request (a restart, an outage) is a 503 to retry, not a bug.
    const err = classifyRedisError(thrown);
    const problem =
      err instanceof HttpProblem
        ? err
        : err instanceof StowageError
          ? HttpProblem.of(err.code, err.message, issuesOf(err))
          : fromBodyParser(err as { type?: string });
    if (problem) {
      if (problem.status === 503) {
        log.warn({ err, method: req.method, path: req.path }, 'backend unavailable; answered 503');
        res.set('Retry-After', '1');
      }
      sendProblem(res, {
        status: problem.status,
        code: problem.code,
        detail: problem.message,
        ...(problem.errors ? { errors: problem.errors } : {}),
      });
      return;
    }
    log.error({ err, method: req.method, path: req.path }, 'unexpected error in request');
    sendProblem(res, {
      status: 500,
      code: 'internal',
      detail: 'unexpected error; see the api log',
    });
  };
}

/** One failing field of a problem document: where (`iocs.3.confidence`) and why. */
export interface ProblemField {
  path: string;
  message: string;
}

/** What the API said about a refused request (RFC 9457 problem+json, or whatever came back). */
export interface ProblemBody {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  code?: string;
  errors?: ProblemField[];
  /** A stale `PUT /v1/config/{key}` (409): the version the write must name. */
  current_version?: number;
}

/**
 * The API answered with an error status. `code` is the problem's stable code (`invalid_payload`,
 * `not_found`, …; `http_<status>` when the body was not a problem document) and `errors` names
 * each failing field.
 */
export class StowageApiError extends Error {
  override readonly name = 'StowageApiError';
  readonly status: number;
  readonly code: string;
  readonly errors: ProblemField[];
  readonly problem: ProblemBody;

  constructor(
    readonly method: string,
    readonly path: string,
    status: number,
    problem: ProblemBody,
  ) {
    const detail = problem.detail ?? problem.title ?? `HTTP ${status}`;
    const fields = (problem.errors ?? []).map((e) => `${e.path}: ${e.message}`).join('; ');
    super(`${method} ${path} → ${status} ${detail}${fields ? ` (${fields})` : ''}`);
    this.status = status;
    this.code = problem.code ?? `http_${status}`;
    this.errors = problem.errors ?? [];
    this.problem = problem;
  }

  /** Whether sending the same request again may succeed (a backend was unavailable). */
  get retryable(): boolean {
    return this.status === 502 || this.status === 503 || this.status === 504;
  }
}

import type { IncomingMessage } from 'node:http';
import type { z } from 'zod';
import type { Scope } from '../config.js';
import type { Caller } from '../http/auth.js';

/** Who may call an operation: nobody needs a key, one scope, or the scope of the job type. */
export type Access = 'public' | Scope | 'job-type';

/** HTTP methods the api serves. */
export type RouteMethod = 'get' | 'post' | 'put' | 'delete';

/** An OpenAPI fragment, as plain JSON. */
export type Json = Record<string, unknown>;

/**
 * One documented answer of an operation: a success with the zod schema of its body (JSON unless
 * `contentType` says otherwise), or a problem+json error.
 */
export type ResponseSpec =
  | { description: string; schema: z.ZodType; contentType?: string }
  | { description: string; problem: true };

/** A success answer: its body is validated by nothing at run time; the schema documents it. */
export function ok<S extends z.ZodType>(
  schema: S,
  description: string,
  contentType?: string,
): { description: string; schema: S; contentType?: string } {
  return { description, schema, ...(contentType === undefined ? {} : { contentType }) };
}

/** An error answer: an RFC 9457 problem document (the Problem schema). */
export function problem(description: string): { description: string; problem: true } {
  return { description, problem: true };
}

type Responses = Record<number, ResponseSpec>;

/** The answer of a handler for one of the statuses its route declares. */
export type AnswerOf<R extends Responses> = {
  [S in keyof R & number]: R[S] extends { schema: infer B extends z.ZodType }
    ? {
        status: S;
        body: z.input<B>;
        headers?: Record<string, string>;
        /** The media type of a body that is not JSON (sent as is). */
        type?: string;
      }
    : never;
}[keyof R & number];

/** What a handler gets besides its input: the caller and the dependencies the router was built with. */
export interface RouteContext<D> {
  caller: Caller | undefined;
  deps: D;
  /**
   * The request as Node received it: a `stream: true` row reads its body from it (size and
   * media type in its headers); other rows need it only for what no schema reads.
   */
  request: IncomingMessage;
}

/**
 * The validated input of a request: path parameters, query, headers and body, each its
 * schema's output. Without a schema, path and query are the raw strings and the body the
 * parsed JSON as sent (for a use case that validates it itself, by a schema the path picks).
 */
export interface RouteInput<P, Q, B, H = Record<string, never>> {
  params: P;
  query: Q;
  headers: H;
  body: B;
}

/** What every row of the route table says besides its handler: the contract of one operation. */
export interface RouteContract<R extends Responses = Responses> {
  /** Unique, camelCase (the use case it calls, or the SDK method). */
  operationId: string;
  method: RouteMethod;
  /** OpenAPI path template: `{name}` where express has `:name`. */
  path: string;
  access: Access;
  summary: string;
  /** A strict object of the path parameters; each field's `.describe()` documents it. */
  params?: z.ZodType;
  /** A strict object of the query parameters. */
  query?: z.ZodType;
  /**
   * The request headers read, keyed by their documented names (`Idempotency-Key`), each
   * optional unless required; documented as OpenAPI header parameters.
   */
  headers?: z.ZodObject;
  /**
   * The body is streamed by the handler (`ctx.request`), never parsed as JSON: the row is
   * served before the api's JSON parser, and lingers after an early answer.
   */
  stream?: true;
  /** A row served before the api's JSON parser reads its JSON body itself, up to this size. */
  bodyLimit?: string;
  /** The JSON body; `bodyRequired: false` makes it optional. */
  body?: z.ZodType;
  bodyRequired?: boolean;
  bodyDescription?: string;
  responses: R;
  /**
   * What OpenAPI cannot learn from the schemas: header parameters, another media type, a body
   * that combines components; and the request schemas to name as components (`IngestBody`).
   */
  openapi?: { parameters?: Json[]; requestBody?: Json; components?: Record<string, z.ZodType> };
}

/** A row with its input types erased, as the table and the adapter hold it. */
export interface Route<D> extends RouteContract {
  handler: (
    input: RouteInput<unknown, unknown, unknown, unknown>,
    ctx: RouteContext<D>,
  ) => Answer | Promise<Answer>;
}

/** Any answer a handler gives. */
export interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  type?: string;
}

type OutputOr<S, Fallback> = S extends z.ZodType ? z.output<S> : Fallback;

/**
 * Declares one served route; the handler's input is typed by the route's schemas and its
 * answer by its responses. `defineRoute<Deps>()({...})`: the deps type first, the rest inferred.
 */
export function defineRoute<D>() {
  return <
    R extends Responses,
    PS extends z.ZodType | undefined = undefined,
    QS extends z.ZodType | undefined = undefined,
    BS extends z.ZodType | undefined = undefined,
    HS extends z.ZodObject | undefined = undefined,
  >(
    declaration: RouteContract<R> & {
      params?: PS;
      query?: QS;
      body?: BS;
      headers?: HS;
      handler: (
        input: RouteInput<
          OutputOr<PS, Record<string, string>>,
          OutputOr<QS, Record<string, unknown>>,
          OutputOr<BS, unknown>,
          OutputOr<HS, Record<string, never>>
        >,
        ctx: RouteContext<D>,
      ) => AnswerOf<NoInfer<R>> | Promise<AnswerOf<NoInfer<R>>>;
    },
  ): Route<D> => declaration as unknown as Route<D>;
}

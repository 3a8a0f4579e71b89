// Reading a request body, within a size limit, and turning what is wrong with it into one
// sentence, which quotes only the first characters of the keys the client wrote. A body larger
// than the limit is refused from its Content-Length before a byte is read, or as soon as the count
// passes the limit, never buffered whole. An upload (a device's events) may come gzipped: it is
// inflated with a cap on what comes out, so a gzip bomb stops at the cap instead of filling memory.

import type { IncomingMessage } from 'node:http';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import type { z } from 'zod';
import { quotedPath, someKeys } from '../quoting.js';
import { ApiError } from './api-error.js';

/** The default largest body: a policy revision's text is at most 1 MiB, and JSON wraps it. */
export const DEFAULT_BODY_LIMIT = 1024 * 1024 + 64 * 1024;

export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

function tooLarge(limit: number): ApiError {
  return new ApiError(
    413,
    'body-too-large',
    `the request body is larger than ${limit} bytes`,
    'send less: a policy revision is at most 1 MiB of text',
  );
}

/** The raw body, or an ApiError (413) once it passes `limit` bytes. */
export function readBody(
  req: IncomingMessage,
  limit: number,
  refusal: (limit: number) => ApiError = tooLarge,
): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > limit) return Promise.reject(refusal(limit));
  // Events, not `for await`: an async iterator per request costs thousands of allocations a
  // second when a fleet reports at once.
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (error: Error | undefined): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', settle);
      req.off('close', onClose);
      if (error === undefined) resolve(Buffer.concat(chunks, size));
      else reject(error);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      // What is left is dropped as it comes, and the answer closes the connection.
      settle(refusal(limit));
    };
    const onEnd = (): void => settle(undefined);
    const onClose = (): void => {
      if (!req.complete) settle(new Error('the client closed the connection before its body ended'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', settle);
    req.on('close', onClose);
  });
}

/** A body that is not JSON: its media type and its limits, before and after inflating. */
export interface UploadSpec {
  readonly contentType: string;
  /** The most bytes on the wire. */
  readonly limit: number;
  /** The most bytes once inflated (Content-Encoding: gzip). */
  readonly inflatedLimit: number;
  /** What to send less of, for the 413's hint. */
  readonly hint: string;
}

const inflate = promisify(gunzip);

/**
 * An upload's bytes, inflated when its Content-Encoding is gzip (identity is accepted too). Its
 * Content-Type must be the spec's (415); too many bytes, before or after inflating, are a 413;
 * gzip that cannot be read is a 400.
 */
export async function readUpload(req: IncomingMessage, spec: UploadSpec): Promise<Buffer> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== spec.contentType)
    throw new ApiError(
      415,
      'unsupported-media-type',
      `the body must be ${spec.contentType}, but its Content-Type is ${type ? `"${type}"` : 'missing'}`,
      `send Content-Type: ${spec.contentType}`,
    );
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding !== 'gzip' && encoding !== 'identity')
    throw new ApiError(
      415,
      'unsupported-media-type',
      `the body's Content-Encoding "${encoding}" is not one this server reads`,
      'send it gzipped (Content-Encoding: gzip) or as it is',
    );
  const refusal = (limit: number): ApiError =>
    new ApiError(413, 'payload-too-large', `the request body is larger than ${limit} bytes`, spec.hint);
  const wire = await readBody(req, spec.limit, refusal);
  if (encoding === 'identity') {
    if (wire.length > spec.inflatedLimit) throw refusal(spec.inflatedLimit);
    return wire;
  }
  try {
    // zlib stops inflating once the output would pass the cap: a bomb costs at most the cap.
    return await inflate(wire, { maxOutputLength: spec.inflatedLimit });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
      throw new ApiError(
        413,
        'payload-too-large',
        `the request body inflates to more than ${spec.inflatedLimit} bytes`,
        spec.hint,
      );
    throw new ApiError(
      400,
      'invalid-body',
      'the body is not readable gzip',
      'send it gzipped whole, or without Content-Encoding',
    );
  }
}

/** Parses a JSON body; the content type must say JSON. */
export function parseJson(req: IncomingMessage, raw: Buffer): unknown {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json')
    throw new ApiError(
      415,
      'unsupported-media-type',
      `the body must be JSON, but its Content-Type is ${type ? `"${type}"` : 'missing'}`,
      'send Content-Type: application/json',
    );
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw new ApiError(400, 'bad-json', 'the body is not valid UTF-8 text', 'send JSON encoded as UTF-8');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new ApiError(
      400,
      'bad-json',
      `the body is not valid JSON (${(e as Error).message})`,
      'check the quoting and the commas',
    );
  }
}

/**
 * Parses an HTML form body (application/x-www-form-urlencoded), as the OAuth endpoints take
 * (RFC 6749 §4.1.3, RFC 8628 §3.1). A parameter given twice is refused (RFC 6749 §3.1).
 */
export function parseForm(req: IncomingMessage, raw: Buffer): Record<string, string> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded')
    throw new ApiError(
      415,
      'unsupported-media-type',
      `the body must be a form (application/x-www-form-urlencoded), but its Content-Type is ${type ? `"${type}"` : 'missing'}`,
      'send Content-Type: application/x-www-form-urlencoded',
    );
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw new ApiError(400, 'bad-form', 'the body is not valid UTF-8 text', 'send the form encoded as UTF-8');
  }
  const out = new Map<string, string>();
  for (const [k, v] of new URLSearchParams(text)) {
    if (out.has(k))
      throw new ApiError(400, 'invalid-body', `the parameter "${k}" is given twice`, 'give it once');
    out.set(k, v);
  }
  return Object.fromEntries(out);
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v = input;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

/**
 * A zod issue in words: `"role" must be one of owner, policy-admin, auditor, viewer`. `path` is
 * the issue's path as quotedPath writes it.
 */
function describeIssue(issue: z.core.$ZodIssue, path: string, where: string, input: unknown): string {
  const field = path !== '' ? `"${path}"` : `the ${where}`;
  switch (issue.code) {
    case 'unrecognized_keys':
      return `${someKeys(issue.keys, (k) => `"${quotedPath([...issue.path, k])}"`)} ${issue.keys.length === 1 ? 'is not a field' : 'are not fields'} of the ${where}`;
    case 'invalid_type':
      return valueAt(input, issue.path) === undefined
        ? `${field} is required`
        : `${field} must be ${article(issue.expected)}`;
    case 'invalid_value':
      return `${field} must be one of ${issue.values.map((v) => String(v)).join(', ')}`;
    case 'too_small':
      return issue.origin === 'string'
        ? `${field} must not be empty`
        : `${field} is too small (${issue.message})`;
    case 'too_big':
      return `${field} is too large (${issue.message})`;
    default:
      return `${field}: ${issue.message}`;
  }
}

const article = (type: string): string =>
  type === 'object'
    ? 'a JSON object'
    : type === 'array'
      ? 'a list'
      : type === 'integer'
        ? 'a whole number'
        : `a ${type}`;

/** The most problems a 400's details list: a body of a list of objects could have thousands. */
const ISSUES_LISTED = 20;

/**
 * Validates input against a schema; a failure is a 400 naming the first problem, with the first
 * ISSUES_LISTED of them in details (and how many there were).
 */
export function validate<S extends z.ZodType>(
  schema: S,
  input: unknown,
  where: 'body' | 'query',
): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const all = result.error.issues;
  const issues = all.slice(0, ISSUES_LISTED).map((i) => {
    const path = quotedPath(i.path);
    return { path, message: describeIssue(i, path, where, input) };
  });
  throw new ApiError(
    400,
    where === 'body' ? 'invalid-body' : 'invalid-query',
    issues[0]?.message ?? `the ${where} is not valid`,
    'see the OpenAPI document at /api/v1/openapi.json for the expected shape',
    { issues, ...(all.length > issues.length ? { issue_count: all.length } : {}) },
  );
}

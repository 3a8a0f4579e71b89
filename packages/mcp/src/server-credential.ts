// A catalog server's credential (`mcp.servers[].credential`): the binding it names, decided by the
// policy and given to the server in the one place the binding says. A stdio server gets the value
// in the variable the binding's `env` names (its environment, inside its sandbox: never a command
// line); a remote server gets it in the header the binding's `inject` names (default
// `Authorization: Bearer {secret}`), on every request the gateway makes to it, over https only.
// Pure: the caller reads the secret store once and hands the values over. What the audit may see
// (binding, secret name, where the value goes, the decision) is kept apart from the value itself.
// A credential that cannot be given makes its server unavailable with one reason: a server never
// starts without the credential its entry names, nor with another one.

import type { CredentialRequest, Decision, Engine, McpCatalogEntry } from '@perimeter/policy';
import type { KnownValue } from '@perimeter/detect';

/** A server's credential as the audit records its use: never the value. */
export interface ServerCredential {
  /** The binding's id (`credential:` in the catalog entry). */
  readonly binding: string;
  /** The secret's name in the store. */
  readonly secret: string;
  /** Where the value goes: `env:NAME` (stdio) or `header:name` (remote, lower-case). */
  readonly location: string;
  /** What was decided: the credential toward the server's host (remote), or held at all (stdio). */
  readonly request: CredentialRequest;
  readonly decision: Decision;
}

export type CredentialOutcome =
  /** The entry names no credential. */
  | { readonly kind: 'none' }
  | {
      readonly kind: 'given';
      readonly credential: ServerCredential;
      /** For a stdio server: the variable that holds the value. */
      readonly env?: Readonly<Record<string, string>>;
      /** For a remote server: the header that carries it. */
      readonly headers?: Readonly<Record<string, string>>;
    }
  | {
      readonly kind: 'refused';
      /** One sentence: why the server is unavailable. */
      readonly reason: string;
      /** Set when the policy was asked and did not allow the use (its decision is audited too). */
      readonly credential?: ServerCredential;
    };

/**
 * Headers the MCP transport sets itself, or HTTP frames the request by: a binding that names one
 * would break the protocol, or smuggle a second meaning into it.
 */
const TRANSPORT_HEADERS = new Set([
  'host',
  'content-length',
  'content-type',
  'transfer-encoding',
  'connection',
  'accept',
  'mcp-session-id',
  'mcp-protocol-version',
  'last-event-id',
]);

/**
 * What the catalog entry's credential comes to: given (with the variable or header to set), none,
 * or refused with the reason. `secrets` holds the real values by secret name (only what the store
 * holds).
 */
export function serverCredential(
  entry: McpCatalogEntry,
  engine: Engine,
  secrets: ReadonlyMap<string, string>,
): CredentialOutcome {
  const { server } = entry;
  const id = server.credential;
  if (id === undefined) return { kind: 'none' };
  const refused = (reason: string, credential?: ServerCredential): CredentialOutcome => ({
    kind: 'refused',
    reason,
    ...(credential ? { credential } : {}),
  });
  const b = engine.catalogBinding(entry);
  if (typeof b === 'string') return refused(b);
  if (b === undefined) return { kind: 'none' };

  // Where the value would go, checked before the policy is asked or the value looked at.
  let target: { readonly env: string } | { readonly header: string; readonly format: string };
  let request: CredentialRequest;
  if (server.command !== undefined) {
    if (b.env === undefined)
      return refused(
        `its credential "${id}" names no env variable, which a stdio server receives it in (add env: NAME to the binding)`,
      );
    if (server.env !== undefined && Object.hasOwn(server.env, b.env))
      return refused(
        `its env sets ${b.env}, the variable its credential "${id}" puts the secret in (remove one of them)`,
      );
    target = { env: b.env };
    // No destination: a stdio server sends what it holds wherever its sandbox lets it.
    request = { surface: 'credential', secret: b.secret };
  } else {
    const url = new URL(server.url ?? '');
    if (url.protocol !== 'https:')
      return refused(`its credential "${id}" is sent only over https, and its URL is ${url.protocol}//`);
    const header = (b.inject?.header ?? 'Authorization').toLowerCase();
    if (TRANSPORT_HEADERS.has(header))
      return refused(
        `its credential "${id}" names the header ${header}, which the MCP transport sets itself`,
      );
    target = { header, format: b.inject?.format ?? 'Bearer {secret}' };
    // Named in the request: the entry binds its credential to the server's URL (the engine's
    // catalogBinding), where no rule speaks of that destination.
    request = {
      surface: 'credential',
      secret: b.secret,
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port || 443),
      server: server.id,
    };
  }
  const location = 'env' in target ? `env:${target.env}` : `header:${target.header}`;

  const decision = engine.decide(request);
  const credential: ServerCredential = { binding: id, secret: b.secret, location, request, decision };
  if (decision.decision !== 'allow')
    return refused(
      decision.decision === 'ask'
        ? `a rule asks before its credential "${id}" is used, and a server is given it at start, with no one to ask (${decision.reason})`
        : `the policy does not let its credential "${id}" go to it (${decision.reason})`,
      credential,
    );

  const value = secrets.get(b.secret);
  if (value === undefined)
    return refused(
      `the secret ${b.secret} of its credential "${id}" is not in the secret store (add it with: perimeter secret set ${b.secret})`,
    );
  if ('env' in target) {
    if (value.includes('\0'))
      return refused(`the value of its credential "${id}" holds a NUL, which no environment variable can`);
    return { kind: 'given', credential, env: { [target.env]: value } };
  }
  const text = target.format.split('{secret}').join(value);
  // A stored value may hold line breaks (a PEM key): never in a header, where it would split it.
  if (/[\r\n\0]/.test(text))
    return refused(
      `the value of its credential "${id}" holds a line break or NUL, which cannot go in a header`,
    );
  if (/[\u0100-\uffff]/.test(text))
    return refused(
      `the value of its credential "${id}" holds characters beyond Latin-1, which a header cannot carry`,
    );
  return { kind: 'given', credential, headers: { [target.header]: text } };
}

/**
 * The real values of the credentials the policy binds, by binding id, for the gateway's secret scan
 * (GatewayOptions.credentials): every binding in force whose secret the store holds, servers'
 * credentials among them, so a result that echoes one never reaches the agent.
 */
export function boundValues(engine: Engine, secrets: ReadonlyMap<string, string>): KnownValue[] {
  return engine.credentialBindings().flatMap((b) => {
    const value = secrets.get(b.secret);
    return value === undefined ? [] : [{ id: b.ref.rule, value }];
  });
}

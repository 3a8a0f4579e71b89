// A session's credentials: the secrets its policy binds, read from the store; a random
// placeholder for each, which is all the sandbox ever sees; the session CA whose leaves let the
// proxy read the HTTPS it must inspect; and the guard that puts real values in place on the way
// out and refuses leaks. Values stay in this process's memory: never in argv, files, audit or
// output (the session's MCP gateway takes them from here, for its servers and its scan).

import type { AuditRecord, RecordContext } from '@perimeter/audit';
import { lifecycleRecord } from '@perimeter/audit';
import {
  createCredentialGuard,
  createSessionCa,
  makePlaceholder,
  mergedBundle,
  type CredentialGuard,
  type CredentialSlot,
  type DlpAction,
  type SessionCa,
} from '@perimeter/egress';
import type { Engine } from '@perimeter/policy';
import type { SessionTrust } from '@perimeter/sandbox';
import { UserError } from './errors.js';
import { openSecretStore, type SecretStoreOptions } from './secret-store.js';

export interface SessionCredentials {
  readonly guard: CredentialGuard;
  /** The session CA: made when first read (its key pair and certificate are ~2 ms of start-up). */
  readonly ca: SessionCa;
  /** The placeholders, by the environment variable each binding names. */
  readonly env: Readonly<Record<string, string>>;
  /** The placeholders, by the file name each binding names (/run/perimeter/credentials/NAME). */
  readonly files: Readonly<Record<string, string>>;
  /**
   * What the sandbox mounts: the CA certificate and the system roots merged with it. A function,
   * so the launch calls it while bubblewrap sets the sandbox up rather than before.
   */
  readonly trust: () => SessionTrust;
  /** One event per binding (name, variable, destinations; never a value or a placeholder). */
  readonly records: readonly AuditRecord[];
  /** Bindings left out because the store does not hold their secret. */
  readonly missing: readonly { readonly binding: string; readonly secret: string }[];
  /**
   * The real values the store holds of the secrets the policy binds, by secret name: for the
   * session's MCP gateway (its servers' credentials, its secret scan), so the store is read once.
   */
  readonly secrets: ReadonlyMap<string, string>;
}

/**
 * The real values the store holds of the secrets the policy binds, by secret name. Only what the
 * policy binds is read, and a policy that binds nothing never opens the store; a secret the store
 * does not hold is absent. A store that cannot be read (permissions, a wrong key, tampering) throws.
 */
export function boundSecretValues(engine: Engine, store?: SecretStoreOptions): Map<string, string> {
  const bindings = engine.credentialBindings();
  if (bindings.length === 0) return new Map();
  return openSecretStore(store).getMany([...new Set(bindings.map((b) => b.secret))]);
}

export function sessionCredentials(
  engine: Engine,
  options: {
    readonly ctx: RecordContext;
    readonly audit: (record: AuditRecord) => void;
    readonly dlp: DlpAction;
    readonly store?: SecretStoreOptions;
  },
): SessionCredentials {
  const bindings = engine.credentialBindings();
  // A secret the store does not hold leaves its binding out of the session (no variable, nothing
  // injected): fewer powers, never more. A store that cannot be read stops the session.
  const values = boundSecretValues(engine, options.store);
  const missing: { readonly binding: string; readonly secret: string }[] = [];
  const env: Record<string, string> = {};
  const files: Record<string, string> = {};
  const slots: CredentialSlot[] = [];
  const records: AuditRecord[] = [];
  for (const b of bindings) {
    const value = values.get(b.secret);
    if (value === undefined) {
      missing.push({ binding: b.ref.rule, secret: b.secret });
      records.push(
        lifecycleRecord('credential.unavailable', options.ctx, {
          credential: b.ref.rule,
          secret: b.secret,
          reason: 'not in the secret store',
        }),
      );
      continue;
    }
    const placeholder = makePlaceholder();
    if (b.env !== undefined) env[b.env] = placeholder;
    if (b.file !== undefined) {
      if (files[b.file] !== undefined)
        throw new UserError(
          `two credential bindings name the file ${b.file}`,
          'give each binding its own file: name; nothing ran',
        );
      files[b.file] = placeholder;
    }
    slots.push({
      id: b.ref.rule,
      secret: b.secret,
      value,
      placeholder,
      isHeldByAgent: b.env !== undefined || b.file !== undefined,
      ...(b.inject
        ? {
            inject: {
              header: b.inject.header.toLowerCase(),
              format: b.inject.format,
              anywhere: b.inject.anywhere,
            },
          }
        : {}),
    });
    records.push(
      lifecycleRecord('credential.bound', options.ctx, {
        credential: b.ref.rule,
        secret: b.secret,
        ...(b.env !== undefined ? { env: b.env } : {}),
        ...(b.file !== undefined ? { file: `/run/perimeter/credentials/${b.file}` } : {}),
        destinations: b.inject ? b.inject.hosts.map((h) => h.text).join(',') : '',
      }),
    );
  }
  let ca: SessionCa | undefined;
  const sessionCa = (): SessionCa => (ca ??= createSessionCa());
  const guard = createCredentialGuard({
    engine,
    slots,
    dlp: options.dlp,
    audit: options.audit,
    sessionId: options.ctx.sessionId,
  });
  return {
    guard,
    get ca() {
      return sessionCa();
    },
    env,
    files,
    trust: () => ({ caPem: sessionCa().certPem, bundlePem: mergedBundle(sessionCa().certPem) }),
    records,
    missing,
    secrets: values,
  };
}

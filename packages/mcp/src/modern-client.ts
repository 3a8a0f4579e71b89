// The client of an upstream the catalog marks `protocol: 2026-07-28`: a server that refuses the
// initialize handshake and speaks only that revision. It is the SDK v2 client, pinned to the
// revision (no probe and no fallback: anything else fails at connect), behind the few calls the
// gateway's upstream makes, the same as the v1 client every other server is spoken to with.

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { FetchLike, Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type {
  GetPromptResult,
  Implementation,
  Prompt,
  ReadResourceResult,
  Resource,
  ResourceTemplate,
  ServerCapabilities,
  Tool,
} from '@modelcontextprotocol/sdk/types.js';
import type { RequestOptions } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { JsonSchemaValidator, jsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/types.js';

export const MODERN_REVISION = '2026-07-28';

/**
 * What both SDKs' clients check a tool's structured result with: nothing. Their default compiled
 * every output schema an upstream listed, at every listing, before any pin or policy had looked
 * at it, into a cache that never lets go, and ran its patterns on results on the gateway's one
 * thread: one listed `pattern: "^(a|a)+$"` and a result of 27 a's and a `!` held every server's
 * calls 7 s, 40 a's would hold them for hours; a denied server listing 500 tools with output
 * schemas at every list_changed grew the gateway by 90 MB a listing (redteam-37-2). A result is
 * the agent's client's to check, against the pinned schema the gateway showed it; the gateway
 * checks what matters to it (secrets, instructions) itself. A tool with an output schema must
 * still return structured content: the clients ask that of any validator.
 */
export const UNCHECKED_OUTPUT: jsonSchemaValidator = {
  getValidator<T>(): JsonSchemaValidator<T> {
    return (input) => ({ valid: true, data: input as T, errorMessage: undefined });
  },
};

/** What the gateway's upstream asks of its client: the v1 client has it, and so does ModernClient. */
export interface UpstreamClient {
  connect(transport: Transport): Promise<void>;
  close(): Promise<void>;
  onclose?: (() => void) | undefined;
  /** Why the connection was ended on the gateway's side, when it was (onclose then follows). */
  endedBecause?: string | undefined;
  getServerCapabilities(): ServerCapabilities | undefined;
  getServerVersion(): Implementation | undefined;
  listTools(params: { cursor?: string }): Promise<{ tools: Tool[]; nextCursor?: string | undefined }>;
  listPrompts(params: { cursor?: string }): Promise<{ prompts: Prompt[]; nextCursor?: string | undefined }>;
  listResources(params: {
    cursor?: string;
  }): Promise<{ resources: Resource[]; nextCursor?: string | undefined }>;
  listResourceTemplates(params: {
    cursor?: string;
  }): Promise<{ resourceTemplates: ResourceTemplate[]; nextCursor?: string | undefined }>;
  callTool(
    params: { name: string; arguments?: Record<string, unknown> },
    resultSchema: undefined,
    options: RequestOptions,
  ): Promise<unknown>;
  getPrompt(params: { name: string; arguments?: Record<string, string> }): Promise<GetPromptResult>;
  readResource(params: { uri: string }): Promise<ReadResourceResult>;
}

export type ListChange = 'tools' | 'prompts' | 'resources';

/**
 * The v2 client pinned to 2026-07-28. Lists are always fetched (never served from the client's
 * cache, whose hints the server writes): the gateway caches them itself, until the server says
 * they changed, and checks every definition it lists against its pins.
 */
export class ModernClient implements UpstreamClient {
  private readonly client: Client;
  /** Closed, or closing: a subscription ending then is part of it. */
  private isOver = false;
  onclose?: (() => void) | undefined;
  endedBecause?: string | undefined;

  constructor(info: Implementation, onListChanged: (kind: ListChange) => void) {
    const changed = (kind: ListChange) => ({
      autoRefresh: false,
      debounceMs: 0,
      onChanged: () => onListChanged(kind),
    });
    this.client = new Client(info, {
      capabilities: {},
      jsonSchemaValidator: UNCHECKED_OUTPUT,
      versionNegotiation: { mode: { pin: MODERN_REVISION } },
      listChanged: { tools: changed('tools'), prompts: changed('prompts'), resources: changed('resources') },
    });
    this.client.onclose = () => {
      this.isOver = true;
      this.onclose?.();
    };
  }

  /**
   * Connects, and watches the `subscriptions/listen` stream the client opens for list changes:
   * without it a changed or new definition would go unheard (never checked against the pins), so
   * a server that announces changes but whose stream cannot be opened does not connect, and one
   * whose stream ends is a connection lost (restarted with backoff, its lists then read again).
   */
  async connect(transport: Transport): Promise<void> {
    // The v1 transports (stdio, the sandbox's process) carry messages as the v2 client wants them.
    await this.client.connect(transport);
    const can = this.client.getServerCapabilities();
    const announces = Boolean(
      can?.tools?.listChanged || can?.prompts?.listChanged || can?.resources?.listChanged,
    );
    const stream = this.client.autoOpenedSubscription;
    if (announces && stream === undefined)
      throw new Error(
        'its subscriptions/listen stream could not be opened, so its list changes would go unheard',
      );
    void stream?.closed.then((how) => {
      if (this.isOver) return;
      this.endedBecause = `its subscriptions/listen stream ended (${how === 'graceful' ? 'by the server' : 'cut'}), so its list changes would go unheard`;
      void this.close();
    });
  }

  close(): Promise<void> {
    this.isOver = true;
    return this.client.close();
  }

  getServerCapabilities(): ServerCapabilities | undefined {
    return this.client.getServerCapabilities();
  }

  getServerVersion(): Implementation | undefined {
    return this.client.getServerVersion();
  }

  async listTools(params: { cursor?: string }): Promise<{ tools: Tool[]; nextCursor?: string | undefined }> {
    // A server without tools is not asked (the v2 client would write a warning to standard output,
    // which is the agent's MCP stream under perimeter mcp).
    if (!this.client.getServerCapabilities()?.tools) return { tools: [] };
    // Without a cursor the v2 client walks every page itself.
    const page = await this.client.listTools(params.cursor === undefined ? undefined : params, {
      cacheMode: 'refresh',
    });
    return page as unknown as { tools: Tool[]; nextCursor?: string };
  }

  async listPrompts(): Promise<{ prompts: Prompt[] }> {
    return await this.client.listPrompts(undefined, { cacheMode: 'refresh' });
  }

  async listResources(): Promise<{ resources: Resource[] }> {
    return await this.client.listResources(undefined, { cacheMode: 'refresh' });
  }

  async listResourceTemplates(): Promise<{ resourceTemplates: ResourceTemplate[] }> {
    return await this.client.listResourceTemplates(undefined, { cacheMode: 'refresh' });
  }

  callTool(
    params: { name: string; arguments?: Record<string, unknown> },
    _resultSchema: undefined,
    options: RequestOptions,
  ): Promise<unknown> {
    return this.client.callTool(params, options);
  }

  async getPrompt(params: { name: string; arguments?: Record<string, string> }): Promise<GetPromptResult> {
    return await this.client.getPrompt(params);
  }

  async readResource(params: { uri: string }): Promise<ReadResourceResult> {
    return await this.client.readResource(params, {
      cacheMode: 'refresh',
    });
  }
}

/** Streamable HTTP as 2026-07-28 has it (its per-request headers), through `fetch` when given. */
export function modernHttpTransport(
  url: URL,
  headers: Readonly<Record<string, string>>,
  fetch: FetchLike | undefined,
): Transport {
  return new StreamableHTTPClientTransport(url, {
    requestInit: { headers: { ...headers } },
    ...(fetch ? { fetch: fetch } : {}),
  });
}

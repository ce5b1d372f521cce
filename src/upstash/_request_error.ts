// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal The Upstash transport's error: a few words on what went wrong,
 * and whether repeating the (idempotent) call may help.
 */

/** A failed request, and whether it is worth repeating. */
export class UpstashRequestError extends Error {
  /** True for a network failure, a 5xx or 429, a reply that did not parse. */
  readonly retryable: boolean;
  /** The HTTP status, when a reply came. */
  readonly status: number | undefined;

  /**
   * Constructs a new instance.
   *
   * @param message What went wrong, in a few words.
   * @param retryable Whether repeating the (idempotent) call may help.
   * @param options The status, and the underlying error as `cause`.
   */
  constructor(
    message: string,
    retryable: boolean,
    options?: ErrorOptions & { status?: number },
  ) {
    super(message, options);
    this.name = "UpstashRequestError";
    this.retryable = retryable;
    this.status = options?.status;
  }
}

/** One line, at most `max` characters. */
export function clip(text: string, max = 200): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max)}…` : line;
}

const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ConnectionRefused: "connection refused",
  ECONNRESET: "connection reset",
  ConnectionReset: "connection reset",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host not found (DNS lookup failed)",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ETIMEDOUT: "connection timed out",
  UND_ERR_CONNECT_TIMEOUT: "connection timed out",
  UND_ERR_SOCKET: "connection closed before the reply",
  UND_ERR_CLOSED: "connection closed before the reply",
  EPIPE: "connection closed before the reply",
};

/**
 * A network failure in a few words, from wherever a runtime puts it: Node's
 * `fetch failed` keeps it in `cause.code`, Bun in `code`, Deno in the text.
 */
export function describeNetworkError(error: unknown): string {
  const seen = new Set<unknown>();
  let deepest = "";
  for (let e = error; e instanceof Error && !seen.has(e); e = e.cause) {
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    const known = typeof code === "string" ? NETWORK_CODES[code] : undefined;
    if (known !== undefined) return known;
    if (e.message !== "" && e.message !== "fetch failed") deepest = e.message;
  }
  if (/connection refused/i.test(deepest)) return "connection refused";
  if (/connection reset/i.test(deepest)) return "connection reset";
  if (/dns error|failed to lookup|name or service not known/i.test(deepest)) {
    return "host not found";
  }
  return clip(deepest || String(error));
}

// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal A Server-Sent Events reader for Upstash's subscribe endpoint,
 * on `fetch`. Unlike `@upstash/redis`'s subscriber, it says when the stream
 * ends or fails — the server closed it, the network dropped it, Redis
 * restarted behind it — so that a dead stream is replaced at once rather
 * than found out by a missed wake-up.
 *
 * Upstash sends one `data: <type>,<channel>,<payload>` line per event
 * (`redis/features/restapi.mdx`); each `data:` line is passed on as it
 * comes, as `@upstash/redis` does, rather than joined up to a blank line.
 */

import { describeNetworkError, UpstashRequestError } from "./_request_error.ts";

/** What a stream tells its owner. */
export interface EventStreamHandlers {
  /** The text of each `data:` line. */
  onData(data: string): void;
  /** The stream ended or failed; not called after `close()`. */
  onClose(error: UpstashRequestError): void;
}

/** An open stream. */
export interface EventStream {
  /** Ends it now (its connection too); idempotent. */
  close(): void;
}

/** A line longer than this is not an event of ours: the stream is broken. */
const MAX_LINE = 1 << 20;

/**
 * Opens `POST url` as an event stream with `headers` (the bearer token).
 *
 * @param url The subscribe URL, `…/subscribe/<channel>`.
 * @param headers Request headers (authorization).
 * @param handlers Called with each data line, and once when it ends.
 * @returns The stream, to close.
 */
export function openEventStream(
  url: string,
  headers: Record<string, string>,
  handlers: EventStreamHandlers,
): EventStream {
  const controller = new AbortController();
  let open = true;
  const finish = (error: UpstashRequestError) => {
    if (!open) return;
    open = false;
    controller.abort();
    handlers.onClose(error);
  };
  (async () => {
    let res: Response;
    try {
      res = await fetch(url, {
        method: "POST",
        headers: { ...headers, accept: "text/event-stream" },
        // What @upstash/redis sends: the command's (empty) argument list.
        body: "[]",
        signal: controller.signal,
      });
    } catch (error) {
      return finish(
        new UpstashRequestError(describeNetworkError(error), true, {
          cause: error,
        }),
      );
    }
    if (!res.ok || res.body === null) {
      const text = await res.text().catch(() => "");
      const auth = res.status === 401 || res.status === 403;
      return finish(
        new UpstashRequestError(
          auth
            ? `${res.status} unauthorized (check the token)`
            : `${res.status} ${text.slice(0, 80)}`,
          !auth,
          { status: res.status },
        ),
      );
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = buffer.indexOf("\n")) >= 0) {
          let line = buffer.slice(0, end);
          buffer = buffer.slice(end + 1);
          if (line.endsWith("\r")) line = line.slice(0, -1);
          if (!open) return;
          if (line.startsWith("data:")) {
            handlers.onData(line.slice(line.startsWith("data: ") ? 6 : 5));
          }
        }
        if (buffer.length > MAX_LINE) {
          return finish(
            new UpstashRequestError(
              "the event stream sent an endless line",
              true,
            ),
          );
        }
      }
      finish(new UpstashRequestError("the event stream ended", true));
    } catch (error) {
      finish(
        new UpstashRequestError(
          `the event stream failed: ${describeNetworkError(error)}`,
          true,
          { cause: error },
        ),
      );
    } finally {
      reader.cancel().catch(() => {});
    }
  })();
  return {
    close() {
      open = false;
      controller.abort();
    },
  };
}

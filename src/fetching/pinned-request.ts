/**
 * One GET to one checked URL, connected only to addresses that were checked. The request keeps
 * the URL's name as its host, so the Host header, TLS SNI and the certificate check all use the
 * name, while the `lookup` hook hands the socket the pinned address instead of asking DNS again: a
 * second lookup could answer differently (DNS rebinding) and would defeat the address checks.
 *
 * Timeouts: `connectTimeoutMs` covers the TCP connection (and the TLS handshake for https) to one
 * address; `stallTimeoutMs` then covers the wait for the response head. When connecting to one
 * address fails, the next checked address is tried; once connected, a failure is final.
 */
import { request as httpRequest, type ClientRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { LookupFunction } from 'node:net';
import { FetchError, type FetchFailureReason } from './fetch-errors.js';
import type { IpAddress } from './ip-address.js';
import type { CheckedUrl } from './url-check.js';

export type TrustedCa = string | Buffer | readonly (string | Buffer)[];

export interface PinnedRequestSpec {
  readonly target: CheckedUrl;
  /** Checked addresses for the target's host, tried in order; the first that connects is used. */
  readonly addresses: readonly IpAddress[];
  /** Extra request headers; Host and Accept-Encoding are always ours. */
  readonly headers: Readonly<Record<string, string>>;
  readonly connectTimeoutMs: number;
  readonly stallTimeoutMs: number;
  readonly signal: AbortSignal;
  /** Certificates to trust instead of Node's bundled CAs, for https. */
  readonly ca?: TrustedCa | undefined;
}

export interface PinnedResponse {
  readonly request: ClientRequest;
  readonly response: IncomingMessage;
  /** The address the request connected to. */
  readonly address: IpAddress;
}

type Attempt = { readonly ok: true; readonly value: PinnedResponse } | { readonly ok: false; readonly error: FetchError; readonly retryable: boolean };

/** Sends the GET and resolves once the response head arrived; rejects with FetchError. */
export async function requestPinned(spec: PinnedRequestSpec): Promise<PinnedResponse> {
  let last: FetchError | null = null;
  for (const address of spec.addresses) {
    const attempt = await attemptAddress(spec, address);
    if (attempt.ok) return attempt.value;
    if (!attempt.retryable) throw attempt.error;
    last = attempt.error;
  }
  throw last ?? new FetchError('network', spec.target.display, 'no address to connect to');
}

function attemptAddress(spec: PinnedRequestSpec, address: IpAddress): Promise<Attempt> {
  const { target, signal } = spec;
  const secure = target.scheme === 'https';
  return new Promise<Attempt>((resolve) => {
    if (signal.aborted) {
      resolve({ ok: false, error: new FetchError('aborted', target.display, 'the fetch was aborted', { cause: signal.reason }), retryable: false });
      return;
    }
    const lookup: LookupFunction = (_hostname, options, callback) => {
      // Node asks for every address when it may race IPv4 and IPv6 (autoSelectFamily); either way there is one.
      if (options.all === true) callback(null, [{ address: address.text, family: address.family }]);
      else callback(null, address.text, address.family);
    };
    const headers: OutgoingHttpHeaders = { ...spec.headers, host: target.host, 'accept-encoding': 'identity' };
    const options: RequestOptions = {
      host: target.hostname,
      port: target.port,
      path: target.path,
      method: 'GET',
      headers,
      // A fresh connection per request: a pooled socket is keyed by name, not by the address we checked.
      agent: false,
      lookup,
      family: address.family,
    };
    if (secure) {
      // SNI carries the name; an address is never sent as SNI (RFC 6066), and '' tells Node not to derive one.
      options.servername = target.address === null ? target.hostname : '';
      if (spec.ca !== undefined) options.ca = typeof spec.ca === 'string' || Buffer.isBuffer(spec.ca) ? spec.ca : [...spec.ca];
    }

    let settled = false;
    let tcpConnected = false;
    let secured = false;
    let timer: NodeJS.Timeout | undefined;
    const request = (secure ? httpsRequest : httpRequest)(options);
    const where = `${address.text} port ${target.port}`;

    const settle = (attempt: Attempt): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      if (!attempt.ok) request.destroy();
      resolve(attempt);
    };
    const fail = (reason: FetchFailureReason, detail: string, retryable: boolean, cause?: unknown): void => {
      settle({ ok: false, error: new FetchError(reason, target.display, detail, { cause }), retryable });
    };
    const onAbort = (): void => fail('aborted', 'the fetch was aborted', false, signal.reason);
    const onConnected = (): void => {
      clearTimeout(timer);
      if (settled) return;
      timer = setTimeout(() => fail('stall', `no response from ${where} within ${spec.stallTimeoutMs} ms`, false), spec.stallTimeoutMs);
    };

    signal.addEventListener('abort', onAbort, { once: true });
    timer = setTimeout(
      () => fail('connect-timeout', `no ${secure ? 'TLS ' : ''}connection to ${where} within ${spec.connectTimeoutMs} ms`, true),
      spec.connectTimeoutMs,
    );
    request.on('socket', (socket) => {
      socket.once('connect', () => {
        tcpConnected = true;
        if (!secure) onConnected();
      });
      if (secure) {
        socket.once('secureConnect', () => {
          secured = true;
          onConnected();
        });
      }
    });
    request.on('response', (response) => {
      if (settled) response.destroy();
      else settle({ ok: true, value: { request, response, address } });
    });
    request.on('error', (error) => {
      if (settled) return; // after the head, the body reader reports failures
      if (!tcpConnected) fail('network', `cannot connect to ${where}: ${error.message}`, true, error);
      else if (secure && !secured) fail('tls', `the TLS handshake with '${target.hostname}' (${where}) failed: ${error.message}`, false, error);
      else fail('network', `the request to ${where} failed: ${error.message}`, false, error);
    });
    request.end();
  });
}

import type { Socket } from 'node:net';

/** Node's TCPWrap, whose `fd` and reading switch are public on Unix though not in the typings. */
interface TcpHandle {
  fd?: unknown;
  reading?: boolean;
  readStop?: () => number;
}

function handleOf(socket: Socket): TcpHandle | null {
  return (socket as unknown as { _handle?: TcpHandle | null })._handle ?? null;
}
import { TLSSocket } from 'node:tls';

/** The socket's file descriptor, when it is a plain TCP socket libuv owns (not TLS, not a pipe). */
export function plainSocketFd(socket: Socket | null): number | null {
  if (socket === null || socket instanceof TLSSocket || socket.destroyed) return null;
  const handle = handleOf(socket);
  return typeof handle?.fd === 'number' && handle.fd >= 0 ? handle.fd : null;
}

/**
 * Stops libuv reading a socket whose reads Node's HTTP parser consumes, as Node's own 'pause'
 * handler for such sockets does. socket.pause() cannot be relied on for it: it only acts when
 * the stream is flowing, and a consumed socket's stream state says nothing of its reads.
 */
export function stopReads(socket: Socket): void {
  const handle = handleOf(socket);
  if (handle?.reading === true && handle.readStop !== undefined) {
    handle.reading = false;
    handle.readStop();
  }
}

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type TLSSocket } from 'node:tls';

/**
 * HTTPS in front of a plain-HTTP service on loopback, as a TLS-terminating proxy does in a
 * deployment: a self-signed certificate for 127.0.0.1 made with Debian's openssl CLI, and a
 * node:tls server that passes bytes through to the service.
 */
export interface TlsProxy {
  /** `https://127.0.0.1:PORT`. */
  readonly url: string;
  /** The proxy's certificate (PEM), to trust as `cafile`. */
  readonly caFile: string;
  close(): Promise<void>;
}

export async function startTlsProxy(targetPort: number): Promise<TlsProxy> {
  const dir = mkdtempSync(join(tmpdir(), 'glimpse-tls-'));
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync(
    '/usr/bin/openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  const sockets = new Set<Socket | TLSSocket>();
  const server = createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    const forget = (): void => {
      sockets.delete(client);
      sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', forget).on('close', forget);
    upstream.on('error', forget).on('close', forget);
    client.pipe(upstream).pipe(client);
  });
  // A client that refuses the certificate closes the handshake; that is expected here.
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `https://127.0.0.1:${port}`,
    caFile: cert,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

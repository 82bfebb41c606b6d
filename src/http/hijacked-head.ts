import type { FastifyReply } from 'fastify';
import type { OutgoingHttpHeaders } from 'node:http';

/**
 * Takes a response over from Fastify (hijack) and sends its status and headers — those set on
 * the reply so far — through Node's ServerResponse, which keeps its HTTP state (keep-alive,
 * `end()`, Fastify's onResponse hook). The body is then the caller's to send.
 */
export function sendHeadOnly(reply: FastifyReply, status: number): void {
  void reply.hijack();
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) headers[name] = typeof value === 'number' ? String(value) : value;
  reply.raw.writeHead(status, headers);
  reply.raw.flushHeaders();
}

import type { FastifyPluginCallback } from 'fastify';
import { chooseErrorFormat } from '../error-body.js';

/**
 * `/healthcheck` as oslo.middleware serves it (reference §1.3): before authentication, plain
 * `OK` by default, JSON or HTML by Accept, 503 `DISABLED BY FILE` while the disable file exists.
 */
export const healthcheckRoutes: FastifyPluginCallback<{ disableFile: () => boolean }> = (app, { disableFile }, done) => {
  app.get('/healthcheck', async (request, reply) => {
    const disabled = disableFile();
    const reason = disabled ? 'DISABLED BY FILE' : 'OK';
    void reply.code(disabled ? 503 : 200);
    const accept = request.headers.accept;
    const format = accept?.includes('application/json') === true ? 'json' : accept?.includes('text/html') === true ? chooseErrorFormat(accept) : 'plain';
    if (format === 'json') return Promise.resolve({ detailed: false, reasons: [reason] });
    if (format === 'html') {
      void reply.type('text/html; charset=UTF-8');
      return Promise.resolve(
        `<HTML>\n<HEAD><TITLE>Healthcheck Status</TITLE></HEAD>\n<BODY>\n<H2>Result of 1 checks:</H2>\n<TABLE bgcolor="#ffffff" border="1">\n<TR><TD>${reason}</TD></TR>\n</TABLE>\n</BODY>\n</HTML>\n`,
      );
    }
    void reply.type('text/plain; charset=UTF-8');
    return Promise.resolve(reason);
  });
  app.head('/healthcheck', async (_request, reply) => {
    return reply.code(disableFile() ? 503 : 204).send();
  });
  done();
};

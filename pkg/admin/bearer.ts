import * as crypto from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../log';

/**
 * Constant-time bearer check. Both sides are hashed first so the compared
 * buffers always have equal length: timingSafeEqual then leaks neither the
 * token's content nor its length. The caller learns only "unauthorized";
 * the log says why (never the presented value).
 */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer[ \t]+(\S+)\s*$/i.exec(header ?? '');
  const presented = crypto
    .createHash('sha256')
    .update(m?.[1] ?? '')
    .digest();
  const expected = crypto.createHash('sha256').update(token).digest();
  return crypto.timingSafeEqual(presented, expected) && m !== null;
}

/** An onRequest hook enforcing the token; registered only inside the protected scope. */
export function bearerHook(token: string, log: Logger) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const header = req.headers.authorization;
    if (bearerMatches(header, token)) return undefined;
    log.warn(
      { remoteAddress: req.ip, url: req.url, why: header ? 'wrong or malformed bearer token' : 'no bearer token' },
      'debug request refused',
    );
    // Returning the reply ends the request here (fastify async-hook rule).
    return reply.code(401).header('www-authenticate', 'Bearer realm="ambientd-debug"').send({ error: 'unauthorized' });
  };
}

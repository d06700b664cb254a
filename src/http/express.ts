// Express adapter: the handler as `(req, res, next)` middleware. Express is not imported: its
// request and response are node:http's, extended, so the types here are structural.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Authenticator, type AuthenticatorOptions, type Identity, createAuthenticator } from './server.js';

export interface NegotiateRequest extends IncomingMessage {
  identity?: Identity;
}

export type ExpressMiddleware = ((req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void) & {
  /** The authenticator behind the middleware (close() it when the server stops). */
  authenticator: Authenticator;
};

/**
 * `app.use(negotiate({ host }))`: answers 401/400 itself; otherwise sets `req.identity` and calls
 * next(). Pass an existing Authenticator to share it with other routes or servers.
 */
export function negotiate(options: AuthenticatorOptions | Authenticator): ExpressMiddleware {
  const auth = 'authenticate' in options ? options : createAuthenticator(options);
  const mw = auth.middleware();
  return Object.assign((req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => mw(req, res, next), { authenticator: auth });
}

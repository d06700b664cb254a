// Fastify adapter: an onRequest hook (and a plugin registering it for the whole instance).
// Fastify is not imported: the few members used are typed structurally here.

import { type Authenticator, type AuthenticatorOptions, type HttpRequest, type HttpResponse, type Identity, createAuthenticator } from './server.js';

interface FastifyRequestLike {
  /** IncomingMessage, or Http2ServerRequest with `fastify({ http2: true })`. */
  raw: HttpRequest;
  identity?: Identity | null;
}

interface FastifyReplyLike {
  raw: HttpResponse;
  /** Tells Fastify the response was written outside it (the 401/400). */
  hijack(): unknown;
}

interface FastifyInstanceLike {
  addHook(name: 'onRequest', hook: (request: FastifyRequestLike, reply: FastifyReplyLike) => Promise<void>): unknown;
  addHook(name: 'onClose', hook: (instance: unknown) => Promise<void>): unknown;
  decorateRequest(name: 'identity', value: null): unknown;
  hasRequestDecorator?(name: string): boolean;
}

export type NegotiateHook = ((request: FastifyRequestLike, reply: FastifyReplyLike) => Promise<void>) & { authenticator: Authenticator };

/** `fastify.addHook('onRequest', negotiateHook({ host }))`: sets `request.identity` or answers 401/400. */
export function negotiateHook(options: AuthenticatorOptions | Authenticator): NegotiateHook {
  const auth = 'authenticate' in options ? options : createAuthenticator(options);
  const hook = async (request: FastifyRequestLike, reply: FastifyReplyLike): Promise<void> => {
    const id = await auth.authenticate(request.raw, reply.raw);
    if (!id) {
      reply.hijack();
      return;
    }
    // The final token was set on the raw response; Fastify's writeHead merges it with its own headers.
    request.identity = id;
  };
  return Object.assign(hook, { authenticator: auth });
}

export interface NegotiatePluginOptions {
  authenticator?: Authenticator;
  options?: AuthenticatorOptions;
}

/**
 * `fastify.register(negotiatePlugin, { options: { host } })`: the hook for every route of the
 * instance (not encapsulated, as fastify-plugin would mark it), closed with the instance when it
 * created the authenticator.
 */
export const negotiatePlugin = Object.assign(
  async function negotiatePlugin(fastify: FastifyInstanceLike, opts: NegotiatePluginOptions): Promise<void> {
    const given = opts.authenticator;
    if (!given && !opts.options) throw new TypeError('negotiatePlugin needs { authenticator } or { options }');
    const hook = negotiateHook(given ?? opts.options!);
    if (!fastify.hasRequestDecorator?.('identity')) fastify.decorateRequest('identity', null);
    fastify.addHook('onRequest', hook);
    if (!given) fastify.addHook('onClose', () => hook.authenticator.close());
  },
  // What fastify-plugin sets: register into the parent scope instead of a new encapsulated one.
  { [Symbol.for('skip-override')]: true },
);

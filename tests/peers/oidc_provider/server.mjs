// Test peer: the OpenID-certified npm `oidc-provider`, on loopback with an ephemeral port.
//
// Started by tests/peers/conftest.py. Reads its clients and users as JSON from the
// QBIZFED_PEER_CONFIG environment variable:
//   {"clients": [{"client_id", "client_secret", "redirect_uris", "post_logout_redirect_uris"}],
//    "users": [{"username", "email", "name"}],
//    "profile_in_userinfo_only": false}
//   optional "device": {"interval": seconds, "ttl": seconds} for the device flow (RFC 8628)
// With profile_in_userinfo_only, `name` is left out of ID tokens and released only by
// the userinfo endpoint (as IdPs that keep ID tokens small do).
// Prints one line `LISTENING <issuer>` on stdout when ready; stops on SIGTERM.
// The device flow is enabled; oidc-provider sends no `interval` and never `slow_down`, so
// a small middleware advertises `device.interval` and answers `slow_down` to a client
// polling sooner than that (RFC 8628 §3.5 lets the server enforce its interval).
// ID tokens carry the `https://aws.amazon.com/tags` claim via the custom `aws` scope.
import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const config = JSON.parse(process.env.QBIZFED_PEER_CONFIG || '{"clients": [], "users": []}');
const users = new Map(config.users.map((u) => [u.username, u]));
const AWS_TAGS = 'https://aws.amazon.com/tags';
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const device = { interval: 5, ttl: 600, ...(config.device || {}) };
const lastPoll = new Map();

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: 'peer-rs256' };

let handler = (req, res) => { res.statusCode = 503; res.end(); };
const server = http.createServer((req, res) => handler(req, res));

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: config.clients.map((c) => ({
      client_id: c.client_id,
      client_secret: c.client_secret,
      redirect_uris: c.redirect_uris,
      post_logout_redirect_uris: c.post_logout_redirect_uris || [],
      grant_types: ['authorization_code', 'refresh_token', DEVICE_GRANT],
      response_types: ['code'],
      token_endpoint_auth_method: c.token_endpoint_auth_method || 'client_secret_basic',
    })),
    jwks: { keys: [jwk] },
    scopes: ['openid', 'email', 'profile', 'aws', 'offline_access'],
    claims: {
      email: ['email', 'email_verified'],
      profile: ['name'],
      aws: [AWS_TAGS],
    },
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: true }, deviceFlow: { enabled: true } },
    ttl: { DeviceCode: device.ttl },
    pkce: { required: () => false },
    cookies: { keys: ['qbizfed-peer-test-cookie-key'] },
    async findAccount(ctx, id) {
      const user = users.get(id);
      if (!user) return undefined;
      return {
        accountId: id,
        async claims(use) {
          const profile = use === 'id_token' && config.profile_in_userinfo_only
            ? {} : { name: user.name };
          return {
            sub: id,
            email: user.email,
            email_verified: true,
            ...profile,
            [AWS_TAGS]: { principal_tags: { Email: [user.email] } },
          };
        },
      };
    },
  });
  provider.use(async (ctx, next) => {
    if (ctx.method === 'POST' && ctx.path === '/token') {
      const body = await readForm(ctx.req);
      if (body.get('grant_type') === DEVICE_GRANT) {
        const code = body.get('device_code') || '';
        const now = Date.now();
        const previous = lastPoll.get(code);
        lastPoll.set(code, now);
        if (previous !== undefined && now - previous < device.interval * 1000) {
          ctx.status = 400;
          ctx.body = { error: 'slow_down', error_description: 'poll no more often than the interval' };
          return;
        }
      }
    }
    await next();
    if (ctx.path === '/device/auth' && ctx.body && ctx.body.device_code) {
      ctx.body = { ...ctx.body, interval: device.interval };
    }
  });
  provider.on('server_error', (ctx, err) => { console.error('server_error', err); });
  handler = provider.callback();
  process.stdout.write(`LISTENING ${issuer}\n`);
});

// Read a form body; oidc-provider then takes the already-read body from req.body.
async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const raw = Buffer.concat(chunks);
  req.body = raw;
  return new URLSearchParams(raw.toString('utf8'));
}

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

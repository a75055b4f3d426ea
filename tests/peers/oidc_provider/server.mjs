// Test peer: the OpenID-certified npm `oidc-provider`, on loopback with an ephemeral port.
//
// Started by tests/peers/conftest.py. Reads its clients and users as JSON from the
// QBIZFED_PEER_CONFIG environment variable:
//   {"clients": [{"client_id", "client_secret", "redirect_uris", "post_logout_redirect_uris"}],
//    "users": [{"username", "email", "name"}],
//    "profile_in_userinfo_only": false}
// With profile_in_userinfo_only, `name` is left out of ID tokens and released only by
// the userinfo endpoint (as IdPs that keep ID tokens small do).
// Prints one line `LISTENING <issuer>` on stdout when ready; stops on SIGTERM.
// ID tokens carry the `https://aws.amazon.com/tags` claim via the custom `aws` scope.
import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const config = JSON.parse(process.env.QBIZFED_PEER_CONFIG || '{"clients": [], "users": []}');
const users = new Map(config.users.map((u) => [u.username, u]));
const AWS_TAGS = 'https://aws.amazon.com/tags';

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
      grant_types: ['authorization_code', 'refresh_token'],
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
    features: { devInteractions: { enabled: true } },
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
  provider.on('server_error', (ctx, err) => { console.error('server_error', err); });
  handler = provider.callback();
  process.stdout.write(`LISTENING ${issuer}\n`);
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

// A real OAuth2 authorization server for the interoperability test: panva's oidc-provider
// (installed by setup.sh) with the client-credentials grant and token introspection, on loopback.
//
// Environment:
//   INTEROP_CLIENT_SECRET  the secret of both clients (any visible ASCII, spaces included)
//   INTEROP_PORT           the port to listen on (default 0: a free port chosen by the system)
//
// Clients:
//   tokensource-basic  authenticates with client_secret_basic (RFC 6749 2.3.1: form-urlencoded, then Base64)
//   tokensource-post   authenticates with client_secret_post (client_id and client_secret in the body)
//
// Once listening it prints one line to stdout, `listening <port>`, and serves until killed.
// It also ends by itself when its standard input closes (the test holds it open), so a test
// process that dies never leaves a server behind.
import http from 'node:http';

import Provider from 'oidc-provider';

const secret = process.env.INTEROP_CLIENT_SECRET;
if (!secret) {
  console.error('INTEROP_CLIENT_SECRET must be set');
  process.exit(2);
}
const requestedPort = Number(process.env.INTEROP_PORT ?? 0);

// The resource indicator (RFC 8707) the test asks for as an extra `resource` parameter.
const RESOURCE = 'urn:tokensource:interop-api';
const SCOPES = ['api:read', 'api:write'];

const client = (clientId, method) => ({
  client_id: clientId,
  client_secret: secret,
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  token_endpoint_auth_method: method,
  scope: SCOPES.join(' '),
});

const provider = new Provider('http://127.0.0.1', {
  clients: [
    client('tokensource-basic', 'client_secret_basic'),
    client('tokensource-post', 'client_secret_post'),
  ],
  scopes: SCOPES,
  // The path the vendor documents for its token endpoint.
  routes: { token: '/oauth/v2/token', introspection: '/oauth/v2/introspect' },
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => false,
      getResourceServerInfo(ctx, resourceIndicator) {
        if (resourceIndicator !== RESOURCE) {
          throw new Provider.errors.InvalidTarget();
        }
        return { scope: SCOPES.join(' '), audience: RESOURCE, accessTokenFormat: 'opaque' };
      },
    },
  },
  ttl: { ClientCredentials: 600 },
  cookies: { keys: ['tokensource-interop-not-a-secret'] },
});

// The server's own error details go to stderr, where the test shows them on failure.
provider.on('server_error', (_ctx, err) => console.error('server_error', err));
provider.on('grant.error', (_ctx, err) => console.error('grant.error', err.message, err.error_description ?? ''));

const server = http.createServer(provider.callback());
server.listen(requestedPort, '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();

// A real OAuth2 authorization server for the interoperability test: panva's oidc-provider
// (installed by setup.sh) with the client-credentials grant and token introspection, on loopback.
//
// Environment:
//   INTEROP_CLIENT_SECRET  the secret of the secret-based clients (any visible ASCII, spaces included)
//   INTEROP_PORT           the port to listen on (default 0: a free port chosen by the system)
//   INTEROP_KEY_DIR        a folder to write the private keys of the private_key_jwt clients to
//                          (made at start, as PEM: rs256.pem PKCS#1, ps256.pem PKCS#8, es256.pem SEC1,
//                          es256-pkcs8.pem PKCS#8); their public keys are the clients' registered JWKS
//   INTEROP_TLS_DIR        a folder with ca.pem, server.pem and server.key (the test kit's TestPki):
//                          the server then also listens for HTTPS with that certificate, asking
//                          each client for a certificate, which tls_client_auth checks against ca.pem
//
// Clients:
//   tokensource-basic  authenticates with client_secret_basic (RFC 6749 2.3.1: form-urlencoded, then Base64)
//   tokensource-post   authenticates with client_secret_post (client_id and client_secret in the body)
//   tokensource-rs256, tokensource-ps256, tokensource-es256
//                      authenticate with private_key_jwt (RFC 7523), signed with RS256, PS256, ES256
//   tokensource-hs256  authenticates with client_secret_jwt (HS256 with the client secret)
//   tokensource-mtls   authenticates with tls_client_auth (RFC 8705 2.1): over HTTPS, a client
//                      certificate signed by ca.pem whose subject is CN=tokensource-test-client
//
// Once listening it prints `listening-tls <port>` (with INTEROP_TLS_DIR), then `listening <port>`,
// to stdout, and serves until killed.
// It also ends by itself when its standard input closes (the test holds it open), so a test
// process that dies never leaves a server behind.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';

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

// Keys made now, never stored anywhere but the test's folder.
const keyDir = process.env.INTEROP_KEY_DIR;
const rsaKey = (bits) => crypto.generateKeyPairSync('rsa', { modulusLength: bits }).privateKey;
const ecKey = () => crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const writeKey = (name, key, type) => {
  if (keyDir) {
    fs.writeFileSync(path.join(keyDir, name), key.export({ type, format: 'pem' }), { mode: 0o600 });
  }
};
const keyClient = (clientId, alg, key) => {
  const jwk = { ...crypto.createPublicKey(key).export({ format: 'jwk' }), kid: `${clientId}-key`, use: 'sig' };
  return {
    client_id: clientId,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: alg,
    jwks: { keys: [jwk] },
    scope: SCOPES.join(' '),
  };
};
const rs256 = rsaKey(2048);
const ps256 = rsaKey(2048);
const es256 = ecKey();
writeKey('rs256.pem', rs256, 'pkcs1');
writeKey('ps256.pem', ps256, 'pkcs8');
writeKey('es256.pem', es256, 'sec1');
writeKey('es256-pkcs8.pem', es256, 'pkcs8');
const hs256 = {
  ...client('tokensource-hs256', 'client_secret_jwt'),
  token_endpoint_auth_signing_alg: 'HS256',
};

// RFC 8705 2.1: no secret; the client is the subject of the certificate it presented.
const CLIENT_SUBJECT = 'CN=tokensource-test-client';
const mtls = {
  client_id: 'tokensource-mtls',
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  token_endpoint_auth_method: 'tls_client_auth',
  tls_client_auth_subject_dn: CLIENT_SUBJECT,
  scope: SCOPES.join(' '),
};

const provider = new Provider('http://127.0.0.1', {
  clients: [
    mtls,
    client('tokensource-basic', 'client_secret_basic'),
    client('tokensource-post', 'client_secret_post'),
    keyClient('tokensource-rs256', 'RS256', rs256),
    keyClient('tokensource-ps256', 'PS256', ps256),
    keyClient('tokensource-es256', 'ES256', es256),
    hs256,
  ],
  scopes: SCOPES,
  clientAuthMethods: [
    'client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt',
    'tls_client_auth',
  ],
  // The path the vendor documents for its token endpoint.
  routes: { token: '/oauth/v2/token', introspection: '/oauth/v2/introspect' },
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    devInteractions: { enabled: false },
    mTLS: {
      enabled: true,
      tlsClientAuth: true,
      // The certificate the client presented in this request's TLS handshake (none over HTTP).
      getCertificate(ctx) {
        const peer = ctx.socket.getPeerX509Certificate?.();
        return peer ? peer.toString() : undefined;
      },
      // Node checked it against ca.pem during the handshake.
      certificateAuthorized(ctx) {
        return ctx.socket.authorized === true;
      },
      certificateSubjectMatches(ctx, property, expected) {
        const peer = ctx.socket.getPeerX509Certificate?.();
        return property === 'tls_client_auth_subject_dn' && peer?.subject === expected;
      },
    },
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
const listen = () => server.listen(requestedPort, '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});

// HTTPS for tls_client_auth: every client is asked for a certificate, and the handshake succeeds
// without one or with an unverified one, so that the provider, not TLS, refuses the client (with
// invalid_client, as a deployed server does).
const tlsDir = process.env.INTEROP_TLS_DIR;
let tlsServer;
if (tlsDir) {
  const read = (name) => fs.readFileSync(path.join(tlsDir, name));
  tlsServer = https.createServer({
    cert: read('server.pem'),
    key: read('server.key'),
    ca: read('ca.pem'),
    requestCert: true,
    rejectUnauthorized: false,
  }, provider.callback());
  tlsServer.on('tlsClientError', (err) => console.error('tlsClientError', err.code ?? '', err.message));
  tlsServer.listen(0, '127.0.0.1', () => {
    console.log(`listening-tls ${tlsServer.address().port}`);
    listen();
  });
} else {
  listen();
}

const stop = () => {
  tlsServer?.close();
  server.close(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();

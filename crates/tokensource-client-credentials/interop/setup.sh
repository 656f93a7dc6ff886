#!/usr/bin/env bash
# Installs the interoperability test's authorization server, panva's oidc-provider, at the version
# pinned in package.json and package-lock.json, into interop/node_modules. Needs node and npm (tested
# with node 20.20; oidc-provider prefers 22 and warns, harmlessly, on 20). Takes a few seconds; the
# Rust test tests/interop.rs then starts and stops the server itself.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
node -e "console.log('interop server installed: oidc-provider ' + require('./node_modules/oidc-provider/package.json').version)"

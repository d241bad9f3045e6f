#!/bin/sh
# The offline demo: verify the signed demo image in examples/demo-image and install it.
# Run from the repository root. DEST defaults to a fresh temporary directory.
set -eu
dest="${1:-$(mktemp -d)/demo}"
cargo run -q -p trustpull -- pull oci-layout:examples/demo-image:v1 --dest "$dest" \
  --trusted-root examples/trusted_root.json \
  --certificate-identity https://github.com/acme/backends/.github/workflows/release.yml@refs/heads/main \
  --certificate-oidc-issuer https://token.actions.githubusercontent.com
"$dest/demo/bin/hello"

// `cargo xtask bench verify-process`: one whole sigstore-js verification as a process, the
// sigstore-js counterpart of `trustpull verify-bundle` and `python -m sigstore verify identity
// --offline`. npm @sigstore/verify (with @sigstore/bundle and @sigstore/protobuf-specs, as the
// `sigstore` package wires them): load the trusted root, parse the bundle, verify it against
// the artifact with an exact identity and issuer. Offline: no TUF, no network.
//
// node bench_verify.cjs TRUSTED_ROOT BUNDLE ARTIFACT IDENTITY ISSUER [N]
// With N, also verifies N more times in-process and prints the median ms per verification.
'use strict';
const fs = require('node:fs');
const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');
const { bundleFromJSON } = require('@sigstore/bundle');
const { TrustedRoot } = require('@sigstore/protobuf-specs');

const [rootPath, bundlePath, artifactPath, identity, issuer, n] = process.argv.slice(2);
const trustedRoot = TrustedRoot.fromJSON(JSON.parse(fs.readFileSync(rootPath, 'utf8')));
const verifier = new Verifier(toTrustMaterial(trustedRoot), { tlogThreshold: 1, ctlogThreshold: 1 });
const policy = { subjectAlternativeName: identity, extensions: { issuer } };
const bundleText = fs.readFileSync(bundlePath, 'utf8');
const artifact = fs.readFileSync(artifactPath);
const verifyOnce = () => {
  const bundle = bundleFromJSON(JSON.parse(bundleText));
  verifier.verify(toSignedEntity(bundle, artifact), policy);
};
verifyOnce();
if (n) {
  const times = [];
  for (let i = 0; i < Number(n); i++) {
    const t = process.hrtime.bigint();
    verifyOnce();
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({ median_ms: times[Math.floor(times.length / 2)], n: times.length }));
}

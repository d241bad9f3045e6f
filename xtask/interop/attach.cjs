#!/usr/bin/env node
// Puts the producer's bundles into an OCI registry the way the Sigstore JS tooling does it.
//
//   node attach.cjs REGISTRY USER PASSWORD DIR
//
// REGISTRY is host:port of a plain-HTTP registry on 127.0.0.1 (e.g. Debian's docker-registry)
// that takes HTTP basic auth as USER/PASSWORD (throwaway test credentials): `sigstore attach`
// (@sigstore/oci 0.7.2) cannot talk to a registry without auth — it takes the 202 that starts an
// anonymous upload for a failed auth challenge ("Invalid challenge"). DIR is what produce.cjs
// wrote. For every bundle (and attestation) in DIR/interop.json this pushes the signed
// image (manifest.json and its `{}` config blob) to REGISTRY/trustpull/interop-<bundle name>,
// then runs `sigstore attach --attestation <bundle> <image>@<digest>` (@sigstore/cli), which
// stores the bundle as an OCI referrer (an artifact manifest with a `subject`; on registries
// without the referrers API, also the `sha256-<hex>` fallback index). Writes DIR/docker/config.json
// with the credentials (as `docker login` would) for `DOCKER_CONFIG=DIR/docker trustpull verify`.
// Prints one JSON line per bundle: {"file": …, "image": "REGISTRY/repo@sha256:…"}.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { execFile } = require('node:child_process');

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

function sha256(bytes) {
  return `sha256:${crypto.createHash('sha256').update(bytes).digest('hex')}`;
}

async function expectStatus(res, want, what) {
  if (res.status !== want) {
    throw new Error(`${what}: HTTP ${res.status} ${await res.text()}`);
  }
  return res;
}

async function pushBlob(base, auth, repo, bytes) {
  const digest = sha256(bytes);
  const start = await expectStatus(
    await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: { Authorization: auth } }),
    202,
    `start upload to ${repo}`
  );
  const location = new URL(start.headers.get('location'), base);
  location.searchParams.set('digest', digest);
  await expectStatus(
    await fetch(location, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/octet-stream', Authorization: auth },
      body: bytes,
    }),
    201,
    `upload blob ${digest} to ${repo}`
  );
}

function run(cmd, args) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${path.basename(args[0])} ${args.slice(1).join(' ')} failed: ${err.message}\n${stderr}`)) : resolve(stdout)
    );
  });
}

async function main() {
  const [registry, user, password, dir] = process.argv.slice(2);
  if (!registry || !user || !password || !dir) {
    console.error('usage: node attach.cjs REGISTRY USER PASSWORD DIR');
    process.exit(2);
  }
  if (!/^(127\.0\.0\.1|localhost):\d+$/.test(registry)) {
    throw new Error(`REGISTRY must be a loopback host:port, got ${registry}`);
  }
  const base = `http://${registry}`;
  const auth = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const interop = JSON.parse(fs.readFileSync(path.join(dir, 'interop.json'), 'utf8'));
  const manifest = fs.readFileSync(path.join(dir, interop.artifact));
  if (sha256(manifest) !== interop.digest) {
    throw new Error(`${interop.artifact} does not hash to ${interop.digest}`);
  }
  const config = JSON.parse(manifest.toString()).config;
  const configBytes = Buffer.from('{}');
  if (sha256(configBytes) !== config.digest) {
    throw new Error(`the manifest's config is not the {} blob: ${config.digest}`);
  }
  const cli = path.join(path.dirname(require.resolve('@sigstore/cli/package.json')), 'bin', 'run');
  fs.mkdirSync(path.join(dir, 'docker'), { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'docker', 'config.json'),
    JSON.stringify({ auths: { [registry]: { auth: Buffer.from(`${user}:${password}`).toString('base64') } } }) + '\n'
  );

  for (const bundle of [...interop.bundles, ...(interop.attestations || [])]) {
    const repo = `trustpull/interop-${bundle.file.replace(/\.sigstore\.json$/, '')}`;
    await pushBlob(base, auth, repo, configBytes);
    await expectStatus(
      await fetch(`${base}/v2/${repo}/manifests/interop`, {
        method: 'PUT',
        headers: { 'Content-Type': OCI_MANIFEST, Authorization: auth },
        body: manifest,
      }),
      201,
      `push manifest to ${repo}`
    );
    const image = `${registry}/${repo}@${interop.digest}`;
    await run(process.execPath, [
      cli,
      'attach',
      '--attestation',
      path.join(dir, bundle.file),
      '--username',
      user,
      '--password',
      password,
      image,
    ]);
    console.log(JSON.stringify({ file: bundle.file, image }));
  }
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});

#!/usr/bin/env node
// An independent Sigstore producer for trustpull's interop check.
//
//   SIGSTORE_PYTHON=PATH/TO/sigstore node produce.cjs OUT_DIR
//
// Starts a private Sigstore on 127.0.0.1 built from @sigstore/mock (Fulcio CA with an embedded-SCT
// CT log, Rekor v1 and v2, an RFC 3161 TSA), writes the matching trusted_root.json, and signs one
// fixed OCI image manifest with @sigstore/sign, the @sigstore/cli `attest` command and the
// sigstore-python CLI (`sigstore --trust-config FILE sign`, from PyPI; SIGSTORE_PYTHON names its
// executable). Nothing leaves the loopback interface; no real Sigstore service is contacted.
//
// OUT_DIR receives trusted_root.json (the mock's CA, CT log, Rekor and TSA keys, trusted root
// v0.1), manifest.json (the signed artifact: a fixed OCI image manifest), statement.json (the
// in-toto statement v1 the DSSE bundles carry), one *.sigstore.json per entry of BUNDLES below,
// simple-signing.json with legacy-python.sigstore.json (a legacy cosign signature's payload and
// sigstore-python's bundle over it, entry LEGACY of interop.json), and
// interop.json: the identity, issuer and digest, each bundle with how it was made and what a
// conforming verifier must do with it, and the package versions.
//
// Three things are adjusted, all on purpose and recorded here and in the fixtures' README:
// - The mock TSA stamps genTime with milliseconds ("20261122004447.621Z"). RFC 3161 allows that,
//   but sigstore-tsa 0.15 decodes genTime as an RFC 5280 GeneralizedTime and rejects any
//   fraction (trustpull verifies such tokens itself since issue 9). Bundles marked
//   `tsa: "whole seconds"` get a time truncated to the second, as the production Sigstore TSA
//   writes it; `message-tsa-fraction` keeps the mock's milliseconds and must verify.
// - Bundles the mock cannot make correctly are still made and marked `expect: reject` with the
//   reason, so a change on either side shows up.
// - sigstore-python speaks the services' wire formats where @sigstore/sign uses the JSON forms
//   the mock reads: the Fulcio identity token in an `Authorization: Bearer` header and the CSR as
//   base64 of its PEM text; RFC 3161 DER requests (`application/timestamp-query`) to the TSA,
//   with a 64-bit nonce. `fulcioRequest` and `tsaRequest` below translate those requests for the
//   mock; what the mock signs and returns is unchanged.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { execFile } = require('node:child_process');

const mock = require('@sigstore/mock');
const sign = require('@sigstore/sign');
const { bundleToJSON } = require('@sigstore/bundle');

// The workload identity the mock Fulcio certifies: a GitHub Actions release workflow. The mock
// Fulcio puts `sub` into a URI SAN and `iss` into the issuer extensions (.1.1 and .1.8); the other
// claims become the GitHub workflow extensions.
const IDENTITY = 'https://github.com/trustpull/interop-fixture/.github/workflows/release.yml@refs/heads/main';
const ISSUER = 'https://token.actions.githubusercontent.com';
const CLAIMS = {
  iss: ISSUER,
  sub: IDENTITY,
  aud: 'sigstore',
  repository: 'trustpull/interop-fixture',
  repository_owner: 'trustpull',
  ref: 'refs/heads/main',
  sha: '0123456789abcdef0123456789abcdef01234567',
  workflow: 'release',
  event_name: 'push',
  job_workflow_ref: 'trustpull/interop-fixture/.github/workflows/release.yml@refs/heads/main',
  runner_environment: 'github-hosted',
};

const IN_TOTO = 'application/vnd.in-toto+json';
const COSIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';
const IMAGE = '127.0.0.1:5000/trustpull/interop-fixture';

// A fixed OCI image manifest: its bytes (and so its digest) are the same on every run.
const MANIFEST = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
      size: 2,
    },
    layers: [],
    annotations: { 'org.opencontainers.image.title': 'trustpull interop fixture' },
  })
);

function unsignedJwt(claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
}

function sha256(bytes) {
  return crypto.createHash('sha256').update(bytes).digest();
}

function b64(bytes) {
  return Buffer.from(bytes).toString('base64');
}

function spki(keyPair) {
  return keyPair.publicKey.export({ format: 'der', type: 'spki' });
}

const FULCIO_PATH = '/api/v2/signingCert';

// sigstore-python's Fulcio requests, in the form the mock Fulcio reads (adjustment 3 in the header):
// the identity token from the `Authorization: Bearer` header into `credentials`, and the CSR, which
// Fulcio's JSON API carries as base64 of the PEM text, as that PEM text. Other requests (with
// `credentials` in the body, as @sigstore/sign sends them) pass unchanged.
function fulcioRequest(body, headers) {
  const json = JSON.parse(body);
  const bearer = /^Bearer (.+)$/.exec(headers.authorization || '');
  if (json.credentials || !bearer) return body;
  json.credentials = { oidcIdentityToken: bearer[1] };
  if (json.certificateSigningRequest) {
    json.certificateSigningRequest = Buffer.from(json.certificateSigningRequest, 'base64').toString();
  }
  return JSON.stringify(json);
}

const TSA_PATH = '/api/v1/timestamp';
// The asn1js the mock builds its timestamps with (the same module instance, for pkijs).
const asn1js = require(require.resolve('asn1js', { paths: [path.dirname(require.resolve('@sigstore/mock'))] }));
const HASH_NAMES = {
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

// An RFC 3161 TimeStampReq in DER (`application/timestamp-query`, what sigstore-python sends), in
// the JSON form the mock TSA reads (adjustment 3 in the header). The nonce is passed on as hex and
// put back, byte for byte, by the `tstInfo` wrapper in main (the mock keeps nonces as JS numbers,
// too small for a 64-bit nonce). JSON requests (@sigstore/sign's) pass unchanged.
function tsaRequest(raw, headers) {
  if (headers['content-type'] !== 'application/timestamp-query') return raw.toString();
  const der = asn1js.fromBER(new Uint8Array(raw).buffer);
  if (der.offset === -1) throw new Error(`malformed TimeStampReq: ${der.result.error}`);
  const [, imprint, ...rest] = der.result.valueBlock.value;
  const [algorithm, hashed] = imprint.valueBlock.value;
  const oid = algorithm.valueBlock.value[0].valueBlock.toString();
  const json = { artifactHash: Buffer.from(hashed.valueBlock.valueHexView).toString('base64'), hashAlgorithm: HASH_NAMES[oid] || oid };
  for (const field of rest) {
    if (field instanceof asn1js.Integer) json.nonce = Buffer.from(field.valueBlock.valueHexView).toString('hex');
    if (field instanceof asn1js.Boolean) json.certificates = field.valueBlock.value;
    if (field instanceof asn1js.ObjectIdentifier) json.tsaPolicyOID = field.valueBlock.toString();
  }
  return JSON.stringify(json);
}

// Serves every mock handler from one HTTP server on 127.0.0.1:<ephemeral port>.
function serve(handlers) {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const handler = handlers.find((h) => h.path === new URL(req.url, 'http://x').pathname);
      if (!handler || req.method !== 'POST') {
        res.writeHead(404).end(`no mock handler for ${req.method} ${req.url}`);
        return;
      }
      try {
        const raw = Buffer.concat(chunks);
        const body =
          handler.path === FULCIO_PATH ? fulcioRequest(raw.toString(), req.headers)
          : handler.path === TSA_PATH ? tsaRequest(raw, req.headers)
          : raw.toString();
        const { statusCode, response, contentType } = await handler.fn(body);
        if (statusCode >= 400) console.error(`mock ${req.url}: ${statusCode} ${response}`);
        res.writeHead(statusCode, { 'Content-Type': contentType || 'text/plain' });
        res.end(response);
      } catch (e) {
        res.writeHead(500).end(String(e));
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function run(cmd, args, env) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`)) : resolve(stdout)
    );
  });
}

function version(pkg) {
  return JSON.parse(fs.readFileSync(require.resolve(`${pkg}/package.json`), 'utf8')).version;
}

async function main() {
  const out = process.argv[2];
  const sigstorePython = process.env.SIGSTORE_PYTHON;
  if (!out || !sigstorePython) {
    console.error('usage: SIGSTORE_PYTHON=PATH/TO/sigstore node produce.cjs OUT_DIR');
    process.exit(2);
  }
  fs.mkdirSync(out, { recursive: true });

  // One key per service, P-256 like the mock's own defaults.
  const caKey = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const ctKey = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const rekorKey = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const tsaKey = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

  // The server must listen before the log is created: the log's checkpoint origin is its host.
  const handlers = [];
  const server = await serve(handlers);
  const base = `http://127.0.0.1:${server.address().port}`;

  const ctlog = await mock.initializeCTLog(ctKey);
  const ca = await mock.initializeCA(caKey, ctlog);
  const tlog = await mock.initializeTLog(base, rekorKey);
  const tsa = await mock.initializeTSA(tsaKey);
  // See the header: whole seconds unless a bundle asks for the mock's own milliseconds.
  let tsaMillis = null;
  tsa.getCurrentTime = () => {
    const second = Math.floor(Date.now() / 1000) * 1000;
    return new Date(tsaMillis === null ? second : second + tsaMillis);
  };
  // A nonce passed on as hex by tsaRequest goes into the TSTInfo byte for byte.
  const tstInfo = tsa.tstInfo.bind(tsa);
  tsa.tstInfo = (req) => {
    if (typeof req.nonce !== 'string') return tstInfo(req);
    const info = tstInfo({ ...req, nonce: 1 });
    info.nonce = new asn1js.Integer({ valueHex: Buffer.from(req.nonce, 'hex') });
    return info;
  };
  handlers.push(
    mock.fulcioHandler(ca),
    mock.rekorHandler(tlog),
    mock.rekorV2Handler(tlog),
    mock.tsaHandler(tsa)
  );

  // Validity starts when the mock created its roots (whole seconds, as in the certificates).
  const rootCert = new crypto.X509Certificate(Buffer.from(ca.rootCertificate));
  const start = new Date(rootCert.validFrom).toISOString().replace('.000Z', 'Z');
  const trustedRoot = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [
      {
        baseUrl: base,
        hashAlgorithm: 'SHA2_256',
        publicKey: {
          rawBytes: b64(tlog.publicKey),
          keyDetails: 'PKIX_ECDSA_P256_SHA_256',
          validFor: { start },
        },
        logId: { keyId: b64(sha256(tlog.publicKey)) },
      },
    ],
    certificateAuthorities: [
      {
        subject: { organization: 'sigstore.mock', commonName: 'sigstore' },
        uri: base,
        certChain: { certificates: [{ rawBytes: b64(ca.rootCertificate) }] },
        validFor: { start },
      },
    ],
    ctlogs: [
      {
        baseUrl: base,
        hashAlgorithm: 'SHA2_256',
        publicKey: {
          rawBytes: b64(ctlog.publicKey),
          keyDetails: 'PKIX_ECDSA_P256_SHA_256',
          validFor: { start },
        },
        logId: { keyId: b64(ctlog.logID) },
      },
    ],
    timestampAuthorities: [
      {
        subject: { organization: 'sigstore.mock', commonName: 'tsa' },
        uri: `${base}/api/v1/timestamp`,
        certChain: {
          certificates: [{ rawBytes: b64(tsa.intCertificate) }, { rawBytes: b64(tsa.rootCertificate) }],
        },
        validFor: { start },
      },
    ],
  };

  const digest = sha256(MANIFEST).toString('hex');
  const statement = Buffer.from(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: IMAGE, digest: { sha256: digest } }],
      predicateType: COSIGN_PREDICATE,
      predicate: {},
    })
  );
  // sigstore-python requires `exp` (and `aud` = sigstore); the mock Fulcio ignores both.
  const now = Math.floor(Date.now() / 1000);
  const token = unsignedJwt({ ...CLAIMS, iat: now, exp: now + 600 });
  const identityProvider = { getToken: async () => token };
  const signer = () => new sign.FulcioSigner({ identityProvider, fulcioBaseURL: base });
  const tsaWitness = () => new sign.TSAWitness({ tsaBaseURL: base });

  const write = (name, data) => fs.writeFileSync(path.join(out, name), data);
  const writeBundle = (name, bundle) => write(name, JSON.stringify(bundleToJSON(bundle), null, 2) + '\n');

  write('manifest.json', MANIFEST);
  write('statement.json', statement);
  write('trusted_root.json', JSON.stringify(trustedRoot, null, 2) + '\n');

  const rekor = (majorApiVersion, entryType) =>
    new sign.RekorWitness({ rekorBaseURL: base, entryType, majorApiVersion });
  const builders = {
    dsse: (witnesses) => new sign.DSSEBundleBuilder({ signer: signer(), witnesses }),
    message: (witnesses) => new sign.MessageSignatureBundleBuilder({ signer: signer(), witnesses }),
  };
  const artifacts = {
    dsse: { data: statement, type: IN_TOTO },
    message: { data: MANIFEST },
  };

  // What each bundle is and what a verifier must do with it. `reject` holds a piece of the
  // reason trustpull gives; `why` says whose behaviour it is.
  const BUNDLES = [
    {
      file: 'message.sigstore.json',
      kind: 'message',
      bundle: 'v0.2',
      rekor: 'v1 hashedrekord 0.0.1',
      tsa: 'whole seconds',
      expect: 'verify',
    },
    { file: 'message-no-tsa.sigstore.json', kind: 'message', bundle: 'v0.2', rekor: 'v1 hashedrekord 0.0.1', tsa: 'none', expect: 'verify' },
    { file: 'dsse-cli.sigstore.json', kind: 'dsse', bundle: 'v0.3', rekor: 'v1 intoto 0.0.2', tsa: 'whole seconds', expect: 'verify', cli: true },
    { file: 'dsse-intoto.sigstore.json', kind: 'dsse', bundle: 'v0.3', rekor: 'v1 intoto 0.0.2', tsa: 'none', expect: 'verify' },
    { file: 'python-message.sigstore.json', kind: 'message', bundle: 'v0.3', rekor: 'v1 hashedrekord 0.0.1', tsa: 'whole seconds', expect: 'verify', python: true },
    { file: 'python-message-no-tsa.sigstore.json', kind: 'message', bundle: 'v0.3', rekor: 'v1 hashedrekord 0.0.1', tsa: 'none', expect: 'verify', python: true },
    {
      file: 'message-tsa-fraction.sigstore.json',
      kind: 'message',
      bundle: 'v0.2',
      rekor: 'v1 hashedrekord 0.0.1',
      tsa: 'mock milliseconds (.500)',
      expect: 'verify',
    },
    {
      file: 'dsse-rekor1-dsse.sigstore.json',
      kind: 'dsse',
      bundle: 'v0.3',
      rekor: 'v1 dsse 0.0.1',
      tsa: 'whole seconds',
      expect: 'reject',
      reject: 'envelopeHash',
      why: 'mock gap: the mock Rekor logs the proposed dsse entry (spec.proposedContent), not the canonical body Rekor stores (spec.envelopeHash, payloadHash, signatures)',
    },
    {
      file: 'dsse-rekor2.sigstore.json',
      kind: 'dsse',
      bundle: 'v0.3',
      rekor: 'v2 dsse 0.0.2',
      tsa: 'whole seconds',
      expect: 'reject',
      reject: 'differs from the entry',
      why: 'mock gap: the mock Rekor v2 proof puts the random log index in a tree of size 1 with a hex root hash, and its body is its request object, not a Rekor v2 entry',
    },
    {
      file: 'message-rekor2.sigstore.json',
      kind: 'message',
      bundle: 'v0.2',
      rekor: 'v2 hashedrekord 0.0.2',
      tsa: 'whole seconds',
      expect: 'reject',
      reject: 'differs from the entry',
      why: 'mock gap: the mock Rekor v2 proof puts the random log index in a tree of size 1 with a hex root hash, and its body is its request object',
    },
  ];

  // sigstore-python's client trust config: the trusted root above and a signing config naming the
  // mock's Fulcio, Rekor v1 and (or not) TSA. Written outside OUT_DIR: its URLs die with this run.
  const service = (url) => ({ url, majorApiVersion: 1, validFor: { start }, operator: 'trustpull-interop-mock' });
  const configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trustpull-interop-'));
  const trustConfig = (tsa) => {
    const file = path.join(configDir, `trust-config${tsa ? '' : '-no-tsa'}.json`);
    const config = {
      mediaType: 'application/vnd.dev.sigstore.clienttrustconfig.v0.1+json',
      trustedRoot,
      signingConfig: {
        mediaType: 'application/vnd.dev.sigstore.signingconfig.v0.2+json',
        caUrls: [service(base)],
        oidcUrls: [],
        rekorTlogUrls: [service(base)],
        tsaUrls: tsa ? [service(`${base}${TSA_PATH}`)] : [],
        rekorTlogConfig: { selector: 'ANY' },
        tsaConfig: { selector: 'ANY' },
      },
    };
    fs.writeFileSync(file, JSON.stringify(config, null, 2) + '\n');
    return file;
  };
  const pythonVersion = (await run(sigstorePython, ['--version'], {})).trim();

  const cli = path.join(path.dirname(require.resolve('@sigstore/cli/package.json')), 'bin', 'run');
  for (const b of BUNDLES) {
    tsaMillis = b.tsa.startsWith('mock milliseconds') ? 500 : null;
    if (b.python) {
      // The sigstore-python CLI, offline apart from the mock: --trust-config instead of TUF,
      // Rekor v1 forced (the mock's Rekor v2 entries are unusable: gap 4).
      await run(
        sigstorePython,
        ['--trust-config', trustConfig(b.tsa !== 'none'), 'sign', '--identity-token', token, '--rekor-version', '1',
          '--bundle', path.join(out, b.file), path.join(out, 'manifest.json')],
        { NO_COLOR: '1' }
      );
      b.producer = pythonVersion.replace(/^sigstore /, 'sigstore-python ') + ' sign';
    } else if (b.cli) {
      // The @sigstore/cli `attest` command as a CI job runs it: with CI set it takes the token
      // from SIGSTORE_ID_TOKEN, logs an `intoto` entry and writes a v0.3 DSSE bundle.
      await run(
        process.execPath,
        [cli, 'attest', path.join(out, 'statement.json'), '--fulcio-url', base, '--rekor-url', base,
          '--tsa-server-url', base, '--payload-type', IN_TOTO, '--output-file', path.join(out, b.file)],
        { CI: 'true', SIGSTORE_ID_TOKEN: token, NO_COLOR: '1' }
      );
      b.producer = `@sigstore/cli ${version('@sigstore/cli')} attest`;
    } else {
      const [major, entry] = b.rekor.split(' ');
      const witnesses = [rekor(major === 'v2' ? 2 : 1, entry === 'hashedrekord' ? undefined : entry)];
      if (b.tsa !== 'none') witnesses.push(tsaWitness());
      writeBundle(b.file, await builders[b.kind](witnesses).create(artifacts[b.kind]));
      b.producer = `@sigstore/sign ${version('@sigstore/sign')}`;
    }
    const written = JSON.parse(fs.readFileSync(path.join(out, b.file), 'utf8'));
    const want = `application/vnd.dev.sigstore.bundle${b.bundle === 'v0.3' ? '.v0.3+json' : '+json;version=0.2'}`;
    if (written.mediaType !== want) {
      throw new Error(`${b.file}: expected media type ${want}, the producer wrote ${written.mediaType}`);
    }
  }
  // A legacy cosign signature (simple signing, cosign 1.x/2.x's default): sigstore-python signs
  // the simple-signing payload for the manifest digest as a plain artifact (hashedrekord in Rekor
  // v1, a whole-second TSA time); the xtask assembles cosign's `sha256-<hex>.sig` manifest and
  // annotations around that bundle (sigstore-python does not write OCI signatures).
  const LEGACY = [];
  {
    const payload = Buffer.from(
      JSON.stringify({
        critical: {
          identity: { 'docker-reference': IMAGE },
          image: { 'docker-manifest-digest': `sha256:${digest}` },
          type: 'cosign container image signature',
        },
        optional: null,
      })
    );
    write('simple-signing.json', payload);
    await run(
      sigstorePython,
      ['--trust-config', trustConfig(true), 'sign', '--identity-token', token, '--rekor-version', '1',
        '--bundle', path.join(out, 'legacy-python.sigstore.json'), path.join(out, 'simple-signing.json')],
      { NO_COLOR: '1' }
    );
    LEGACY.push({
      payload: 'simple-signing.json',
      bundle: 'legacy-python.sigstore.json',
      producer: pythonVersion.replace(/^sigstore /, 'sigstore-python ') + ' sign (payload); xtask (.sig layout)',
      rekor: 'v1 hashedrekord 0.0.1',
      tsa: 'whole seconds',
      expect: 'verify',
    });
  }
  // An SLSA provenance v1 attestation for the manifest, from the @sigstore/cli `attest` command
  // (logged as an `intoto` entry, v0.3 DSSE bundle): `trustpull verify-attestation --type
  // slsaprovenance1` must find it once attach.cjs has attached it.
  const ATTESTATIONS = [];
  {
    const slsa = 'https://slsa.dev/provenance/v1';
    write(
      'statement-slsa.json',
      JSON.stringify({
        _type: 'https://in-toto.io/Statement/v1',
        subject: [{ name: IMAGE, digest: { sha256: digest } }],
        predicateType: slsa,
        predicate: {
          buildDefinition: {
            buildType: 'https://trustpull.test/interop/build/v1',
            externalParameters: { workflow: 'release' },
          },
          runDetails: { builder: { id: 'https://github.com/trustpull/interop-fixture/.github/workflows/release.yml' } },
        },
      })
    );
    tsaMillis = null;
    await run(
      process.execPath,
      [cli, 'attest', path.join(out, 'statement-slsa.json'), '--fulcio-url', base, '--rekor-url', base,
        '--tsa-server-url', base, '--payload-type', IN_TOTO, '--output-file', path.join(out, 'attest-slsa.sigstore.json')],
      { CI: 'true', SIGSTORE_ID_TOKEN: token, NO_COLOR: '1' }
    );
    ATTESTATIONS.push({
      file: 'attest-slsa.sigstore.json',
      predicateType: slsa,
      producer: `@sigstore/cli ${version('@sigstore/cli')} attest`,
      expect: 'verify',
    });
  }
  server.close();
  fs.rmSync(configDir, { recursive: true, force: true });

  const interop = {
    identity: IDENTITY,
    issuer: ISSUER,
    artifact: 'manifest.json',
    digest: `sha256:${digest}`,
    predicateType: COSIGN_PREDICATE,
    bundles: BUNDLES,
    legacy: LEGACY,
    attestations: ATTESTATIONS,
    producedAt: new Date().toISOString(),
    versions: {
      node: process.version,
      '@sigstore/mock': version('@sigstore/mock'),
      '@sigstore/sign': version('@sigstore/sign'),
      '@sigstore/cli': version('@sigstore/cli'),
      '@sigstore/bundle': version('@sigstore/bundle'),
      'sigstore-python': pythonVersion.replace(/^sigstore /, ''),
    },
  };
  write('interop.json', JSON.stringify(interop, null, 2) + '\n');
  console.log(`wrote ${BUNDLES.length} bundles for sha256:${digest} to ${out}`);
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});

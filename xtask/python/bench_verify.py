"""sigstore-python's in-process verification of one bundle, timed (BENCHMARKS.md).

Run by `cargo xtask bench verify` with the venv xtask builds from requirements.txt beside
this file. The trusted root is read from a file (no TUF, no network: sockets are disabled before
anything is verified), the verifier is built once, and the artifact is given as its sha256
digest, as trustpull's bench does. Two loops are timed, in interleaved rounds:

- verify: `Verifier.verify_artifact` on a bundle parsed once, outside the loop;
- parse+verify: `Bundle.from_json` then `verify_artifact`, the same work trustpull's
  `verify_bundle` does per call.

Prints one JSON object on stdout: medians in milliseconds per verification and the versions.
"""

import argparse
import hashlib
import json
import platform
import socket
import statistics
import sys
import time
from importlib.metadata import version


def no_network(*_args, **_kwargs):
    raise RuntimeError("network access attempted during an offline benchmark")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trusted-root", required=True)
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--artifact", required=True)
    parser.add_argument("--identity", required=True)
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--per-round", type=int, default=20)
    args = parser.parse_args()

    socket.socket.connect = no_network
    socket.create_connection = no_network

    from sigstore.hashes import Hashed
    from sigstore.models import Bundle, TrustedRoot
    from sigstore.verify import Verifier
    from sigstore.verify.policy import Identity
    from sigstore_models.common.v1 import HashAlgorithm

    with open(args.bundle, "rb") as f:
        bundle_bytes = f.read()
    with open(args.artifact, "rb") as f:
        digest = hashlib.sha256(f.read()).digest()
    hashed = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=digest)

    # Warm trust root: parsed and prepared once, outside the timed loops.
    verifier = Verifier(trusted_root=TrustedRoot.from_file(args.trusted_root))
    policy = Identity(identity=args.identity, issuer=args.issuer)
    parsed = Bundle.from_json(bundle_bytes)

    def verify():
        verifier.verify_artifact(hashed, parsed, policy)

    def parse_and_verify():
        verifier.verify_artifact(hashed, Bundle.from_json(bundle_bytes), policy)

    for _ in range(args.per_round):
        verify()
        parse_and_verify()

    timed = {"verify": [], "parse_verify": []}
    for _ in range(args.rounds):
        for name, fn in (("verify", verify), ("parse_verify", parse_and_verify)):
            start = time.perf_counter_ns()
            for _ in range(args.per_round):
                fn()
            timed[name].append((time.perf_counter_ns() - start) / args.per_round / 1e6)

    json.dump(
        {
            "verify_ms": statistics.median(timed["verify"]),
            "parse_verify_ms": statistics.median(timed["parse_verify"]),
            "rounds": args.rounds,
            "per_round": args.per_round,
            "python": platform.python_version(),
            "sigstore": version("sigstore"),
            "cryptography": version("cryptography"),
        },
        sys.stdout,
    )
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

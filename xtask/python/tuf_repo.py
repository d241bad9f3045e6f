"""Write a TUF repository with python-tuf (an independent TUF implementation) for
`cargo xtask tuf-interop`: root, targets, snapshot and timestamp metadata with consistent
snapshots, holding one target, trusted_root.json.

    tuf_repo.py --out REPO --keys KEYS --target FILE --version N

Keys (ECDSA P-256, one per top-level role) are generated into KEYS on the first run and reused
afterwards, so a later run with a higher --version republishes the same repository. 1.root.json
is written once; targets, snapshot and timestamp get version N. Metadata expires in 30 days.
"""

import argparse
import hashlib
import os
from datetime import datetime, timedelta, timezone

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import (
    MetaFile,
    Metadata,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

ROLES = ["root", "timestamp", "snapshot", "targets"]
TARGET = "trusted_root.json"


def signer_for(keys_dir, role):
    path = os.path.join(keys_dir, f"{role}.pem")
    if not os.path.exists(path):
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        with open(path, "wb") as f:
            f.write(pem)
    with open(path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    return CryptoSigner(key)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def signed_bytes(signed, signer):
    md = Metadata(signed)
    md.sign(signer)
    return md.to_bytes(JSONSerializer(compact=False))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--keys", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--version", type=int, default=1)
    a = p.parse_args()
    os.makedirs(a.keys, exist_ok=True)
    signers = {role: signer_for(a.keys, role) for role in ROLES}
    expires = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=30)
    v = a.version

    root_path = os.path.join(a.out, "1.root.json")
    if not os.path.exists(root_path):
        root = Root(expires=expires, consistent_snapshot=True)
        for role in ROLES:
            root.add_key(signers[role].public_key, role)
        data = signed_bytes(root, signers["root"])
        write(root_path, data)
        write(os.path.join(a.out, "root.json"), data)

    with open(a.target, "rb") as f:
        target = f.read()
    targets = Targets(version=v, expires=expires)
    targets.targets[TARGET] = TargetFile.from_data(TARGET, target, ["sha256"])
    digest = hashlib.sha256(target).hexdigest()
    write(os.path.join(a.out, "targets", f"{digest}.{TARGET}"), target)
    write(os.path.join(a.out, f"{v}.targets.json"), signed_bytes(targets, signers["targets"]))

    snapshot = Snapshot(version=v, expires=expires)
    snapshot.meta["targets.json"] = MetaFile(version=v)
    snapshot_bytes = signed_bytes(snapshot, signers["snapshot"])
    write(os.path.join(a.out, f"{v}.snapshot.json"), snapshot_bytes)

    timestamp = Timestamp(
        version=v,
        expires=expires,
        snapshot_meta=MetaFile(
            version=v,
            length=len(snapshot_bytes),
            hashes={"sha256": hashlib.sha256(snapshot_bytes).hexdigest()},
        ),
    )
    write(os.path.join(a.out, "timestamp.json"), signed_bytes(timestamp, signers["timestamp"]))


if __name__ == "__main__":
    main()

"""The SHA-256 of a file, as the organism's manifests and fidelity references record it (train.py, fidelity.py,
ship.py)."""
import hashlib


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

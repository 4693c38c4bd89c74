"""The demo's keys, generated fresh for each run (nothing secret is kept in the repository).

The workers get their private key file and the trusted ring; the demo's orchestrator side
(the watcher) gets the ring only, public keys, as a real orchestrator would. The deploy
tool's key signs the plan events it reports (registration, traffic shares); each signer of
a gated stage (CTO, COO, compliance) signs sign-offs with a key of their own, which the
ring allows for that role only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from topics.keyfiles import write_ring, write_signing_key
from topics.keys import KeyRing, SigningKey

SIGNERS: Final[Mapping[str, str]] = {
    "cto": "dana.whitfield",
    "coo": "sam.okafor",
    "compliance": "r.lindqvist",
}
"""Who signs off which role in the demo (operator key names)."""
DEPLOYER: Final = "demo-deployer"


@dataclass(frozen=True)
class DemoKeys:
    worker_key: Path
    """The workers' private key file (mode 0600)."""
    ring: Path
    """The trusted ring: public keys, handed to the workers and the orchestrator side."""
    deployer: SigningKey
    signers: Mapping[str, SigningKey]

    def trusted(self) -> KeyRing:
        from topics.keyfiles import load_ring

        return load_ring(self.ring)


def make_demo_keys(directory: Path, rollouts: str) -> DemoKeys:
    """Fresh keys in ``directory`` (replaced when there); worker key for ``rollouts``
    (a name or ``prefix*``)."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    for old in directory.glob("*.json"):
        old.unlink()
    worker = SigningKey.generate("demo-worker-1", "worker")
    deployer = SigningKey.generate("demo-deployer-1", "operator", name=DEPLOYER)
    signers = {
        role: SigningKey.generate(f"demo-{role}-1", "operator", name=name)
        for role, name in SIGNERS.items()
    }
    worker_key = write_signing_key(worker, directory / "worker.key.json")
    ring = write_ring(
        directory / "trusted-keys.json",
        [
            worker.public(rollouts=(rollouts,)),
            deployer.public(),
            *(key.public(signoff_roles=frozenset({role})) for role, key in signers.items()),
        ],
    )
    return DemoKeys(worker_key, ring, deployer, signers)

"""The peers by name: ``PEERS`` maps a peer's name to its adapter
(:class:`~experiments.peers.base.Peer`); :func:`resolve` turns a ``--peers`` value into adapters,
failing with a message that names the pip extra when a peer is not installed. The libraries are
imported only when a peer is used."""

from __future__ import annotations

from experiments.peers.autograd_peer import AutogradPeer
from experiments.peers.base import EXTRA, Peer, PeerError
from experiments.peers.jax_peer import JaxPeer
from experiments.peers.torch_peer import TorchPeer

PEERS: dict[str, Peer] = {p.name: p for p in (JaxPeer(), TorchPeer(), AutogradPeer())}
ALL = "all"


def resolve(spec: str) -> tuple[list[Peer], str | None]:
    """The peers named in ``spec`` (``jax,torch``, or ``all`` for every one installed), set up,
    and a note for the user (``all`` with none installed), or :class:`PeerError`."""
    names = [t.strip() for t in spec.split(",") if t.strip()]
    if not names:
        raise PeerError(f"--peers needs a name: {', '.join(PEERS)} or {ALL}")
    unknown = [t for t in names if t not in PEERS and t != ALL]
    if unknown:
        raise PeerError(f"unknown peer '{unknown[0]}'; known peers: {', '.join(PEERS)} (or {ALL})")
    note = None
    if ALL in names:
        chosen = [p for p in PEERS.values() if p.installed()]
        if not chosen:
            note = f'no peer library is installed (pip install "{EXTRA}"); timing our engines only'
    else:
        chosen = [PEERS[t] for t in dict.fromkeys(names)]
        missing = [p for p in chosen if not p.installed()]
        if missing:
            raise PeerError(missing[0].missing_message())
    for p in chosen:
        p.setup()
    return chosen, note


__all__ = ["ALL", "PEERS", "resolve"]

"""Peers (JAX, PyTorch, HIPS autograd): the adapters against our reverse mode and closed forms, the
problem forms against the catalogue, the agreement check, the table and the exit codes.

An adapter's tests are skipped, saying which extra installs it, when its library is absent; the
rest run everywhere with a NumPy "peer" made here (right or deliberately wrong).
"""

import gc
import json
import types
from typing import Any

import numpy as np
import pytest

import experiments.peers as peers_pkg
import modes
from experiments import budget, timing
from experiments.cli import EXIT_DISAGREE, EXIT_OK, EXIT_USAGE
from experiments.peers import EXTRA, PEERS, PeerError, Prepared, resolve
from experiments.peers import __main__ as cli
from experiments.peers import run as peer_run
from experiments.peers.base import JIT, Peer, settle
from experiments.peers.forms import FORMS, Namespace, ours
from experiments.peers.run import OURS, PeerRun, PeerSettings
from experiments.peers.table import per_library, render
from experiments.problems import CATALOGUE, GRADIENT
from experiments.results import FORWARD, FUNCTION, REVERSE

# torch's own import warns about its own deprecated torch.jit.script use; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")

SIZE = {"article": 3}


def size_of(problem: str) -> int:
    return SIZE.get(problem, 7)


@pytest.fixture(scope="module", autouse=True)
def settle_after():
    """Leave the peers' objects (and the caches the tests filled) frozen, out of the way of later
    tests' gc.collect() calls, which would otherwise take tenths of a second each."""
    yield
    settle()


@pytest.fixture
def fast(monkeypatch):
    """One call per sample instead of timeit's 0.2 s autorange, and no full gc before each sample."""
    monkeypatch.setattr(peer_run, "loops_for", lambda fn, first, limit=None: (1, first))
    monkeypatch.setattr(budget, "AUTORANGE_S", 0.0)
    monkeypatch.setattr(budget, "AUTORANGE_COST_S", 0.0)
    fake_gc = types.SimpleNamespace(
        collect=lambda: 0, isenabled=gc.isenabled, enable=gc.enable, disable=gc.disable
    )
    monkeypatch.setattr(timing, "gc", fake_gc)


def installed_peer(name: str) -> Peer:
    p = PEERS[name]
    if not p.installed():
        pytest.skip(f'{name} is not installed (pip install "{EXTRA}")')
    p.setup()
    return p


def our_derivative(problem: str, n: int) -> tuple[Any, np.ndarray, np.ndarray | None]:
    inst = CATALOGUE[problem].build(n, 0)
    diff = modes.grad if inst.kind == GRADIENT else modes.jacobian
    return inst, np.asarray(diff(inst.f, inst.x, mode="reverse")), inst.reference


# ------------------------------------------------------------------------------- the forms


@pytest.mark.parametrize("problem", sorted(FORMS))
@pytest.mark.parametrize("n", [3, 10, 57])
def test_form_on_our_engines_is_the_catalogue_problem(problem, n):
    """Written once against xp, a form run on our engines gives the catalogue's value and gradient
    (same data, same point), so the peers are timed on the very problem we are."""
    n = 3 if problem == "article" else n
    inst, ref, _ = our_derivative(problem, n)
    f, x = FORMS[problem].build(ours(), n, 0)
    np.testing.assert_array_equal(np.asarray(x, dtype=float), np.asarray(inst.x, dtype=float))
    np.testing.assert_allclose(
        np.asarray(f(x), dtype=float), np.asarray(inst.f(inst.x), dtype=float), rtol=1e-14
    )
    diff = modes.grad if inst.kind == GRADIENT else modes.jacobian
    np.testing.assert_allclose(diff(f, x, mode="reverse"), ref, rtol=1e-13, atol=0)


def test_problems_without_a_form_say_why():
    assert "gmm" not in FORMS
    text = cli.list_problems()
    assert "gmm" in text and "no peer form" in text
    assert all(name in text for name in FORMS)


# ---------------------------------------------------------------------------- the adapters


@pytest.mark.parametrize("name", sorted(PEERS))
@pytest.mark.parametrize("problem", sorted(FORMS))
def test_adapter_agrees_with_our_reverse_mode_and_the_reference(name, problem):
    """Every mode of every peer, on every form: float64 derivatives equal to ours (and to the
    closed form), f's value equal to ours, jit modes compiled with their compile time measured."""
    peer = installed_peer(name)
    n = size_of(problem)
    inst, ref, closed = our_derivative(problem, n)
    form = FORMS[problem]
    f, x = form.build(peer.namespace(), n, 0)
    for mode in peer.all_modes():
        prep = peer.prepare(form, f, x, inst.kind, mode, limit=60)
        got = prep.to_numpy(prep.fn())
        assert got.dtype == np.float64, (name, mode)
        if mode.startswith(FUNCTION):
            np.testing.assert_allclose(got, np.asarray(inst.f(inst.x), dtype=float), rtol=1e-12)
        else:
            np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-300, err_msg=f"{name} {mode}")
            if closed is not None:
                np.testing.assert_allclose(got, closed, rtol=1e-9, atol=1e-12, err_msg=f"{name} {mode}")
        assert (prep.compile_s is not None) == mode.endswith(JIT), (name, mode)
        if mode == FORWARD:
            assert (prep.chunk, prep.passes) == (1, inst.n)
        # a second call gives the same (no state left over from the first)
        np.testing.assert_array_equal(prep.to_numpy(prep.fn()), got)


@pytest.mark.parametrize("name", sorted(PEERS))
def test_adapter_refuses_a_mode_it_does_not_have(name):
    peer = installed_peer(name)
    form = FORMS["rosenbrock-array"]
    f, x = form.build(peer.namespace(), 4, 0)
    with pytest.raises(PeerError, match=f"peer '{name}' has no mode 'sideways'"):
        peer.prepare(form, f, x, GRADIENT, "sideways")
    if not any(m.endswith(JIT) for m in peer.modes):
        with pytest.raises(PeerError, match="has no mode 'reverse-jit'"):
            peer.prepare(form, f, x, GRADIENT, "reverse-jit")


@pytest.mark.parametrize("name", sorted(PEERS))
def test_adapter_pins_float64_and_one_thread(name):
    peer = installed_peer(name)
    s = peer.settings()
    if name == "jax":
        assert s["jax_enable_x64"] is True
        assert "intra_op_parallelism_threads=1" in s["XLA_FLAGS"]
    if name == "torch":
        assert s["num_threads"] == 1 and s["dtype"] == "float64"
    x = peer.namespace().asarray(np.array([1.0, 2.0]))
    assert str(getattr(x, "dtype", "")).endswith("float64")


# ------------------------------------------------------------- peers made here, right and wrong


class NumpyPeer(Peer):
    """A peer computing the closed-form Rosenbrock gradient in NumPy, times ``scale``."""

    name, module, dist, install = "numpy-closed-form", "numpy", "numpy", "numpy"
    modes = (REVERSE,)

    def __init__(self, scale: float = 1.0, name: str = "numpy-closed-form") -> None:
        self.scale, self.name = scale, name

    def setup(self) -> None:
        pass

    def namespace(self) -> Namespace:
        return Namespace(self.name, np.asarray, np.sum, np.mean, np.tanh, np.reshape, lambda v: v)

    def prepare(self, form, f, x, kind, mode, limit=None) -> Prepared:
        self.check_mode(mode)
        from experiments.problems import rosenbrock_gradient

        if mode == FUNCTION:
            return Prepared(lambda: f(x), np.asarray)
        return Prepared(lambda: rosenbrock_gradient(np.asarray(x)) * self.scale, np.asarray, passes=1)


def peer_settings(peer_list, sizes=(8,), **kw):
    p = CATALOGUE["rosenbrock-array"]
    return PeerSettings(p, FORMS[p.name], list(sizes), peer_list, repeat=2, budget=2.0, **kw)


def test_agreement_check_catches_a_wrong_peer_gradient(fast):
    run = PeerRun(peer_settings([NumpyPeer(scale=1.0 + 1e-6, name="wrong")]))
    rows = {(r.library, r.mode): r for r in run.run()}
    bad = rows["wrong", REVERSE]
    assert bad.agrees is False and bad.status == "error"
    assert "disagrees with our reverse mode" in bad.reason and bad.max_rel_diff == pytest.approx(
        1e-6, rel=1e-3
    )
    assert bad.time_median_s is None  # a wrong derivative is not timed
    assert cli.exit_code(run.rows, False) == EXIT_DISAGREE


def test_a_right_peer_is_timed_beside_ours_in_one_run(fast):
    run = PeerRun(peer_settings([NumpyPeer()], sizes=(8, 16)))
    rows = run.run()
    assert {r.library for r in rows} == {OURS, "numpy-closed-form"}
    for r in rows:
        assert r.status == "ok", (r.library, r.mode, r.reason)
        assert r.time_median_s > 0 and len(r.samples_s) >= 1
    assert all(r.agrees for r in rows if r.mode != FUNCTION or r.library != OURS)
    assert cli.exit_code(rows, False) == EXIT_OK
    recs = per_library(rows)
    mine = next(r for r in recs if r["library"] == OURS and r["n"] == 8)
    assert mine["reverse_vs_ours"] == 1.0
    assert mine["forward_over_reverse"] == pytest.approx(mine["forward_s"] / mine["reverse_s"])
    text = render(rows)
    assert "n = 8" in text and "n = 16" in text and "reverse, fastest first:" in text


def test_a_hopeless_cell_is_skipped_from_smaller_n(fast):
    class Slow(NumpyPeer):
        def prepare(self, form, f, x, kind, mode, limit=None):
            import time

            n = len(x)
            return Prepared(lambda: time.sleep(0.15 * n) or f(x), lambda v: np.asarray(v, dtype=float))

        modes = ()

    run = PeerRun(peer_settings([Slow(name="slow")], sizes=(4, 40)))  # 0.6 s a call at n = 4, 6 s at 40
    rows = {(r.n, r.library, r.mode): r for r in run.run()}
    assert rows[4, "slow", FUNCTION].status == "ok"
    skipped = rows[40, "slow", FUNCTION]
    assert skipped.status == "skipped" and "predicted 6" in skipped.reason
    assert skipped.first_call_s is None  # never called


# ------------------------------------------------------------------------ names and exit codes


def test_unknown_peer_lists_the_known_ones():
    with pytest.raises(PeerError, match="unknown peer 'tensorflow'; known peers: jax, torch, autograd"):
        resolve("jax,tensorflow")


def test_missing_peer_names_the_extra(monkeypatch, capsys):
    monkeypatch.setattr(PEERS["torch"], "installed", lambda: False)
    assert cli.main(["--peers", "torch", "--inputs", "8"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "peer 'torch' is not installed" in err and EXTRA in err and "Traceback" not in err


def test_all_with_none_installed_runs_ours(monkeypatch, capsys, fast):
    for p in PEERS.values():
        monkeypatch.setattr(p, "installed", lambda: False)
    assert cli.main(["--peers", "all", "--inputs", "6", "--repeat", "2", "--budget", "2"]) == EXIT_OK
    out, err = capsys.readouterr()
    assert "no peer library is installed" in err and EXTRA in err
    assert "modes" in out and "jax" not in out


def test_wrong_peer_through_the_command_exits_3(monkeypatch, capsys, fast):
    monkeypatch.setitem(peers_pkg.PEERS, "wrong", NumpyPeer(scale=1.01, name="wrong"))
    code = cli.main(["--peers", "wrong", "--inputs", "6", "--repeat", "2", "--budget", "2", "--json"])
    assert code == EXIT_DISAGREE
    doc = json.loads(capsys.readouterr().out)
    bad = [r for r in doc["rows"] if r["library"] == "wrong" and r["mode"] == REVERSE]
    assert bad and bad[0]["agrees"] is False
    assert {r["library"] for r in doc["rows"]} == {OURS, "wrong"}
    assert "wrong" in doc["environment"]["peers"]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--problem", "gmm", "--inputs", "10", "--peers", "all"], "has no peer form"),
        (["--problem", "rosenbrok", "--inputs", "10"], "unknown problem"),
        (["--inputs", "10", "--peers", "tensorflow"], "unknown peer 'tensorflow'"),
        (["--inputs", "10", "--peers", ","], "--peers needs a name"),
        (["--inputs", "0"], "sizes must be whole numbers >= 1"),
        (["--problem", "article", "--inputs", "10"], "takes n = 3 only"),
        (["--peers", "all"], "--inputs N[,N...] is required"),
        (["--inputs", "10", "--budget", "-1"], "must be positive"),
    ],
)
def test_bad_input_exits_2_with_one_line(argv, says, capsys):
    assert cli.main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err

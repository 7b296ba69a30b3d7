"""Peers (JAX, PyTorch, HIPS autograd): the adapters against our reverse mode and closed forms, the
problem forms against the catalogue, the agreement check, the runner and ``compare-modes --peers``
(cells with a ``library``, interleaved with ours), the per-library table and the exit codes.

An adapter's tests are skipped, saying which extra installs it, when its library is absent; the
rest run everywhere with a NumPy "peer" made here (right or deliberately wrong), and the command
line test with a real peer uses autograd (which CI installs).
"""

import gc
import json
import types
from typing import Any

import numpy as np
import pytest

import experiments.peers.registry as peers_pkg
import modes
from experiments import budget, runner, timing
from experiments.cli import EXIT_DISAGREE, EXIT_OK, EXIT_USAGE, main
from experiments.peers import run as peer_run
from experiments.peers.base import EXTRA, JIT, Peer, PeerError, Prepared, settle
from experiments.peers.forms import FORMS, Namespace, ours
from experiments.peers.registry import PEERS, resolve
from experiments.peers.table import per_library, render
from experiments.problems import CATALOGUE, GRADIENT
from experiments.results import CELL_FIELDS, FORWARD, FUNCTION, OURS, REVERSE, SCHEMA_VERSION, load
from experiments.runner import Runner, Settings

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
    monkeypatch.setattr(runner, "loops_for", lambda fn, first, limit=None: (1, first))
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


def test_problems_without_a_form_say_why(capsys):
    assert "gmm" not in FORMS
    assert main(["--list-problems"]) == EXIT_OK
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert "no peer form (ADBench's GMM objective" in lines["gmm"]
    assert "peers: array form" in lines["mlp"] and "peers: as written (a scalar loop)" in lines["rosenbrock"]


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

    def settings(self) -> dict[str, Any]:
        return {"dtype": "float64"}

    def namespace(self) -> Namespace:
        return Namespace(self.name, np.asarray, np.sum, np.mean, np.tanh, np.reshape, lambda v: v)

    def prepare(self, form, f, x, kind, mode, limit=None) -> Prepared:
        self.check_mode(mode)
        from experiments.problems import rosenbrock_gradient

        if mode == FUNCTION:
            return Prepared(lambda: f(x), np.asarray)
        return Prepared(lambda: rosenbrock_gradient(np.asarray(x)) * self.scale, np.asarray, passes=1)


def run_with(peer_list, sizes=(8,), problem="rosenbrock-array", budget=2.0, **kw):
    s = Settings(
        CATALOGUE[problem], list(sizes), repeat=2, budget=budget, memory=False, peers=tuple(peer_list), **kw
    )
    r = Runner(s)
    return r, r.run()


def test_agreement_check_catches_a_wrong_peer_gradient(fast):
    _, outcome = run_with([NumpyPeer(scale=1.0 + 1e-6, name="wrong")])
    cells = {(c.library, c.mode): c for c in outcome.cells}
    bad = cells["wrong", REVERSE]
    assert bad.agrees is False and bad.status == "error"
    assert "wrong reverse disagrees with our reverse mode" in bad.reason
    assert bad.max_rel_diff == pytest.approx(1e-6, rel=1e-3)
    assert bad.time_median_s is None and not bad.samples_s  # a wrong derivative is not timed
    assert cells[OURS, REVERSE].status == "ok"  # ours is the judge, not the accused
    assert outcome.disagreements == [bad]
    from experiments.cli import exit_code

    assert exit_code(outcome) == EXIT_DISAGREE


def test_a_peer_without_our_reverse_mode_is_checked_against_the_reference(fast):
    """With --modes forward, our reverse mode is not run: the peer's gradient is checked against
    the closed form instead (and without one it would be skipped, not timed unchecked)."""

    class ForwardOnly(NumpyPeer):
        modes = (FORWARD,)

    _, outcome = run_with([ForwardOnly(scale=1.0 + 1e-6, name="wrong")], modes=(FORWARD,))
    assert {c.mode for c in outcome.cells if c.library == OURS} == {FUNCTION, FORWARD}
    bad = next(c for c in outcome.cells if c.library == "wrong" and c.mode == FORWARD)
    assert bad.status == "error" and "the closed-form reference" in bad.reason


def test_a_right_peer_is_timed_beside_ours_in_the_same_rounds(fast, monkeypatch):
    rounds = []
    real = runner.interleave

    def spy(plans, on_round=None):
        rounds.append(sorted(plans))
        return real(plans, on_round)

    monkeypatch.setattr(runner, "interleave", spy)
    _, outcome = run_with([NumpyPeer()], sizes=(8, 16))
    assert (
        rounds
        == [
            sorted(
                [
                    FUNCTION,
                    FORWARD,
                    "forward-chunked",
                    REVERSE,
                    "numpy-closed-form:function",
                    "numpy-closed-form:reverse",
                ]
            )
        ]
        * 2
    )
    assert {c.library for c in outcome.cells} == {OURS, "numpy-closed-form"}
    for c in outcome.cells:
        assert c.status == "ok", (c.library, c.mode, c.reason)
        assert c.time_median_s > 0 and len(c.samples_s) >= 1
    peer_rev = next(c for c in outcome.cells if c.library != OURS and c.mode == REVERSE)
    assert peer_rev.agrees and peer_rev.max_rel_diff < 1e-12
    assert peer_rev.ratio_to_function == pytest.approx(peer_rev.time_median_s / peer_rev.function_time_s)
    peer_f = next(c for c in outcome.cells if c.library != OURS and c.mode == FUNCTION)
    assert peer_f.agrees and peer_f.function_time_s == peer_f.time_median_s
    cells = [c.as_dict() for c in outcome.cells]
    recs = per_library(cells)
    mine = next(x for x in recs if x["library"] == OURS and x["n"] == 8)
    assert mine["reverse_vs_ours"] == 1.0
    assert mine["forward_over_reverse"] == pytest.approx(mine["forward_s"] / mine["reverse_s"])
    text = render(cells)
    assert "n = 8" in text and "n = 16" in text and "reverse, fastest first:" in text


def test_a_hopeless_peer_cell_is_skipped_from_smaller_n(fast):
    class Slow(NumpyPeer):
        modes = ()

        def prepare(self, form, f, x, kind, mode, limit=None):
            import time

            n = len(x)
            return Prepared(lambda: time.sleep(0.15 * n) or f(x), lambda v: np.asarray(v, dtype=float))

    _, outcome = run_with([Slow(name="slow")], sizes=(4, 40))  # 0.6 s a call at n = 4, 6 s at 40
    cells = {(c.n, c.library, c.mode): c for c in outcome.cells}
    assert cells[4, "slow", FUNCTION].status == "ok"
    skipped = cells[40, "slow", FUNCTION]
    assert skipped.status == "skipped" and "predicted 6" in skipped.reason
    assert skipped.first_call_s is None  # never called
    assert skipped.predicted_time_s == pytest.approx(6.0, rel=0.2)


@pytest.mark.parametrize("quick", [True, False], ids=["in-the-rounds", "in-autorange"])
def test_a_peer_failing_while_timed_is_an_error_and_ours_are_still_timed(quick, request):
    if quick:
        request.getfixturevalue("fast")

    class Flaky(NumpyPeer):
        def prepare(self, form, f, x, kind, mode, limit=None):
            good = super().prepare(form, f, x, kind, mode, limit)
            calls = []

            def fn():
                calls.append(1)
                if len(calls) > 1 and mode == REVERSE:
                    raise FloatingPointError("flaky")
                return good.fn()

            return Prepared(fn, good.to_numpy, passes=good.passes)

    # a budget no loaded machine exhausts: this test is about the failure, not about skipping
    # (with 2 s, a loaded run once skipped the f-alone cell it asserts on)
    _, outcome = run_with([Flaky(name="flaky")], budget=60.0)
    cells = {(c.library, c.mode): c for c in outcome.cells}
    bad = cells["flaky", REVERSE]
    assert bad.status == "error" and "FloatingPointError: flaky" in bad.reason
    assert ("failed while timed" if quick else "while its loop count was found") in bad.reason
    assert cells[OURS, REVERSE].status == "ok" and cells["flaky", FUNCTION].status == "ok"


def test_a_peer_with_nothing_to_be_checked_against_is_not_timed():
    """check_peers: no trusted result of ours and no closed form: the peer cell is skipped (an
    unchecked time is never reported), and a wrong f value is caught like a wrong derivative."""
    from experiments.results import Cell
    from experiments.verify import check_peers

    def cell(library, mode, status="ok"):
        return Cell("p", GRADIENT, 3, 3, 1, mode, None, None, None, library=library, status=status)

    ours = {FUNCTION: cell(OURS, FUNCTION), REVERSE: cell(OURS, REVERSE, status="error")}
    peers = {"x:reverse": cell("x", REVERSE), "x:function": cell("x", FUNCTION)}
    got = {"x:reverse": np.ones(3), "x:function": np.array(2.0)}
    check_peers(peers, got, ours, {FUNCTION: np.array(2.5), REVERSE: np.ones(3)}, None, 1e-8, lambda m: None)
    assert (
        peers["x:reverse"].status == "skipped"
        and "our reverse mode has no result" in peers["x:reverse"].reason
    )
    assert peers["x:function"].status == "error" and "disagrees with our f" in peers["x:function"].reason
    assert peers["x:function"].max_rel_diff == pytest.approx(0.2)


# ------------------------------------------------------------------------------ the schema


def test_cells_carry_their_library_and_old_files_still_load(tmp_path):
    assert SCHEMA_VERSION == 2 and "library" in CELL_FIELDS and "compile_s" in CELL_FIELDS
    old = {"schema_version": 1, "cells": [{"n": 3, "mode": REVERSE}]}
    (tmp_path / "results.json").write_text(json.dumps(old))
    doc = load(tmp_path)
    assert doc["schema_version"] == SCHEMA_VERSION
    assert doc["cells"][0]["library"] == OURS and doc["cells"][0]["compile_s"] is None


# ------------------------------------------------------------------------ names and exit codes


def test_unknown_peer_lists_the_known_ones():
    with pytest.raises(PeerError, match="unknown peer 'tensorflow'; known peers: jax, torch, autograd"):
        resolve("jax,tensorflow")


def test_missing_peer_names_the_extra(monkeypatch, capsys):
    monkeypatch.setattr(PEERS["torch"], "installed", lambda: False)
    assert main(["--problem", "rosenbrock-array", "--peers", "torch", "--inputs", "8"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "peer 'torch' is not installed" in err and EXTRA in err and "Traceback" not in err


def test_all_with_none_installed_runs_ours(monkeypatch, capsys, fast):
    for p in PEERS.values():
        monkeypatch.setattr(p, "installed", lambda: False)
    argv = [
        "--problem",
        "rosenbrock-array",
        "--peers",
        "all",
        "--inputs",
        "6",
        "--repeat",
        "2",
        "--budget",
        "2",
    ]
    assert main(argv) == EXIT_OK
    out, err = capsys.readouterr()
    assert "no peer library is installed" in err and EXTRA in err
    assert "reverse" in out and "jax" not in out and "library" not in out


def test_wrong_peer_through_the_command_exits_3(monkeypatch, capsys, fast):
    monkeypatch.setitem(peers_pkg.PEERS, "wrong", NumpyPeer(scale=1.01, name="wrong"))
    argv = ["--problem", "rosenbrock-array", "--peers", "wrong", "--inputs", "6", "--repeat", "2"]
    code = main([*argv, "--budget", "2", "--json"])
    assert code == EXIT_DISAGREE
    out, err = capsys.readouterr()
    doc = json.loads(out)
    bad = [c for c in doc["cells"] if c["library"] == "wrong" and c["mode"] == REVERSE]
    assert bad and bad[0]["agrees"] is False
    assert {c["library"] for c in doc["cells"]} == {OURS, "wrong"}
    assert doc["environment"]["peers"]["wrong"]["version"] and doc["settings"]["peers"] == ["wrong"]
    assert "wrong and our engines disagree at n = 6" in err


def test_cli_with_autograd_on_a_tiny_size(capsys, tmp_path):
    """A real peer end to end: cells with a library, timed and checked, in results.json, the CSV,
    the table and the per-library table."""
    installed_peer("autograd")
    argv = ["--problem", "rosenbrock-array", "--inputs", "5", "--peers", "autograd", "--out", str(tmp_path)]
    assert main([*argv, "--repeat", "3", "--budget", "3"]) == EXIT_OK
    out, _ = capsys.readouterr()
    assert "library" in out.splitlines()[1] and "autograd" in out
    assert "reverse, fastest first:" in out and "autograd 1." in out  # the per-library table, versioned
    (folder,) = tmp_path.iterdir()
    doc = load(folder)
    mine = [c for c in doc["cells"] if c["library"] == "autograd"]
    assert {c["mode"] for c in mine} == {FUNCTION, REVERSE, FORWARD}
    assert all(c["status"] == "ok" and c["agrees"] for c in mine), [c["reason"] for c in mine]
    assert doc["environment"]["peers"]["autograd"]["version"]
    assert "autograd" in (folder / "results.csv").read_text().split("\n")[-2]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--problem", "gmm", "--inputs", "10", "--peers", "all"], "has no peer form"),
        (
            ["--problem", "rosenbrock-array", "--inputs", "10", "--peers", "tensorflow"],
            "unknown peer 'tensorflow'",
        ),
        (["--problem", "rosenbrock-array", "--inputs", "10", "--peers", ","], "--peers needs a name"),
        (["--inputs", "10", "--chunks", "2,5", "--peers", "all"], "--peers and --chunks are separate runs"),
    ],
)
def test_bad_peer_input_exits_2_with_one_line(argv, says, capsys):
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


# ------------------------------------------------------------------------------ the report


def test_report_draws_peers_dashed_and_tabulates_them(fast, tmp_path, monkeypatch, capsys):
    from experiments import plots
    from experiments.report import report_folder

    argv = ["--problem", "rosenbrock-array", "--inputs", "6,12", "--repeat", "2", "--budget", "2"]
    monkeypatch.setitem(peers_pkg.PEERS, "closed", NumpyPeer(name="closed"))
    assert main([*argv, "--peers", "closed", "--out", str(tmp_path), "-q"]) == EXIT_OK
    (folder,) = tmp_path.iterdir()
    doc = load(folder)
    ours_cells = [c for c in doc["cells"] if c["library"] == OURS]
    peer_cells = [c for c in doc["cells"] if c["library"] == "closed"]
    fig = plots.time_figure(ours_cells, "t", peer_cells)
    dashed = [ln for ln in fig.axes[0].lines if ln.get_label() == "closed reverse"]
    assert dashed and dashed[0].get_linestyle() == "--"
    assert list(dashed[0].get_xdata()) == [6, 12]
    report = report_folder(folder).read_text()
    assert "Peers: reverse grad / f and forward/reverse speedup per library" in report
    assert (
        f"| 12 | closed {np.__version__} |" in report
        and "our reverse gradient among the libraries'" in report
    )


def test_a_report_imports_no_engine_and_no_peer():
    import subprocess
    import sys

    code = "import sys, experiments.report; print(sorted(m for m in ('modes', 'jax', 'torch', 'autograd') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_run_records_how_loaded_the_machine_was_and_the_report_says_so(fast, tmp_path, capsys):
    from experiments.report import report_folder

    argv = ["--problem", "rosenbrock-array", "--inputs", "4,8", "--repeat", "2", "--budget", "2", "-q"]
    assert main([*argv, "--out", str(tmp_path)]) == EXIT_OK
    (folder,) = tmp_path.iterdir()
    env = load(folder)["environment"]
    for key in ("load_average", "load_average_after"):
        assert len(env[key]) == 3 and all(v >= 0 for v in env[key])
    text = report_folder(folder).read_text()
    assert (
        f"load average {env['load_average'][0]:.1f} at the start, {env['load_average_after'][0]:.1f} at the end"
        in text
    )


def test_a_long_first_call_of_a_peer_is_kept_out_of_the_samples(fast):
    """A peer's first call of a second or more may be one-off setup (JAX eager): a second call
    stands in for it, the budget counts from there, and the note says both, naming no library."""

    class SlowStart(NumpyPeer):
        def prepare(self, form, f, x, kind, mode, limit=None):
            import time

            good, calls = super().prepare(form, f, x, kind, mode, limit), []

            def fn():
                calls.append(1)
                if len(calls) == 1 and mode == REVERSE:
                    time.sleep(1.1)
                return good.fn()

            return Prepared(fn, good.to_numpy, passes=good.passes)

    _, outcome = run_with([SlowStart(name="slowstart")])
    c = next(c for c in outcome.cells if c.library == "slowstart" and c.mode == REVERSE)
    assert c.status == "ok" and c.first_call_s >= 1.1 and max(c.samples_s) < 0.5
    assert "its first call took 1.1" in c.note and "is kept out of the samples" in c.note

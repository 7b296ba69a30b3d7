"""The problem catalogue: reference derivatives in both modes, accepted sizes, user problems."""

import textwrap

import numpy as np
import pytest

import modes
from experiments.problems import (
    CATALOGUE,
    GRADIENT,
    JACOBIAN,
    ProblemError,
    get_problem,
    gmm_params_count,
    gmm_shape,
    mlp_hidden,
)

SMALL = {
    "article": 3,
    "rosenbrock": 6,
    "rosenbrock-array": 7,
    "mlp": 31,
    "logsumexp": 5,
    "tall": 3,
    "gmm": 12,
}
SETTINGS = [("reverse", None), ("forward", 1), ("forward", None), ("forward", 2)]


def _derivative(inst, mode, chunk):
    diff = modes.grad if inst.kind == GRADIENT else modes.jacobian
    return diff(inst.f, inst.x, mode=mode, chunk=chunk)


def test_catalogue_has_the_issue_problems():
    assert {"article", "rosenbrock", "rosenbrock-array", "mlp", "logsumexp", "gmm", "tall"} <= set(CATALOGUE)
    for p in CATALOGUE.values():
        assert p.description and p.sizes and p.kind in (GRADIENT, JACOBIAN)
    assert CATALOGUE["tall"].kind == JACOBIAN


@pytest.mark.parametrize("mode,chunk", SETTINGS)
@pytest.mark.parametrize("name", [n for n in SMALL if n != "gmm"])
def test_reference_derivative_in_both_modes(name, mode, chunk):
    inst = CATALOGUE[name].build(SMALL[name], seed=3)
    assert inst.reference is not None
    got = _derivative(inst, mode, chunk)
    np.testing.assert_allclose(got, inst.reference, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", [n for n in SMALL if n != "gmm"])
def test_function_value_is_plain_and_deterministic(name):
    a, b = CATALOGUE[name].build(SMALL[name], seed=7), CATALOGUE[name].build(SMALL[name], seed=7)
    ya, yb = a.f(a.x), b.f(b.x)
    np.testing.assert_array_equal(ya, yb)
    assert np.shape(ya) == (() if a.kind == GRADIENT else (a.m,))
    assert a.n == np.asarray(a.x).size


def test_scalar_style_and_array_style_inputs():
    assert isinstance(CATALOGUE["rosenbrock"].build(5).x, list)
    assert isinstance(CATALOGUE["rosenbrock-array"].build(5).x, np.ndarray)
    r, ra = CATALOGUE["rosenbrock"].build(9, seed=1), CATALOGUE["rosenbrock-array"].build(9, seed=1)
    assert r.f(r.x) == pytest.approx(ra.f(ra.x), rel=1e-14)


def test_article_takes_three_inputs_only():
    p = CATALOGUE["article"]
    assert p.size_error(3) is None
    assert "n = 3 only" in p.size_error(10)
    with pytest.raises(ProblemError, match="n = 3 only"):
        p.build(10)


def test_rosenbrock_needs_two_inputs():
    assert "n >= 2" in CATALOGUE["rosenbrock"].size_error(1)


def test_mlp_reports_the_n_it_used():
    inst = CATALOGUE["mlp"].build(1000)
    h = mlp_hidden(1000)
    assert inst.n == h * 10 + 1 == 1001 and inst.details["hidden"] == h == 100
    assert CATALOGUE["mlp"].build(1).n == 11  # the smallest network


def test_tall_outputs_default_and_override():
    p = CATALOGUE["tall"]
    assert p.build(4).m == 40
    inst = p.build(4, outputs=9)
    assert inst.m == 9 and inst.reference.shape == (9, 4)


def test_gmm_shape_picks_the_closest_parameter_count():
    for n in (6, 30, 100, 1000, 5000):
        d, k = gmm_shape(n)
        assert abs(gmm_params_count(d, k) - n) <= 3
    assert gmm_shape(700, d=10) == (10, 11)
    assert gmm_params_count(2, 5) == 30  # ADBench's gmm_1k_d2_K5


def test_gmm_reverse_matches_central_differences():
    """gmm has no closed-form reference: reverse mode against central finite differences."""
    inst = CATALOGUE["gmm"].build(12, seed=2)
    assert (inst.details["D"], inst.details["K"]) == (2, 2) and inst.n == 12
    fd = modes.finite_difference_jacobian(inst.f, inst.x)
    np.testing.assert_allclose(modes.grad(inst.f, inst.x), fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("mode,chunk", [s for s in SETTINGS if s[0] == "forward"])
def test_gmm_forward_agrees_with_reverse(mode, chunk):
    inst = CATALOGUE["gmm"].build(12, seed=2)
    rev = modes.grad(inst.f, inst.x)
    np.testing.assert_allclose(_derivative(inst, mode, chunk), rev, rtol=1e-10, atol=1e-12)


def test_gmm_from_a_shipped_data_file_matches_adbench():
    from experiments import adbench

    problem, opts = get_problem("gmm:file=gmm_test_d2_K3_n1.txt")
    assert problem.fixed_n == 18 and problem.size_error(30)
    inst = problem.build(18, options=opts)
    expected = adbench.load_expected()["gmm:jacobian_calculation_correctness"]["expected_gradient"]
    for mode in ("reverse", "forward"):
        np.testing.assert_allclose(modes.grad(inst.f, inst.x, mode=mode), expected, rtol=1e-8)


def test_get_problem_unknown_lists_the_known_ones():
    with pytest.raises(ProblemError) as e:
        get_problem("rosenbrok")
    assert "unknown problem 'rosenbrok'" in str(e.value) and "rosenbrock-array" in str(e.value)
    assert e.value.usage


@pytest.mark.parametrize(
    "spec,message",
    [
        ("gmm:D", "key=value"),
        ("gmm:Q=3", "no option 'Q'"),
        ("rosenbrock:D=3", "options: none"),
        ("gmm:D=0", "positive integer"),
        ("prob.py", "needs a function name"),
    ],
)
def test_problem_options_are_checked(spec, message):
    with pytest.raises(ProblemError, match=message):
        get_problem(spec)


# ----------------------------------------------------------------------------- user problems


def _write(tmp_path, body, name="myprob.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def test_user_problem_gradient(tmp_path):
    path = _write(
        tmp_path,
        '''
        def build(n, seed):
            """Sum of squares."""
            f = lambda v: sum(x * x for x in v)
            x = [float(i) for i in range(n)]
            return f, x, [2.0 * i for i in range(n)]
    ''',
    )
    problem, _ = get_problem(f"{path}:build")
    assert problem.description == "Sum of squares."
    inst = problem.build(4)
    assert inst.kind == GRADIENT and inst.n == 4 and inst.m == 1
    np.testing.assert_allclose(modes.grad(inst.f, inst.x, mode="forward"), inst.reference)


def test_user_problem_jacobian(tmp_path):
    path = _write(
        tmp_path,
        """
        import numpy as np
        def build(n, seed):
            return (lambda v: np.stack([v * 2.0, v * 3.0]).ravel()), np.ones(n)
    """,
    )
    inst = get_problem(f"{path}:build")[0].build(3)
    assert inst.kind == JACOBIAN and inst.m == 6 and inst.reference is None


def test_user_problem_missing_file(tmp_path):
    with pytest.raises(ProblemError, match="does not exist") as e:
        get_problem(f"{tmp_path}/nope.py:build")
    assert e.value.usage


def test_user_problem_missing_function(tmp_path):
    path = _write(tmp_path, "def other(n, seed):\n    return None\n")
    with pytest.raises(ProblemError, match=r"has no function 'build'.*other"):
        get_problem(f"{path}:build")


def test_user_problem_that_raises_on_import_shows_the_users_error(tmp_path):
    path = _write(tmp_path, "x = 1\nraise RuntimeError('my data file is missing')\n")
    with pytest.raises(ProblemError) as e:
        get_problem(f"{path}:build")
    assert "RuntimeError: my data file is missing" in str(e.value) and "line 2 of myprob.py" in str(e.value)
    assert not e.value.usage


def test_user_problem_whose_builder_raises(tmp_path):
    path = _write(tmp_path, "def build(n, seed):\n    return 1 / 0\n")
    problem, _ = get_problem(f"{path}:build")
    with pytest.raises(ProblemError, match=r"ZeroDivisionError: division by zero \(line 2 of myprob.py\)"):
        problem.build(3)


def test_user_problem_with_a_bad_return_value(tmp_path):
    path = _write(tmp_path, "def build(n, seed):\n    return 42\n")
    with pytest.raises(ProblemError, match=r"must return \(f, x\)"):
        get_problem(f"{path}:build")[0].build(3)


def test_a_problem_file_imports_a_module_beside_it(tmp_path):
    # issue 15 item 15: ModuleNotFoundError unless PYTHONPATH=. (pytest puts a test file's folder
    # on sys.path; a problem file gets the same while it loads)
    import sys

    (tmp_path / "myhelper_issue15.py").write_text("import numpy as np\nSCALE = 3.0\n")
    path = _write(
        tmp_path,
        """
        import numpy as np
        from myhelper_issue15 import SCALE
        def build(n, seed):
            return (lambda v: SCALE * (v * v).sum()), np.ones(n)
    """,
    )
    inst = get_problem(f"{path}:build")[0].build(3)
    assert inst.x.shape == (3,)
    assert str(tmp_path) not in sys.path

"""The terminal table and the closing sentences, from hand-made cells."""

from experiments.human import human_bytes, human_seconds, times
from experiments.results import Cell
from experiments.tables import format_table, summary


def cell(n, mode, median=None, status="ok", m=1, kind="gradient", **kw):
    chunk = {"forward": 1, "forward-chunked": min(n, 12)}.get(mode)
    passes = -(-n // chunk) if chunk else 1
    c = Cell(
        "p",
        kind,
        n,
        n,
        m,
        mode,
        chunk,
        passes,
        m if mode == "reverse" else None,
        status=status,
        time_median_s=median,
        time_iqr_s=median and median / 10,
        **kw,
    )
    return c.as_dict()


def test_units():
    assert human_seconds(2.5e-7) == "250 ns" and human_seconds(0.0123) == "12.3 ms"
    assert human_seconds(300) == "5 min" and human_seconds(None) == "-"
    assert human_bytes(1536) == "1.5 KiB" and human_bytes(None) == "-"
    assert times(212.4) == "212x" and times(3.456) == "3.46x" and times(None) == "-"


def test_single_size_sentence_measured():
    cells = [
        cell(1000, "function", 1e-4),
        cell(1000, "forward", 2.0),
        cell(1000, "reverse", 0.01, ratio_to_function=100.0),
    ]
    s = summary(cells)
    assert s[0] == "Reverse mode was 200x faster than forward mode (chunk 1) at n = 1000; ideal n/c = 1000."
    assert s[-1] == "At n = 1000 a reverse-mode gradient took 100x as long as the function itself."


def test_single_size_sentence_predicted():
    cells = [
        cell(1000, "forward", status="skipped", reason="over budget", predicted_time_s=20.0),
        cell(1000, "reverse", 0.05),
    ]
    (s,) = summary(cells)
    assert s.startswith("Reverse mode would be about 400x faster than forward mode (chunk 1) at n = 1000")
    assert "estimated: forward mode (chunk 1) was not timed, a call takes about 20 s" in s


def test_a_cell_skipped_after_its_first_call_is_estimated_by_that_call():
    cells = [
        cell(1000, "forward", status="skipped", predicted_time_s=1.0, first_call_s=4.0),
        cell(1000, "reverse", 0.01),
    ]
    (s,) = summary(cells)
    assert s.startswith("Reverse mode would be about 400x faster")


def test_forward_wins_on_a_tall_jacobian():
    cells = [
        cell(4, "forward", 0.001, m=200, kind="jacobian"),
        cell(4, "reverse", 0.02, m=200, kind="jacobian"),
    ]
    (s,) = summary(cells)
    assert s == (
        "Forward mode (chunk 1) was 20x faster than reverse mode at n = 4 inputs and m = 200 outputs; "
        "4 forward passes against 200 reverse sweeps."
    )


def test_sweep_sentence():
    cells = [
        cell(10, "forward", 0.01),
        cell(10, "reverse", 0.001),
        cell(100, "forward", 1.0),
        cell(100, "reverse", 0.01),
        cell(1000, "forward", status="skipped", predicted_time_s=100.0),
        cell(1000, "reverse", 0.1),
    ]
    (s,) = summary(cells)
    assert s == (
        "Speedup of reverse mode over forward mode (chunk 1): 10x at n = 10, 100x at n = 100, "
        "~1000x at n = 1000 (ideal n/c: 10, 100, 1000); ~ marks an estimate for a cell over the budget."
    )


def test_table_footnotes_skipped_cells():
    cells = [
        cell(
            5, "reverse", 0.001, ops=10, adjoint_updates=13, peak_bytes=2048, max_rel_diff=1e-16, agrees=True
        ),
        cell(5, "forward", status="skipped", reason="predicted 20 s per call"),
    ]
    text = format_table(cells)
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["n", "mode", "chunk", "passes"]
    assert "skipped [1]" in lines[2] and "forward" in lines[2]  # forward sorts before reverse
    assert "2.0 KiB" in lines[3] and "yes 1e-16" in lines[3]
    assert lines[-1] == "[1] forward at n = 5: skipped: predicted 20 s per call"


def test_a_cell_timed_by_its_verification_call_alone():
    """One sample (a long call's verification call): IQR n/a, the note says why, and the sentence
    is a measurement."""
    note = "1 sample: the verification call; a call this long (>= 1 s) needs no warm-up; IQR not available"
    fwd = cell(1000, "forward", 14.0, first_call_s=14.0, samples_s=[14.0], note=note)
    fwd["time_iqr_s"] = None
    cells = [fwd, cell(1000, "reverse", 0.02)]
    lines = format_table(cells).splitlines()
    assert (
        lines[2].split()[:7] == ["1000", "forward", "1", "1,000", "-", "14", "s"]
        and lines[2].split()[7] == "n/a"
    )
    assert lines[-1] == f"note: forward at n = 1000: {note}"
    assert (
        summary(cells)[0]
        == "Reverse mode was 700x faster than forward mode (chunk 1) at n = 1000; ideal n/c = 1000."
    )


def test_a_cell_cut_off_at_the_budget_is_estimated_by_its_prediction_and_says_so():
    reason = "one call did not finish within the 20 s budget (predicted 17.4 s); at most n <= 920 would fit"
    cells = [
        cell(1000, "forward", status="skipped", reason=reason, predicted_time_s=17.4),
        cell(1000, "reverse", 0.02),
    ]
    (s,) = summary(cells)
    assert s.startswith("Reverse mode would be about 870x faster than forward mode (chunk 1) at n = 1000")
    assert s.endswith(
        "(estimated: forward mode (chunk 1) was not timed: one call did not finish within the "
        "20 s budget; its predicted 17.4 s a call is used)."
    )

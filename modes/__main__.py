"""``python -m modes``: the article's example, f = (a+b)(b+c) at (-1, 3, 4), in both modes."""

from __future__ import annotations

import modes
from modes.examples import ARTICLE_POINT, article


def main() -> None:
    x = list(ARTICLE_POINT)
    print("f = (a + b) * (b + c) at a = -1, b = 3, c = 4\n")
    rec = modes.record(article, x)
    print("reverse mode: the tape (Wengert list), in execution order")
    print(rec.tape.format())
    for mode in ("reverse", "forward"):
        with modes.counting(memory=False) as s:
            value, g = modes.value_and_grad(article, x, mode=mode, chunk=1 if mode == "forward" else None)
        print(
            f"\n{mode:8s} f = {value:g}, grad = {g.tolist()}  "
            f"passes = {s.passes}, primitive evaluations = {s.ops}, "
            f"{'tangent' if mode == 'forward' else 'adjoint'} updates = "
            f"{s.tangent_updates or s.adjoint_updates}"
        )
    print("\nforward mode needs one pass per input (3), reverse mode one sweep: the article's 'thrice'.")


if __name__ == "__main__":
    main()

"""The article's example, defined once: ``python -m modes``, the problem catalogue and the tests
all use this function and this point."""

from __future__ import annotations

from typing import Any

#: (a, b, c) where the article evaluates f.
ARTICLE_POINT = (-1.0, 3.0, 4.0)
#: f's gradient at :data:`ARTICLE_POINT`, worked out by hand in the article.
ARTICLE_GRADIENT = (7.0, 9.0, 2.0)


def article(v: Any) -> Any:
    """The article's f = (a + b)(b + c), one graph node per input."""
    a, b, c = v
    return (a + b) * (b + c)

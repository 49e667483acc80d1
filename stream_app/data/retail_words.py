"""Product-type word of an Online Retail description: its category in every reader.

The category is the description's last word that is not a colour, size, pattern or theme word
("WHITE HANGING HEART T-LIGHT HOLDER" → HOLDER); an invoice's category is its most frequent
one. StockCode families were rejected: their digits follow launch order, not product kind.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[A-Z][A-Z'-]+")
_NOT_A_TYPE = frozenset(
    [
        "DESIGN",
        "PINK",
        "RED",
        "BLUE",
        "WHITE",
        "GREEN",
        "CREAM",
        "BLACK",
        "IVORY",
        "PURPLE",
        "GOLD",
        "SILVER",
        "YELLOW",
        "ORANGE",
        "BROWN",
        "GREY",
        "NATURAL",
        "PASTEL",
        "LARGE",
        "SMALL",
        "MEDIUM",
        "MINI",
        "JUMBO",
        "BIG",
        "RETROSPOT",
        "POLKADOT",
        "PAISLEY",
        "ASSORTED",
        "SET",
        "OF",
        "TIER",
        "FINISH",
        "COLOUR",
        "COLOURS",
        "COL",
        "VINTAGE",
        "WOODLAND",
        "LONDON",
        "SPOTS",
        "DOTS",
        "DOTTY",
        "STRIPE",
        "STRIPES",
        "FLOWER",
        "FLORAL",
        "ROSE",
        "ROSES",
        "HEART",
        "HEARTS",
        "CHRISTMAS",
        "TRADITIONAL",
        "DOLLY",
        "GIRL",
        "SKULL",
        "SKULLS",
        "BIRD",
        "BIRDS",
        "FELTCRAFT",
        "REGENCY",
        "ANTIQUE",
        "ENGLISH",
        "PANTRY",
        "SPACEBOY",
        "WITH",
        "AND",
        "IN",
        "THE",
        "A",
    ]
)


def retail_category(description: str) -> str:
    """Product-type word of an Online Retail description (see module doc)."""
    words = _WORD.findall(description.upper())
    return next((w for w in reversed(words) if w not in _NOT_A_TYPE), "MISC")

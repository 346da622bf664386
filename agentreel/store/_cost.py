"""Per-token prices from the maintained `genai-prices` table.

Prices are resolved once per (provider, model) and cached in the store's
``prices`` table, so ingest computes ``cost_usd`` in SQL. A model the table does
not know gets NULL rates, and its spans a NULL cost, never zero. Tiered prices
(some models charge more past a context size) are taken at their first tier.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, NamedTuple

__all__ = ["Price", "resolve_price"]


class Price(NamedTuple):
    """USD per token of one model (None: not in the table), and where the price came from."""

    input: float | None
    output: float | None
    source: str
    cache_read: float | None = None  # input read from the prompt cache
    cache_write: float | None = None  # input written to it


def _rate(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, Decimal | int | float):
        return float(v) / 1_000_000
    base = getattr(v, "base", None)  # TieredPrices: the first tier
    return float(base) / 1_000_000 if base is not None else None


def resolve_price(provider: str | None, model: str) -> Price:
    """USD per input, output and cached-input token of `model`; None where unknown."""
    try:
        from genai_prices import Usage, calc_price
    except ImportError:  # pragma: no cover - a declared dependency
        return Price(None, None, "genai-prices not installed")
    try:
        calc = calc_price(
            Usage(input_tokens=1, output_tokens=1), model_ref=model, provider_id=provider
        )
    except LookupError:
        if provider is None:
            return Price(None, None, "unknown model")
        try:
            calc = calc_price(Usage(input_tokens=1, output_tokens=1), model_ref=model)
        except LookupError:
            return Price(None, None, "unknown model")
    except Exception as e:  # a bad entry in the table must not stop ingest
        return Price(None, None, f"price lookup failed: {e}")
    mp = calc.model_price
    return Price(
        _rate(getattr(mp, "input_mtok", None)),
        _rate(getattr(mp, "output_mtok", None)),
        f"genai-prices {calc.model.id}",
        _rate(getattr(mp, "cache_read_mtok", None)),
        _rate(getattr(mp, "cache_write_mtok", None)),
    )

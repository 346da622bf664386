"""Per-token prices from the maintained `genai-prices` table.

Prices are resolved once per (provider, model) and cached in the store's
``prices`` table, so ingest computes ``cost_usd`` in SQL. A model the table does
not know gets NULL rates, and its spans a NULL cost, never zero. Tiered prices
(some models charge more past a context size) are taken at their first tier.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

__all__ = ["resolve_price"]


def _rate(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, Decimal | int | float):
        return float(v) / 1_000_000
    base = getattr(v, "base", None)  # TieredPrices: the first tier
    return float(base) / 1_000_000 if base is not None else None


def resolve_price(provider: str | None, model: str) -> tuple[float | None, float | None, str]:
    """USD per input and per output token of `model`, or (None, None) when unknown."""
    try:
        from genai_prices import Usage, calc_price
    except ImportError:  # pragma: no cover - a declared dependency
        return None, None, "genai-prices not installed"
    try:
        calc = calc_price(
            Usage(input_tokens=1, output_tokens=1), model_ref=model, provider_id=provider
        )
    except LookupError:
        if provider is None:
            return None, None, "unknown model"
        try:
            calc = calc_price(Usage(input_tokens=1, output_tokens=1), model_ref=model)
        except LookupError:
            return None, None, "unknown model"
    except Exception as e:  # a bad entry in the table must not stop ingest
        return None, None, f"price lookup failed: {e}"
    mp = calc.model_price
    return (
        _rate(getattr(mp, "input_mtok", None)),
        _rate(getattr(mp, "output_mtok", None)),
        f"genai-prices {calc.model.id}",
    )

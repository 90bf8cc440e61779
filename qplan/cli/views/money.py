"""Amounts of money, and the sentence that says what a plan will cost, in one wording for
the text plan, the Markdown plan and apply's question."""

from __future__ import annotations

from collections.abc import Callable

from qplan.planner.document import CostDocument

__all__ = ["cost_sentence", "money"]


def money(amount: float | None, currency: str) -> str:
    """``12.35 USD`` (``0.075 USD`` under one); ``free`` for zero; ``unknown`` without a price."""
    if amount is None:
        return "unknown"
    if amount == 0:
        return "free"
    if amount < 0.01:
        return f"{amount:.4f} {currency}"
    if amount < 1:
        text = f"{amount:.3f}"
        return f"{text[:-1] if text.endswith('0') else text} {currency}"
    return f"{amount:,.2f} {currency}"


def _same(text: str) -> str:
    return text


def cost_sentence(
    cost: CostDocument,
    *,
    quote: Callable[[str], str] = _same,
    strong: Callable[[str], str] = _same,
) -> str:
    """``Estimated cost: 9.00 USD, over the budget of 5.00 USD``: the total (or that it is
    unknown, and for which targets), then the budget's verdict. ``quote`` and ``strong``
    mark up target names and the words that matter (Markdown)."""
    total = money(cost.total, cost.currency)
    unpriced = ", ".join(quote(t) for t in cost.unpriced)
    if cost.unpriced and not cost.total:
        text = f"Estimated cost: {strong('unknown')} (no price known for {unpriced})"
    elif cost.unpriced:
        text = f"Estimated cost: {strong(total)} plus {unpriced} (no price known)"
    else:
        text = f"Estimated cost: {strong(total)}"
    if cost.budget is not None:
        budget = money(cost.budget, cost.currency)
        if cost.unpriced:
            text += f"; the budget of {budget} {strong('cannot be checked')}"
        elif cost.total > cost.budget:
            text += f", {strong('over')} the budget of {budget}"
        else:
            text += f", within the budget of {budget}"
    return text

"""What the server's key may spend per day, counted from the usage OpenAI reported.

One ledger per app (it lives in `Runtime`, beside the per-address limits), shared by every
session that generates on the server's key; visitors on their own key are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass
class DailySpend:
    budget_usd: float  # 0: no budget
    _day: date | None = field(default=None, init=False)
    _spent: float = field(default=0.0, init=False)

    def spent(self, today: date) -> float:
        return self._spent if today == self._day else 0.0

    def exhausted(self, today: date) -> bool:
        return self.budget_usd > 0 and self.spent(today) >= self.budget_usd

    def record(self, usd: float, today: date) -> None:
        if today != self._day:
            self._day, self._spent = today, 0.0
        self._spent += usd

"""What a turn has produced and spent so far, and its charges to the usage ledger."""

import time
from dataclasses import dataclass, field
from typing import Any

from assistant.backends.base import Usage
from assistant.context import estimate_messages_tokens, estimate_tokens
from usage.models import UsageKind
from usage.services import usage_record


@dataclass(frozen=True, slots=True)
class RoundCharge:
    """What one model round spent, for the ledger."""

    model: str
    prompt_tokens: int
    completion_tokens: int
    estimated: bool


@dataclass(slots=True)
class TurnProgress:
    text: list[str] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    has_usage: bool = False
    finish_reason: str = ""
    model: str = ""
    tools_used: bool = False
    tool_calls: int = 0  # executed in this turn (LLM_MAX_TOOL_CALLS_PER_TURN)
    # Rounds not yet written to the ledger (by the next tool round's or the reply's store).
    charges: list[RoundCharge] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    @property
    def content(self) -> str:
        return "".join(self.text)

    def add_usage(self, usage: Usage | None) -> None:
        if usage is not None:
            self.has_usage = True
            self.prompt_tokens += usage.prompt_tokens
            self.completion_tokens += usage.completion_tokens

    def charge_round(
        self, *, model: str, usage: Usage | None, sent: list[dict[str, Any]], received: str
    ) -> None:
        """Charge a round the provider's figures, or the local estimate of what went both
        ways when it sent none (a stop, a failure mid-stream, a server without usage)."""
        if usage is not None:
            charge = RoundCharge(model, usage.prompt_tokens, usage.completion_tokens, False)
        else:
            charge = RoundCharge(
                model, estimate_messages_tokens(sent), estimate_tokens(received), True
            )
        self.charges.append(charge)

    def take_charges(self) -> list[RoundCharge]:
        charges, self.charges = self.charges, []
        return charges


def record_charges(*, user, charges: list[RoundCharge]) -> None:
    for charge in charges:
        usage_record(
            user=user,
            kind=UsageKind.CHAT,
            model=charge.model,
            prompt_tokens=charge.prompt_tokens,
            completion_tokens=charge.completion_tokens,
            estimated=charge.estimated,
        )

"""Per-model token prices, used to put a cost on `llm_inference` actions.

USD per million tokens (input, output), as the providers list them for standard, uncached
use. Override or extend with `AgentLogger(prices={...})`; an explicit `cost_usd=` on a call
wins over both. Dated or provider-prefixed names (`claude-sonnet-4-5-20250929`,
`openai/gpt-4o-2024-08-06`, `anthropic.claude-...-v1:0`) resolve to the longest known name
they start with. An unknown model costs 0.0.
"""

from __future__ import annotations

from collections.abc import Mapping

DEFAULT_PRICES: Mapping[str, tuple[float, float]] = {
    # Anthropic
    "claude-opus-4-5": (5.0, 25.0),
    "claude-opus-4-1": (15.0, 75.0),
    "claude-opus-4": (15.0, 75.0),
    "claude-sonnet-4-5": (3.0, 15.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-haiku-4-5": (1.0, 5.0),
    "claude-3-7-sonnet": (3.0, 15.0),
    "claude-3-5-sonnet": (3.0, 15.0),
    "claude-3-5-haiku": (0.8, 4.0),
    "claude-3-opus": (15.0, 75.0),
    "claude-3-haiku": (0.25, 1.25),
    # OpenAI
    "gpt-5": (1.25, 10.0),
    "gpt-5-mini": (0.25, 2.0),
    "gpt-5-nano": (0.05, 0.4),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.4, 1.6),
    "gpt-4.1-nano": (0.1, 0.4),
    "gpt-4o": (2.5, 10.0),
    "gpt-4o-mini": (0.15, 0.6),
    "gpt-4-turbo": (10.0, 30.0),
    "gpt-3.5-turbo": (0.5, 1.5),
    "o1": (15.0, 60.0),
    "o3": (2.0, 8.0),
    "o3-mini": (1.1, 4.4),
    "o4-mini": (1.1, 4.4),
    # Google
    "gemini-2.5-pro": (1.25, 10.0),
    "gemini-2.5-flash": (0.3, 2.5),
    "gemini-2.5-flash-lite": (0.1, 0.4),
    "gemini-2.0-flash": (0.1, 0.4),
    # Others
    "deepseek-chat": (0.27, 1.1),
    "deepseek-reasoner": (0.55, 2.19),
    "mistral-large": (2.0, 6.0),
    "mistral-small": (0.2, 0.6),
}

_PREFIXES = ("us.", "eu.", "apac.", "global.", "anthropic.", "openai.", "google.")
_BOUNDARY = frozenset("-@:_.")


def _normalize(model: str) -> str:
    name = model.strip().lower().rsplit("/", 1)[-1]
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if name.startswith(prefix):
                name = name[len(prefix) :]
                changed = True
    return name


class PriceTable:
    """Resolves a model name to its (input, output) price per million tokens."""

    def __init__(self, overrides: Mapping[str, tuple[float, float]] | None = None) -> None:
        prices = {_normalize(k): (float(v[0]), float(v[1])) for k, v in DEFAULT_PRICES.items()}
        for name, pair in (overrides or {}).items():
            if len(pair) != 2 or min(pair) < 0:
                raise ValueError(f"prices[{name!r}] must be (input_usd, output_usd) per Mtok, >= 0")
            prices[_normalize(name)] = (float(pair[0]), float(pair[1]))
        self._prices = prices
        # By longest name first, so `gpt-4o-mini-2024` finds gpt-4o-mini before gpt-4o.
        self._by_length = sorted(prices, key=len, reverse=True)
        self._resolved: dict[str, tuple[float, float] | None] = {}

    def lookup(self, model: str) -> tuple[float, float] | None:
        """The price pair for `model`, or None when no known name matches."""
        try:
            return self._resolved[model]
        except KeyError:
            pass
        name = _normalize(model)
        found = self._prices.get(name)
        if found is None:
            for known in self._by_length:
                if name.startswith(known) and name[len(known)] in _BOUNDARY:
                    found = self._prices[known]
                    break
        if len(self._resolved) < 4096:
            self._resolved[model] = found
        return found

    def cost(self, model: str | None, input_tokens: int, output_tokens: int) -> float:
        """USD for this many tokens on `model`; 0.0 for an unknown or missing model."""
        if not model:
            return 0.0
        pair = self.lookup(model)
        if pair is None:
            return 0.0
        return round((input_tokens * pair[0] + output_tokens * pair[1]) / 1_000_000, 10)

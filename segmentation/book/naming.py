"""Segment names, one-line summaries and recommended actions from an editable rule table."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from ..errors import InputError

RULES_DIR = Path(__file__).parent / "rules"
#: Name and action of HDBSCAN's noise group (segment -1) when a rule table has no ``noise``.
DEFAULT_NOISE = {
    "name": "Unsegmented customers (noise)",
    "plan": "Review individually - these customers fit no segment",
    "channel": "Account manager or analyst",
    "timing": "before the next campaign",
    "message": "No segment campaign; check for data errors or one-off cases",
}


@dataclass
class Rules:
    """A parsed rule table (see ``segmentation/rules/transactions.yaml`` for the format)."""

    threshold: float
    noun: str
    typical_name: str
    traits: dict
    actions: list
    source: str
    default_trait: dict | None = None
    noise: dict | None = None

    def trait(self, feature: str, direction: str) -> dict | None:
        """Word and phrase of ``feature`` being high/low; None when the table has neither."""
        spec = self.traits.get(feature, self.default_trait)
        if not spec or direction not in spec:
            return None
        return {
            key: text.replace("{feature}", feature.replace("_", " ")) for key, text in spec[direction].items()
        }

    @classmethod
    def load(cls, path: str | Path | None = None, feature_set: str = "transactions") -> Rules:
        """Read a rule table; the built-in one for ``feature_set`` when ``path`` is None."""
        path = Path(path) if path else RULES_DIR / f"{feature_set}.yaml"
        if not path.exists():
            raise InputError(f"rule table not found: {path}")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            actions = list(data.get("actions") or [])
            for rule in actions:
                for key in ("plan", "channel", "timing", "message"):
                    if key not in rule:
                        raise InputError(f"rule table {path.name}: an action has no {key!r}")
            return cls(
                threshold=float(data.get("threshold", 0.5)),
                noun=str(data.get("noun", "customers")),
                typical_name=str(data.get("typical_name", "Typical customers")),
                traits=dict(data.get("traits") or {}),
                actions=actions,
                source=str(path),
                default_trait=data.get("default_trait"),
                noise={**DEFAULT_NOISE, **(data.get("noise") or {})},
            )
        except yaml.YAMLError as exc:
            raise InputError(
                f"rule table {path.name} is not valid YAML: {str(exc).splitlines()[0]}"
            ) from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"rule table {path.name} is malformed: {exc}") from None


def traits_of(z: pd.Series, rules: Rules) -> list[tuple[str, str, float]]:
    """(feature, "high"/"low", z) for each feature past the threshold, strongest first."""
    out = []
    for feature, value in z.items():
        direction = "high" if value > 0 else "low"
        if abs(value) >= rules.threshold and rules.trait(feature, direction):
            out.append((feature, direction, float(value)))
    return sorted(out, key=lambda t: -abs(t[2]))


def describe_segments(profiles: pd.DataFrame, name_features: list[str], rules: Rules) -> pd.DataFrame:
    """Name, summary and action of each segment from its profile row.

    Parameters
    ----------
    profiles : DataFrame
        From :func:`segmentation.profiles.profile_table` (``<f>_mean``, ``<f>_median``, ``<f>_z``).
    name_features : list of str
        Features a name may use (the model's): names should say what the segments differ in.
    rules : Rules

    Returns
    -------
    DataFrame
        segment, segment_name, summary, plan, channel, timing, message, recommended_action.
    """
    features = [c[: -len("_z")] for c in profiles.columns if c.endswith("_z")]
    rows = []
    for _, p in profiles.iterrows():
        z = pd.Series({f: p[f"{f}_z"] for f in features})
        traits = traits_of(z, rules)
        naming = [t for t in traits if t[0] in name_features]
        words = list(dict.fromkeys(rules.trait(f, d)["word"] for f, d, _ in naming))  # no word twice
        # One phrase per word: loans and loans a year both "borrow often", said once.
        saying, said = [], set()
        for f, d, _ in traits:
            key = rules.trait(f, d).get("word") or (f, d)
            if key not in said:
                said.add(key)
                saying.append((f, d))
        phrases = [
            rules.trait(f, d)["phrase"].format(mean=p[f"{f}_mean"], median=p[f"{f}_median"])
            for f, d in saying[:3]
        ]
        action = _first_action({(f, d) for f, d, _ in traits}, rules)
        if p["segment"] < 0:  # HDBSCAN's noise: a group of its own, not a segment
            words = None
            action = rules.noise or DEFAULT_NOISE
        rows.append(
            {
                "segment": int(p["segment"]),
                "words": words,
                "summary": _sentence("; ".join(phrases) or "close to the average on every feature")
                + f" ({p['share']:.0%} of customers).",
                "plan": action["plan"],
                "channel": action["channel"],
                "timing": action["timing"],
                "message": action["message"],
                "recommended_action": f"{action['plan']} | {action['channel']}, {action['timing']}: {action['message']}",
            }
        )
    words = [r.pop("words") for r in rows]
    names = _unique_names([w for w in words if w is not None], rules)
    noise_name = (rules.noise or DEFAULT_NOISE)["name"]
    names = [noise_name if w is None else names.pop(0) for w in words]
    out = pd.DataFrame(rows)
    out.insert(1, "segment_name", names)
    return out


def _sentence(text: str) -> str:
    """First letter upper case, the rest as written (str.capitalize lowers column names)."""
    return text[:1].upper() + text[1:]


def _first_action(traits: set[tuple[str, str]], rules: Rules) -> dict:
    for rule in rules.actions:
        if all((f, d) in traits for f, d in (rule.get("when") or {}).items()):
            return rule
    return {"plan": "No rule matched", "channel": "-", "timing": "-", "message": "-"}


def _unique_names(words: list[list[str]], rules: Rules) -> list[str]:
    """Two strongest traits per name; more traits (then the id) only where names collide."""

    def name(ws, n):
        if not ws[:n]:
            return rules.typical_name
        return _sentence(", ".join(ws[:n]) + " " + rules.noun)

    used = [min(2, len(w)) for w in words]
    for _ in range(max((len(w) for w in words), default=0)):
        names = [name(w, n) for w, n in zip(words, used, strict=True)]
        clashes = {x for x in names if names.count(x) > 1}
        if not clashes:
            return names
        used = [
            n + 1 if name(w, n) in clashes and n < len(w) else n for w, n in zip(words, used, strict=True)
        ]
    names = [name(w, n) for w, n in zip(words, used, strict=True)]
    return [f"{x} ({i})" if names.count(x) > 1 else x for i, x in enumerate(names)]

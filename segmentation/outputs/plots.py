"""PNG charts of the choice of k (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be set first)
import pandas as pd  # noqa: E402


def plot_criterion(
    table: pd.DataFrame, column: str, path: str | Path, chosen: int, marked: int | None, title: str
) -> Path:
    """Line chart of one criterion per k, the chosen k as a vertical line, ``marked`` as a dot."""
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=120)
    ax.plot(table["k"], table[column], marker="o", color="#1f77b4")
    ax.axvline(chosen, color="#d62728", linestyle="--", label=f"chosen k = {chosen}")
    if marked is not None and marked in set(table["k"]):
        y = table.loc[table["k"] == marked, column].iloc[0]
        ax.plot(
            [marked],
            [y],
            "o",
            markersize=12,
            markerfacecolor="none",
            markeredgecolor="#ff7f0e",
            label=f"preferred by this criterion: {marked}",
        )
    ax.set_xlabel("number of segments k")
    ax.set_ylabel(column.replace("_", " "))
    ax.set_title(title)
    ax.set_xticks(list(table["k"]))
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def plot_k_selection(metadata: dict, folder: str | Path) -> list[Path]:
    """elbow.png and silhouette.png for a bundle's k sweep."""
    table = pd.DataFrame(metadata["k_selection"])
    prefs = metadata.get("k_preferences") or {}
    folder = Path(folder)
    return [
        plot_criterion(
            table,
            "inertia",
            folder / "elbow.png",
            metadata["k"],
            prefs.get("elbow"),
            "Elbow: within-segment sum of squares",
        ),
        plot_criterion(
            table,
            "silhouette",
            folder / "silhouette.png",
            metadata["k"],
            prefs.get("silhouette"),
            "Silhouette (random sample)",
        ),
    ]

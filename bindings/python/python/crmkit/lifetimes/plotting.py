"""lifetimes' ``lifetimes.plotting`` names, drawn by :mod:`crmkit.plotting` (needs matplotlib)."""

from ..plotting import (
    plot_calibration_purchases_vs_holdout_purchases,
    plot_cumulative_transactions,
    plot_frequency_recency_matrix,
    plot_probability_alive_matrix,
)

__all__ = [
    "plot_frequency_recency_matrix",
    "plot_probability_alive_matrix",
    "plot_calibration_purchases_vs_holdout_purchases",
    "plot_cumulative_transactions",
]

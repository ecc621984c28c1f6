"""lifetimes 0.11.3, on crmkit: change one import and a lifetimes notebook runs on Rust.

``import crmkit.lifetimes as lifetimes`` (or ``from crmkit.lifetimes import BetaGeoFitter``) gives
the same classes, methods, arguments, attributes and return types as the archived lifetimes
package: :class:`BetaGeoFitter`, :class:`ModifiedBetaGeoFitter`, :class:`ParetoNBDFitter`,
:class:`BetaGeoBetaBinomFitter`, :class:`GammaGammaFitter`, and ``utils``
(``summary_data_from_transaction_data``, ``calibration_and_holdout_data``) and ``plotting``.
The fits are crmkit's and succeed where lifetimes fails to converge (the optimum on a boundary is
reported in ``fit_info_.boundary``). Differences are listed in :mod:`crmkit.lifetimes.fitters`.

>>> import crmkit.lifetimes as lifetimes
>>> lifetimes.BetaGeoFitter()
<lifetimes.BetaGeoFitter>
"""

try:
    import pandas as _pandas  # noqa: F401
except ImportError:  # pragma: no cover - depends on the environment
    raise ImportError("crmkit.lifetimes needs pandas: pip install 'crmkit[pandas]'") from None

from . import fitters, utils
from .fitters import (
    BaseFitter,
    BetaGeoBetaBinomFitter,
    BetaGeoFitter,
    GammaGammaFitter,
    ModifiedBetaGeoFitter,
    ParetoNBDFitter,
)

#: The lifetimes API version this module reproduces.
__version__ = "0.11.3"

__all__ = (
    "__version__",
    "BaseFitter",
    "BetaGeoFitter",
    "ParetoNBDFitter",
    "GammaGammaFitter",
    "ModifiedBetaGeoFitter",
    "BetaGeoBetaBinomFitter",
    "fitters",
    "utils",
)

"""Probabilistic customer-base models with ``fit`` / ``predict`` over frames or numpy arrays.

Each model is fitted by maximum likelihood in Rust (deterministic BFGS, analytic gradients; an
optimum on the boundary of the parameter space is a fitted model with
``fit_info.boundary`` saying what it means, never an error). Pass a frame with the summary
columns (e.g. from :func:`crmkit.rfm_summary`), or the columns themselves::

    bgf = crmkit.BgNbd().fit(summary)                     # columns frequency, recency, T
    bgf = crmkit.BgNbd().fit(frequency=x, recency=t_x, T=t)  # numpy arrays
    bgf.predict(52, summary)                              # expected purchases in the next 52

Predictions come back in the input's shape: a pandas Series with the frame's index for a pandas
frame, a polars Series for polars, a numpy array otherwise.
"""

from __future__ import annotations

import pickle
from typing import Any, Dict, List, Optional, Tuple, Type, TypeVar, Union

import numpy as np

from . import _crmkit, _frames
from ._crmkit import FitInfo, ValidationError
from .analytics import _unit

__all__ = [
    "BgNbd",
    "MbgNbd",
    "ParetoNbd",
    "BgBb",
    "GammaGamma",
    "customer_lifetime_value",
    "DAYS_PER_MONTH",
]

#: Days in crmkit's month (365.25 / 12), for CLV horizons: ``crmkit_clv::summary::DAYS_PER_MONTH``.
DAYS_PER_MONTH: float = _crmkit.DAYS_PER_MONTH

_M = TypeVar("_M", bound="_Model")

Columns = Tuple[np.ndarray, ...]


def _columns(data: Any, names: List[Tuple[str, Any]]) -> Tuple[Columns, Any]:
    """Arrays from a frame (``names`` give the column names) or from the arrays themselves."""
    if data is not None:
        out = []
        for key, name in names:
            col = name if isinstance(name, str) else key
            out.append(_frames.numbers(_frames.column(data, col), col, "value"))
        return tuple(out), data
    template = None
    out = []
    for key, values in names:
        if values is None or isinstance(values, str):
            raise ValidationError(f"{key}: required (or pass a frame as the first argument)")
        if template is None and type(values).__module__.split(".")[0] in ("pandas", "polars"):
            template = values
        out.append(_frames.array(values, key))
    return tuple(out), template


class _Model:
    """Shared machinery: parameters, native model, fit info, pickling."""

    _native_type: Any = None
    PARAMETERS: Tuple[str, ...] = ()

    def __init__(self, **params: float) -> None:
        self._native: Any = None
        self.fit_info: Optional[FitInfo] = None
        if params:
            missing = [p for p in self.PARAMETERS if p not in params]
            extra = [p for p in params if p not in self.PARAMETERS]
            if missing or extra:
                raise ValidationError(
                    f"parameters: expected {', '.join(self.PARAMETERS)}"
                    + (f"; missing {missing}" if missing else "")
                    + (f"; unknown {extra}" if extra else "")
                )
            self._native = self._native_type(*[float(params[p]) for p in self.PARAMETERS])

    @property
    def params(self) -> Dict[str, float]:
        """The fitted (or given) parameters by name."""
        return dict(zip(self.PARAMETERS, self._model().params))

    def _model(self) -> Any:
        if self._native is None:
            raise ValidationError(
                f"{type(self).__name__} is not fitted: call fit() or give the parameters"
            )
        return self._native

    def __repr__(self) -> str:
        if self._native is None:
            return f"{type(self).__name__}()"
        body = ", ".join(f"{k}={v:.6g}" for k, v in self.params.items())
        return f"{type(self).__name__}({body})"

    def __getstate__(self) -> Dict[str, Any]:
        return {"params": self.params if self._native is not None else None,
                "fit_info": None if self.fit_info is None else _info_dict(self.fit_info)}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self._native = None
        self.fit_info = None
        if state.get("params"):
            self._native = self._native_type(*[state["params"][p] for p in self.PARAMETERS])
        self._fit_info_dict = state.get("fit_info")


def _info_dict(info: FitInfo) -> Dict[str, Any]:
    return {
        "parameters": list(info.parameters),
        "standard_errors": list(info.standard_errors),
        "log_likelihood": info.log_likelihood,
        "customers": info.customers,
        "cells": info.cells,
        "iterations": info.iterations,
        "converged": info.converged,
        "boundary": list(info.boundary),
    }


class _PurchaseModel(_Model):
    """A continuous-time repeat-purchase model over ``frequency``, ``recency``, ``T``."""

    def fit(
        self: _M,
        data: Any = None,
        *,
        frequency: Any = "frequency",
        recency: Any = "recency",
        T: Any = "T",
        weights: Any = None,
    ) -> _M:
        """Fits the model; ``data`` is a frame with the summary columns (their names are
        ``frequency``, ``recency``, ``T``; ``weights`` a column name or an array of customer
        counts), or pass the arrays as ``frequency=``, ``recency=``, ``T=``. Returns ``self``."""
        (x, tx, t), _ = _columns(data, [("frequency", frequency), ("recency", recency), ("T", T)])
        w = None
        if weights is not None:
            if isinstance(weights, str):
                w = _frames.numbers(_frames.column(data, weights), weights, "weight")
            else:
                w = _frames.array(weights, "weights")
        model, info = self._native_type.fit(x, tx, t, w)
        self._native, self.fit_info = model, info
        return self

    def _xtt(self, data: Any, frequency: Any, recency: Any, T: Any) -> Tuple[Columns, Any]:
        return _columns(data, [("frequency", frequency), ("recency", recency), ("T", T)])

    def conditional_expected_purchases(
        self, t: float, data: Any = None, *, frequency: Any = "frequency",
        recency: Any = "recency", T: Any = "T",
    ) -> Any:
        """E[Y(t) | x, t_x, T]: each customer's expected purchases in the next ``t`` time units."""
        (x, tx, tt), like = self._xtt(data, frequency, recency, T)
        v = self._model().conditional_expected_purchases(float(t), x, tx, tt)
        return _frames.wrap_like(like, v, "expected_purchases")

    def predict(
        self, t: float, data: Any = None, *, frequency: Any = "frequency",
        recency: Any = "recency", T: Any = "T",
    ) -> Any:
        """The same as :meth:`conditional_expected_purchases`."""
        return self.conditional_expected_purchases(
            t, data, frequency=frequency, recency=recency, T=T
        )

    def probability_alive(
        self, data: Any = None, *, frequency: Any = "frequency", recency: Any = "recency",
        T: Any = "T",
    ) -> Any:
        """P(alive at T | x, t_x, T) for each customer."""
        (x, tx, tt), like = self._xtt(data, frequency, recency, T)
        return _frames.wrap_like(like, self._model().probability_alive(x, tx, tt), "p_alive")

    def probability_alive_after(
        self, t: float, data: Any = None, *, frequency: Any = "frequency",
        recency: Any = "recency", T: Any = "T",
    ) -> Any:
        """P(alive at T + t | x, t_x, T) for each customer."""
        (x, tx, tt), like = self._xtt(data, frequency, recency, T)
        v = self._model().probability_alive_after(float(t), x, tx, tt)
        return _frames.wrap_like(like, v, "p_alive")

    def expected_purchases(self, t: Any) -> Any:
        """E[X(t)]: expected repeat purchases of a new customer in ``(0, t]`` (scalar or array)."""
        arr = np.atleast_1d(np.asarray(t, dtype=np.float64))
        v = self._model().expected_purchases(np.ascontiguousarray(arr.ravel())).reshape(arr.shape)
        return float(v[0]) if np.ndim(t) == 0 else v

    def probability_of_purchases(self, t: float, n: int) -> float:
        """P(X(t) = n): the probability of exactly ``n`` repeat purchases in ``(0, t]``."""
        return float(self._model().probability_of_purchases(float(t), int(n)))

    def log_likelihood(
        self, data: Any = None, *, frequency: Any = "frequency", recency: Any = "recency",
        T: Any = "T", weights: Any = None,
    ) -> float:
        """The total log-likelihood of the data under this model."""
        (x, tx, tt), _ = self._xtt(data, frequency, recency, T)
        w = None if weights is None else _frames.array(weights, "weights")
        return float(self._model().log_likelihood(x, tx, tt, w))


class BgNbd(_PurchaseModel):
    """The BG/NBD model (Fader, Hardie & Lee 2005): parameters ``r``, ``alpha``, ``a``, ``b``.

    >>> m = BgNbd(r=0.243, alpha=4.414, a=0.793, b=2.426)   # FHL 2005 on CDNOW (weeks)
    >>> round(float(m.predict(39, frequency=[2], recency=[30.43], T=[38.86])[0]), 3)
    1.226
    """

    _native_type = _crmkit.BgNbd
    PARAMETERS = ("r", "alpha", "a", "b")


class MbgNbd(_PurchaseModel):
    """The MBG/NBD model (Batislam, Denizel & Filiztekin 2007): ``r``, ``alpha``, ``a``, ``b``."""

    _native_type = _crmkit.MbgNbd
    PARAMETERS = ("r", "alpha", "a", "b")


class ParetoNbd(_PurchaseModel):
    """The Pareto/NBD model (Schmittlein, Morrison & Colombo 1987): ``r``, ``alpha``, ``s``,
    ``beta``."""

    _native_type = _crmkit.ParetoNbd
    PARAMETERS = ("r", "alpha", "s", "beta")


class BgBb(_Model):
    """The BG/BB model of discrete opportunities (Fader, Hardie & Shang 2010): ``alpha``,
    ``beta``, ``gamma``, ``delta``; data ``frequency`` (transactions), ``recency`` (last
    opportunity with one) and ``n_periods`` (opportunities)."""

    _native_type = _crmkit.BgBb
    PARAMETERS = ("alpha", "beta", "gamma", "delta")

    def _xtn(self, data: Any, frequency: Any, recency: Any, n_periods: Any) -> Tuple[Columns, Any]:
        return _columns(
            data, [("frequency", frequency), ("recency", recency), ("n_periods", n_periods)]
        )

    def fit(
        self, data: Any = None, *, frequency: Any = "frequency", recency: Any = "recency",
        n_periods: Any = "n_periods", weights: Any = None,
    ) -> "BgBb":
        """Fits the model on patterns (``weights`` = customers per pattern). Returns ``self``."""
        (x, tx, n), _ = self._xtn(data, frequency, recency, n_periods)
        w = None
        if weights is not None:
            w = (_frames.numbers(_frames.column(data, weights), weights, "weight")
                 if isinstance(weights, str) else _frames.array(weights, "weights"))
        self._native, self.fit_info = self._native_type.fit(x, tx, n, w)
        return self

    def conditional_expected_purchases(
        self, m: float, data: Any = None, *, frequency: Any = "frequency",
        recency: Any = "recency", n_periods: Any = "n_periods",
    ) -> Any:
        """Expected transactions in the next ``m`` opportunities of each customer."""
        (x, tx, n), like = self._xtn(data, frequency, recency, n_periods)
        v = self._model().conditional_expected_purchases(float(m), x, tx, n)
        return _frames.wrap_like(like, v, "expected_purchases")

    predict = conditional_expected_purchases

    def probability_alive(
        self, m: float = 0.0, data: Any = None, *, frequency: Any = "frequency",
        recency: Any = "recency", n_periods: Any = "n_periods",
    ) -> Any:
        """P(alive at n + m | x, t_x, n) for each customer."""
        (x, tx, n), like = self._xtn(data, frequency, recency, n_periods)
        v = self._model().probability_alive_after(float(m), x, tx, n)
        return _frames.wrap_like(like, v, "p_alive")

    def expected_purchases(self, n: Any) -> Any:
        """E[X(n)]: expected transactions in the first ``n`` opportunities (scalar or array)."""
        arr = np.atleast_1d(np.asarray(n, dtype=np.float64))
        v = self._model().expected_purchases(np.ascontiguousarray(arr.ravel())).reshape(arr.shape)
        return float(v[0]) if np.ndim(n) == 0 else v

    def probability_of_purchases(self, n: int, x: int) -> float:
        """P(X(n) = x)."""
        return float(self._model().probability_of_purchases(int(n), int(x)))


class GammaGamma(_Model):
    """The Gamma-Gamma spend model (Fader, Hardie & Lee 2005): ``p``, ``q``, ``v``.

    ``fit`` uses the repeat customers only (``frequency > 0``, ``monetary_value > 0``);
    customers without repeat spend get the population mean spend ``p·v/(q−1)``.

    >>> gg = GammaGamma(p=6.25, q=3.74, v=15.44)
    >>> [round(float(s), 2) for s in gg.conditional_expected_spend(frequency=[2], monetary_value=[22.35])]
    [24.66]
    """

    _native_type = _crmkit.GammaGamma
    PARAMETERS = ("p", "q", "v")

    def fit(
        self, data: Any = None, *, frequency: Any = "frequency",
        monetary_value: Any = "monetary_value",
    ) -> "GammaGamma":
        """Fits on the customers with ``frequency > 0`` (and ``monetary_value > 0``)."""
        (x, m), _ = _columns(data, [("frequency", frequency), ("monetary_value", monetary_value)])
        self._native, self.fit_info = self._native_type.fit_repeat_spenders(x, m)
        return self

    def conditional_expected_spend(
        self, data: Any = None, *, frequency: Any = "frequency",
        monetary_value: Any = "monetary_value",
    ) -> Any:
        """Each customer's expected spend per future transaction."""
        (x, m), like = _columns(data, [("frequency", frequency), ("monetary_value", monetary_value)])
        return _frames.wrap_like(like, self._spend(x, m), "expected_spend")

    def _spend(self, x: np.ndarray, m: np.ndarray) -> np.ndarray:
        # A customer without repeat spend (no repeat purchase, or only free ones) tells nothing
        # about spend: the population mean, as crmkit's CRM scores them (the rule is in Rust).
        return np.asarray(self._model().expected_spend_per_customer(x, m))

    def expected_spend(self) -> Optional[float]:
        """The population mean spend per transaction, ``None`` when it is infinite (``q ≤ 1``)."""
        return self._model().expected_spend()


def customer_lifetime_value(
    model: Union[_PurchaseModel, BgBb],
    spend: Any,
    data: Any = None,
    *,
    frequency: Any = "frequency",
    recency: Any = "recency",
    T: Any = "T",
    monetary_value: Any = "monetary_value",
    months: int = 12,
    monthly_discount_rate: float = 0.01,
    time_unit: Union[str, float] = "W",
    period_length: Optional[float] = None,
) -> Any:
    """Discounted customer lifetime value over ``months``: each month's expected purchases
    (``model``) times the expected spend, discounted at ``monthly_discount_rate`` at the end of
    the month (lifetimes' convention).

    ``spend`` is a fitted :class:`GammaGamma` (its conditional expected spend is used) or an array
    of spend per transaction. ``time_unit`` is the unit the model was fitted in; a month is
    ``365.25/12`` days unless ``period_length`` (model time units per month) says otherwise
    (lifetimes uses 4.345 weeks).
    """
    (x, tx, t), like = _columns(data, [("frequency", frequency), ("recency", recency), ("T", T)])
    if isinstance(spend, GammaGamma):
        (m,), _ = _columns(data, [("monetary_value", monetary_value)])
        spend_values = spend._spend(x, m)
    else:
        spend_values = _frames.array(spend, "spend")
    if period_length is None:
        period_length = _crmkit.time_units_per_month(_unit(time_unit))
    v = _crmkit.customer_lifetime_value(
        model._model(), np.ascontiguousarray(spend_values), x, tx, t,
        float(monthly_discount_rate), int(months), float(period_length),
    )
    return _frames.wrap_like(like, v, "clv")


def _load(cls: Type[_M], params: Dict[str, float]) -> _M:
    return cls(**params)


def dumps(model: _Model) -> bytes:
    """The model pickled (parameters and fit information)."""
    return pickle.dumps(model)

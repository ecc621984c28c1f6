"""The lifetimes 0.11.3 fitters on crmkit's Rust models.

Same classes, methods, arguments, attributes and return types as lifetimes; the fits are
crmkit's maximum-likelihood fits (deterministic BFGS from a fixed start, analytic gradients),
which reach the same optimum as lifetimes to about 1e-6 relative on its datasets, and succeed
(flagged in ``fit_info_.boundary``) where lifetimes fails to converge.

Differences, by design:

- ``penalizer_coef`` other than 0 is not supported (a ``UserWarning`` says so and it is
  ignored); ``initial_params``, ``tol``, ``verbose``, ``iterative_fitting``, ``fit_method``,
  ``maxiter`` and ``**kwargs`` are accepted and ignored (the optimiser is not scipy's).
- Predictions validate their inputs (whole frequencies, ``0 ≤ recency ≤ T``) and raise
  :class:`ValueError` (a :class:`crmkit.ValidationError`) naming the column and the row.
  Where ``frequency`` is 0 the recency is taken as 0 (lifetimes' own data always has that).
- ``generate_new_data`` and ``ParetoNBDFitter.conditional_probability_of_n_purchases_up_to_time``
  are not available (they raise ``NotImplementedError``).
- ``save_model`` / ``load_model`` use :mod:`pickle` instead of dill.
"""

from __future__ import annotations

import functools
import pickle
import warnings
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, TypeVar

import numpy as np
import pandas as pd

from .. import _crmkit
from .._crmkit import ValidationError as _CrmValidationError

__all__ = [
    "BaseFitter",
    "BetaGeoFitter",
    "ModifiedBetaGeoFitter",
    "ParetoNBDFitter",
    "BetaGeoBetaBinomFitter",
    "GammaGammaFitter",
    "ValidationError",
]


class ValidationError(_CrmValidationError, ValueError):
    """Bad input: both a :class:`crmkit.ValidationError` and a :class:`ValueError` (lifetimes
    raises ValueError)."""


_F = TypeVar("_F", bound=Callable[..., Any])


def _value_errors(fn: _F) -> _F:
    """Re-raises crmkit's ValidationError as the compatible ValidationError (also a ValueError)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ValidationError:
            raise
        except _CrmValidationError as e:
            raise ValidationError(str(e)) from None

    return wrapper  # type: ignore[return-value]


def _f64(values: Any) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(values, dtype=np.float64)).ravel()


def _template(*values: Any) -> Any:
    for v in values:
        if isinstance(v, pd.Series):
            return v
    return None


def _shape_like(out: np.ndarray, shape: Tuple[int, ...], *inputs: Any) -> Any:
    """Result in lifetimes' type: a Series (index of the first Series input), a numpy scalar for
    scalar inputs, an ndarray otherwise."""
    out = out.reshape(shape)
    series = _template(*inputs)
    if series is not None and out.ndim == 1 and len(series) == out.shape[0]:
        return pd.Series(out, index=series.index)
    if out.ndim == 0:
        return np.float64(out)
    return out


def _by_horizon(
    fn: Callable[[float, np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    t: Any,
    x: Any,
    tx: Any,
    big_t: Any,
) -> Tuple[np.ndarray, Tuple[int, ...]]:
    """Calls ``fn(t, x, t_x, T)`` on broadcast inputs, once per distinct horizon ``t``."""
    if np.ndim(t) == 0 and all(
        isinstance(v, (np.ndarray, pd.Series)) and np.ndim(v) == 1 for v in (x, tx, big_t)
    ):
        # The common case (one horizon, three columns): no broadcasting, no grouping.
        xf = np.ascontiguousarray(x, dtype=np.float64)
        txf = np.asarray(tx, dtype=np.float64)
        txf = np.ascontiguousarray(np.where(xf == 0, 0.0, txf)) if (xf == 0).any() else np.ascontiguousarray(txf)
        bf = np.ascontiguousarray(big_t, dtype=np.float64)
        if xf.shape == txf.shape == bf.shape:
            return np.asarray(fn(float(t), xf, txf, bf)), xf.shape
    tb, xb, txb, bb = np.broadcast_arrays(
        np.asarray(t, dtype=np.float64),
        np.asarray(x, dtype=np.float64),
        np.asarray(tx, dtype=np.float64),
        np.asarray(big_t, dtype=np.float64),
    )
    shape = xb.shape
    tf, xf, txf, bf = (np.ascontiguousarray(a.ravel()) for a in (tb, xb, txb, bb))
    txf = np.where(xf == 0, 0.0, txf)
    if tf.size == 0:
        return np.empty(0), shape
    horizons = np.unique(tf)
    if horizons.size == 1:
        return np.asarray(fn(float(horizons[0]), xf, txf, bf)), shape
    out = np.empty(tf.shape, dtype=np.float64)
    for h in horizons:
        mask = tf == h
        out[mask] = fn(
            float(h),
            np.ascontiguousarray(xf[mask]),
            np.ascontiguousarray(txf[mask]),
            np.ascontiguousarray(bf[mask]),
        )
    return out, shape


def _hessian_of_total_nll(
    ll: Callable[[np.ndarray], float], log_params: np.ndarray, step: float = 1e-4
) -> np.ndarray:
    """The Hessian of ``ll`` (the total negative log-likelihood) over the log-parameters, by
    central differences."""
    k = log_params.size
    h = np.zeros((k, k))
    f0 = ll(log_params)
    for i in range(k):
        for j in range(i, k):
            if i == j:
                e = np.zeros(k)
                e[i] = step
                v = (ll(log_params + e) - 2 * f0 + ll(log_params - e)) / step**2
            else:
                ei = np.zeros(k)
                ej = np.zeros(k)
                ei[i] = step
                ej[j] = step
                v = (
                    ll(log_params + ei + ej)
                    - ll(log_params + ei - ej)
                    - ll(log_params - ei + ej)
                    + ll(log_params - ei - ej)
                ) / (4 * step**2)
            h[i, j] = h[j, i] = v
    return h


def _cells(
    x: np.ndarray, tx: np.ndarray, t: np.ndarray, w: np.ndarray
) -> Tuple[np.ndarray, ...]:
    """The data as weighted unique ``(x, t_x, T)`` cells (customers with ``T = 0`` carry no
    information and are left out): the likelihood is evaluated once per cell."""
    return tuple(_crmkit.fit_cells(x, tx, t, w))


class BaseFitter(object):
    """Base class for fitters (lifetimes' ``BaseFitter``)."""

    _param_names: Tuple[str, ...] = ()
    _native_type: Any = None

    def __init__(self, penalizer_coef: float = 0.0) -> None:
        self.penalizer_coef = penalizer_coef
        if penalizer_coef:
            warnings.warn(
                f"{type(self).__name__}: penalizer_coef={penalizer_coef} is not supported by "
                "crmkit and is ignored (crmkit fits converge without it; boundary optima are "
                "reported in fit_info_.boundary)",
                UserWarning,
                stacklevel=2,
            )

    def __repr__(self) -> str:
        """Representation of fitter."""
        classname = self.__class__.__name__
        try:
            subj_str = " fitted with {:d} subjects,".format(self.data.shape[0])
        except AttributeError:
            subj_str = ""
        try:
            param_str = ", ".join(
                "{}: {:.2f}".format(par, val) for par, val in sorted(self.params_.items())
            )
            return "<lifetimes.{classname}:{subj_str} {param_str}>".format(
                classname=classname, subj_str=subj_str, param_str=param_str
            )
        except AttributeError:
            return "<lifetimes.{classname}>".format(classname=classname)

    def _unload_params(self, *args: str) -> List[float]:
        if not hasattr(self, "params_"):
            raise ValueError("Model has not been fit yet. Please call the .fit method first.")
        return [float(self.params_[x]) for x in args]

    def _native(self) -> Any:
        return self._native_type(*self._unload_params(*self._param_names))

    def save_model(
        self,
        path: str,
        save_data: bool = True,
        save_generate_data_method: bool = True,
        values_to_save: Optional[Sequence[Any]] = None,
    ) -> None:
        """Saves the fitted model with :mod:`pickle` (``save_data=False`` leaves ``data`` out)."""
        state = dict(self.__dict__)
        if not save_data:
            state.pop("data", None)
        with open(path, "wb") as out:
            pickle.dump((type(self), state), out)

    def load_model(self, path: str) -> None:
        """Loads a model saved by :meth:`save_model`."""
        with open(path, "rb") as f:
            _, state = pickle.load(f)
        self.__dict__.update(state)

    def generate_new_data(self, size: int = 1) -> Any:
        """Not available in crmkit."""
        raise NotImplementedError("crmkit.lifetimes does not simulate data (generate_new_data)")

    def _finish(self, data: pd.DataFrame, params: np.ndarray, info: Any, ll_args: Tuple[np.ndarray, ...]) -> None:
        self.params_ = pd.Series(params, index=list(self._param_names))
        self.data = data
        self.fit_info_ = info
        # The variance matrix needs a numerical Hessian (a few dozen likelihood evaluations): it
        # is computed when first asked for, so that a fit costs what the fit costs.
        self._ll_args = ll_args
        self.__dict__.pop("_ll_cells", None)
        for name in ("_hessian_", "variance_matrix_", "standard_errors_", "confidence_intervals_"):
            self.__dict__.pop(name, None)

    def _total_nll(self, log_params: np.ndarray) -> float:
        return -float(self._native_type(*np.exp(log_params)).log_likelihood(*self._ll_args))

    @functools.cached_property
    def _hessian_(self) -> np.ndarray:
        """The Hessian of the mean negative log-likelihood over the log-parameters (lifetimes'
        ``_hessian_``), by central differences."""
        weights_sum = float(self.data["weights"].sum())
        log_params = np.log(self.params_.to_numpy(dtype=np.float64))
        return _hessian_of_total_nll(self._total_nll, log_params) / weights_sum

    @functools.cached_property
    def variance_matrix_(self) -> pd.DataFrame:
        """The variance matrix of the parameters, as lifetimes computes it."""
        weights_sum = float(self.data["weights"].sum())
        k = len(self.params_)
        try:
            inv = np.linalg.inv(self._hessian_)
        except (np.linalg.LinAlgError, ValueError, _CrmValidationError):
            inv = np.full((k, k), np.nan)
        return pd.DataFrame(
            (self.params_**2).values * inv / weights_sum,
            columns=self.params_.index,
            index=self.params_.index,
        )

    @functools.cached_property
    def standard_errors_(self) -> pd.Series:
        """The standard errors of the parameters."""
        return np.sqrt(
            pd.Series(np.diag(self.variance_matrix_.values), index=self.params_.index)
        )

    @functools.cached_property
    def confidence_intervals_(self) -> pd.DataFrame:
        """95% confidence intervals of the parameters."""
        return pd.DataFrame(
            {
                "lower 95% bound": self.params_ - 1.96 * self.standard_errors_,
                "upper 95% bound": self.params_ + 1.96 * self.standard_errors_,
            },
            index=self.params_.index,
        )

    @property
    def summary(self) -> pd.DataFrame:
        """Summary statistics describing the fit: ``coef``, ``se(coef)``, the 95% bounds."""
        df = pd.DataFrame(index=self.params_.index)
        df["coef"] = self.params_
        df["se(coef)"] = self.standard_errors_
        df["lower 95% bound"] = self.confidence_intervals_["lower 95% bound"]
        df["upper 95% bound"] = self.confidence_intervals_["upper 95% bound"]
        return df


class _ContinuousFitter(BaseFitter):
    """BG/NBD, MBG/NBD and Pareto/NBD share the prediction API."""

    @_value_errors
    def _fit_data(
        self, frequency: Any, recency: Any, T: Any, weights: Any, index: Any
    ) -> "_ContinuousFitter":
        freq = np.asarray(frequency).astype(int)
        rec = np.asarray(recency)
        t = np.asarray(T)
        _check_inputs(freq, rec, t)
        w = np.ones_like(rec, dtype=int) if weights is None else np.asarray(weights)
        x64, r64, t64, w64 = _f64(freq), _f64(rec), _f64(t), _f64(w)
        native, info = self._native_type.fit(x64, r64, t64, w64)
        data = pd.DataFrame(
            {"frequency": freq, "recency": rec, "T": t, "weights": w}, index=index
        )
        self._finish(data, np.asarray(native.params), info, (x64, r64, t64, w64))
        max_t = float(np.max(t)) if t.size else 1.0
        ll_total = info.log_likelihood
        self._negative_log_likelihood_ = self._scaled_nll(ll_total, x64, w64, max_t)
        self.predict = self.conditional_expected_number_of_purchases_up_to_time
        return self

    def _total_nll(self, log_params: np.ndarray) -> float:
        cells = self.__dict__.get("_ll_cells")
        if cells is None:
            cells = self.__dict__["_ll_cells"] = _cells(*self._ll_args)
        return -float(self._native_type(*np.exp(log_params)).log_likelihood(*cells))

    def _scaled_nll(self, ll_total: float, x: np.ndarray, w: np.ndarray, max_t: float) -> float:
        # lifetimes reports the mean negative log-likelihood on time scaled to max(T) = 1.
        return -(ll_total + float(np.sum(w * x)) * np.log(max_t)) / float(np.sum(w))

    @_value_errors
    def conditional_expected_number_of_purchases_up_to_time(
        self, t: Any, frequency: Any, recency: Any, T: Any
    ) -> Any:
        """Expected repeat purchases in the next ``t`` of customers with history
        (``frequency``, ``recency``, ``T``)."""
        m = self._native()
        out, shape = _by_horizon(m.conditional_expected_purchases, t, frequency, recency, T)
        return _shape_like(out, shape, t, frequency, recency, T)

    @_value_errors
    def conditional_probability_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """The probability that customers with history (``frequency``, ``recency``, ``T``) are
        alive."""
        m = self._native()
        out, shape = _by_horizon(lambda _t, x, tx, tt: m.probability_alive(x, tx, tt), 0.0,
                                 frequency, recency, T)
        return np.atleast_1d(out.reshape(shape))

    def conditional_probability_alive_matrix(
        self, max_frequency: Optional[int] = None, max_recency: Optional[int] = None
    ) -> np.ndarray:
        """P(alive) for ``frequency`` 0..max_frequency (columns) by ``recency`` 0..max_recency
        (rows), at ``T = max_recency``."""
        max_frequency = max_frequency or int(self.data["frequency"].max())
        max_recency = max_recency or int(self.data["T"].max())
        return np.fromfunction(
            self.conditional_probability_alive, (max_frequency + 1, max_recency + 1), T=max_recency
        ).T

    @_value_errors
    def expected_number_of_purchases_up_to_time(self, t: Any) -> Any:
        """Expected repeat purchases of a new customer in ``(0, t]``."""
        arr = np.asarray(t, dtype=np.float64)
        out = self._native().expected_purchases(_f64(arr)).reshape(arr.shape)
        if isinstance(t, pd.Series):
            return pd.Series(out, index=t.index)
        return np.float64(out) if out.ndim == 0 else out

    @_value_errors
    def probability_of_n_purchases_up_to_time(self, t: float, n: int) -> float:
        """P(N(t) = n): the probability of ``n`` repeat purchases in ``t`` time units."""
        return float(self._native().probability_of_purchases(float(t), int(n)))


class BetaGeoFitter(_ContinuousFitter):
    """The BG/NBD model (Fader, Hardie & Lee 2005), lifetimes' ``BetaGeoFitter``.

    >>> from crmkit.lifetimes import BetaGeoFitter
    >>> bgf = BetaGeoFitter()
    >>> bgf.params_ = __import__("pandas").Series({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
    >>> round(float(bgf.conditional_expected_number_of_purchases_up_to_time(39, 2, 30.43, 38.86)), 3)
    1.226
    """

    _param_names = ("r", "alpha", "a", "b")
    _native_type = _crmkit.BgNbd

    def fit(
        self,
        frequency: Any,
        recency: Any,
        T: Any,
        weights: Any = None,
        initial_params: Any = None,
        verbose: bool = False,
        tol: float = 1e-7,
        index: Any = None,
        **kwargs: Any,
    ) -> "BetaGeoFitter":
        """Fits the BG/NBD model; returns ``self`` with ``params_``, ``data``, ``summary``..."""
        self._fit_data(frequency, recency, T, weights, index)
        return self


class ModifiedBetaGeoFitter(_ContinuousFitter):
    """The MBG/NBD model (Batislam et al. 2007), lifetimes' ``ModifiedBetaGeoFitter``."""

    _param_names = ("r", "alpha", "a", "b")
    _native_type = _crmkit.MbgNbd

    def fit(
        self,
        frequency: Any,
        recency: Any,
        T: Any,
        weights: Any = None,
        initial_params: Any = None,
        verbose: bool = False,
        tol: float = 1e-7,
        index: Any = None,
        **kwargs: Any,
    ) -> "ModifiedBetaGeoFitter":
        """Fits the MBG/NBD model; returns ``self``."""
        self._fit_data(frequency, recency, T, weights, index)
        return self


class ParetoNBDFitter(_ContinuousFitter):
    """The Pareto/NBD model (Schmittlein et al. 1987), lifetimes' ``ParetoNBDFitter``."""

    _param_names = ("r", "alpha", "s", "beta")
    _native_type = _crmkit.ParetoNbd

    def fit(
        self,
        frequency: Any,
        recency: Any,
        T: Any,
        weights: Any = None,
        iterative_fitting: int = 1,
        initial_params: Any = None,
        verbose: bool = False,
        tol: float = 1e-4,
        index: Any = None,
        fit_method: str = "Nelder-Mead",
        maxiter: int = 2000,
        **kwargs: Any,
    ) -> "ParetoNBDFitter":
        """Fits the Pareto/NBD model; returns ``self``."""
        self._fit_data(frequency, recency, T, weights, index)
        return self

    def _scaled_nll(self, ll_total: float, x: np.ndarray, w: np.ndarray, max_t: float) -> float:
        return -(ll_total + float(np.sum(w * x)) * np.log(max_t)) / float(np.mean(w))

    def conditional_probability_of_n_purchases_up_to_time(
        self, n: int, t: float, frequency: Any, recency: Any, T: Any
    ) -> Any:
        """Not available in crmkit."""
        raise NotImplementedError(
            "crmkit.lifetimes: ParetoNBDFitter.conditional_probability_of_n_purchases_up_to_time "
            "is not implemented"
        )


class BetaGeoBetaBinomFitter(BaseFitter):
    """The BG/BB model of discrete opportunities (Fader, Hardie & Shang 2010), lifetimes'
    ``BetaGeoBetaBinomFitter``."""

    _param_names = ("alpha", "beta", "gamma", "delta")
    _native_type = _crmkit.BgBb

    @_value_errors
    def fit(
        self,
        frequency: Any,
        recency: Any,
        n_periods: Any,
        weights: Any = None,
        initial_params: Any = None,
        verbose: bool = False,
        tol: float = 1e-7,
        index: Any = None,
        **kwargs: Any,
    ) -> "BetaGeoBetaBinomFitter":
        """Fits the BG/BB model; returns ``self``."""
        freq = np.asarray(frequency).astype(int)
        rec = np.asarray(recency).astype(int)
        n = np.asarray(n_periods).astype(int)
        w = np.ones_like(rec) if weights is None else np.asarray(weights)
        _check_inputs(freq, rec, n)
        x64, r64, n64, w64 = _f64(freq), _f64(rec), _f64(n), _f64(w)
        native, info = self._native_type.fit(x64, r64, n64, w64)
        data = pd.DataFrame(
            {"frequency": freq, "recency": rec, "n_periods": n, "weights": w}, index=index
        )
        self._finish(data, np.asarray(native.params), info, (x64, r64, n64, w64))
        self._negative_log_likelihood_ = -info.log_likelihood / float(np.sum(w64))
        return self

    @_value_errors
    def conditional_expected_number_of_purchases_up_to_time(
        self, m_periods_in_future: Any, frequency: Any, recency: Any, n_periods: Any
    ) -> Any:
        """Expected transactions in the next ``m_periods_in_future`` opportunities."""
        model = self._native()
        out, shape = _by_horizon(
            model.conditional_expected_purchases, m_periods_in_future, frequency, recency, n_periods
        )
        return _shape_like(out, shape, m_periods_in_future, frequency, recency, n_periods)

    @_value_errors
    def conditional_probability_alive(
        self, m_periods_in_future: Any, frequency: Any, recency: Any, n_periods: Any
    ) -> Any:
        """P(alive at opportunity ``n_periods + m_periods_in_future``)."""
        model = self._native()
        out, shape = _by_horizon(
            model.probability_alive_after, m_periods_in_future, frequency, recency, n_periods
        )
        return _shape_like(out, shape, m_periods_in_future, frequency, recency, n_periods)

    @_value_errors
    def expected_number_of_transactions_in_first_n_periods(self, n: float) -> pd.DataFrame:
        """Expected customers with each observed frequency ``x`` after ``n`` opportunities
        (column ``model``, indexed by ``frequency``)."""
        x_counts = self.data.groupby("frequency")["weights"].sum()
        model = self._native()
        probs = np.array(
            [model.probability_of_purchases(int(n), int(x)) for x in x_counts.index]
        )
        idx = pd.Index(np.asarray(x_counts.index), name="frequency")
        return pd.DataFrame(probs * x_counts.sum(), index=idx, columns=["model"])


class GammaGammaFitter(BaseFitter):
    """The Gamma-Gamma spend model, lifetimes' ``GammaGammaFitter``."""

    _param_names = ("p", "q", "v")
    _native_type = _crmkit.GammaGamma

    @_value_errors
    def fit(
        self,
        frequency: Any,
        monetary_value: Any,
        weights: Any = None,
        initial_params: Any = None,
        verbose: bool = False,
        tol: float = 1e-7,
        index: Any = None,
        q_constraint: bool = False,
        **kwargs: Any,
    ) -> "GammaGammaFitter":
        """Fits the model on customers with at least one repeat purchase; returns ``self``."""
        _check_inputs(frequency, monetary_value=monetary_value)
        x = np.asarray(frequency).astype(float)
        m = np.asarray(monetary_value).astype(float)
        w = np.ones_like(x, dtype=int) if weights is None else np.asarray(weights)
        if weights is not None and not np.all(w == 1):
            raise ValidationError("weights: crmkit's Gamma-Gamma fit takes one row per customer")
        x64, m64 = _f64(x), _f64(m)
        native, info = self._native_type.fit(x64, m64)
        data = pd.DataFrame({"monetary_value": m, "frequency": x, "weights": w}, index=index)
        self._finish(data, np.asarray(native.params), info, (x64, m64))
        self._negative_log_likelihood_ = -info.log_likelihood / float(np.sum(w))
        return self

    def conditional_expected_average_profit(
        self, frequency: Any = None, monetary_value: Any = None
    ) -> Any:
        """Expected spend per future transaction of each customer (the population mean for
        customers without repeat purchases)."""
        if monetary_value is None:
            monetary_value = self.data["monetary_value"]
        if frequency is None:
            frequency = self.data["frequency"]
        p, q, v = self._unload_params("p", "q", "v")
        individual_weight = p * frequency / (p * frequency + q - 1)
        population_mean = v * p / (q - 1)
        return (1 - individual_weight) * population_mean + individual_weight * monetary_value

    @_value_errors
    def customer_lifetime_value(
        self,
        transaction_prediction_model: Any,
        frequency: Any,
        recency: Any,
        T: Any,
        monetary_value: Any,
        time: int = 12,
        discount_rate: float = 0.01,
        freq: str = "D",
    ) -> pd.Series:
        """The discounted value of each customer's next ``time`` months (a Series named
        ``clv``)."""
        adjusted = self.conditional_expected_average_profit(frequency, monetary_value)
        from .utils import _customer_lifetime_value

        return _customer_lifetime_value(
            transaction_prediction_model, frequency, recency, T, adjusted, time, discount_rate,
            freq=freq,
        )


def _check_inputs(
    frequency: Any,
    recency: Any = None,
    T: Any = None,
    monetary_value: Any = None,
) -> None:
    """lifetimes' input checks, raising the compatible ValidationError (a ValueError)."""
    if recency is not None:
        if T is not None and np.any(np.asarray(recency) > np.asarray(T)):
            raise ValidationError("Some values in recency vector are larger than T vector.")
        if np.any(np.asarray(recency)[np.asarray(frequency) == 0] != 0):
            raise ValidationError(
                "There exist non-zero recency values when frequency is zero."
            )
        if np.any(np.asarray(recency) < 0):
            raise ValidationError("There exist negative recency (ex: last order set before first order)")
        if any(x.shape[0] == 0 for x in [np.asarray(recency), np.asarray(frequency), np.asarray(T)]):
            raise ValidationError("There exists a zero length vector in one of frequency, recency or T.")
    if np.sum((np.asarray(frequency) - np.asarray(frequency).astype(int)) ** 2) != 0:
        raise ValidationError("There exist non-integer values in the frequency vector.")
    if monetary_value is not None and np.any(np.asarray(monetary_value) <= 0):
        raise ValidationError("There exist non-positive (<= 0) values in the monetary_value vector.")

"""crmkit: an embeddable CRM with customer-value analytics, in Rust.

- The CRM: :class:`Crm` on a SQLite file (or in memory): customers, interactions, imports from
  files and DataFrames, customer value (:meth:`Crm.fit_value`) and a summary.
- Automation: segments kept current by rules (:meth:`Crm.define_segment`), playbooks
  (:class:`Action`) and tasks, and the event outbox (:meth:`Crm.poll_events`,
  :meth:`Crm.subscribe`).
- Analytics on DataFrames: :func:`rfm_summary`, :func:`calibration_holdout`, :func:`rfm_scores`,
  the models :class:`BgNbd`, :class:`MbgNbd`, :class:`ParetoNbd`, :class:`BgBb`,
  :class:`GammaGamma`, :func:`customer_lifetime_value`, holdout evaluation and tracking curves.
- :mod:`crmkit.lifetimes`: the lifetimes 0.11.3 API on crmkit's engine.
- :mod:`crmkit.plotting`: the usual plots (needs matplotlib).

>>> import crmkit
>>> crm = crmkit.Crm()
>>> crm.create_customer("Ada Lovelace", email="ada@example.org").email
'ada@example.org'
"""

from ._crmkit import (
    Action,
    AuditEntry,
    BaseSummary,
    ConflictError,
    Crm,
    CrmError,
    Customer,
    CustomerPage,
    CustomerRevenue,
    CustomerScore,
    Event,
    FitInfo,
    HoldoutCheck,
    HoldoutMetrics,
    ImportReport,
    Interaction,
    Membership,
    MembershipDiff,
    ModelRecord,
    Money,
    NewInteraction,
    NotFoundError,
    Playbook,
    Segment,
    SegmentExplanation,
    StorageError,
    Subscription,
    Task,
    ValidationError,
    ValueExplanation,
    ValueReport,
    __version__,
)
from .analytics import (
    DEFAULT_SEGMENTS,
    calibration_holdout,
    holdout_by_frequency,
    holdout_metrics,
    rfm_scores,
    rfm_segments,
    rfm_summary,
    segment_sizes,
    tracking_curve,
)
from .models import BgBb, BgNbd, GammaGamma, MbgNbd, ParetoNbd, customer_lifetime_value

__all__ = [
    "Action",
    "AuditEntry",
    "BaseSummary",
    "BgBb",
    "BgNbd",
    "ConflictError",
    "Crm",
    "CrmError",
    "Customer",
    "CustomerPage",
    "CustomerRevenue",
    "CustomerScore",
    "DEFAULT_SEGMENTS",
    "Event",
    "FitInfo",
    "GammaGamma",
    "HoldoutCheck",
    "HoldoutMetrics",
    "ImportReport",
    "Interaction",
    "MbgNbd",
    "Membership",
    "MembershipDiff",
    "ModelRecord",
    "Money",
    "NewInteraction",
    "NotFoundError",
    "ParetoNbd",
    "Playbook",
    "Segment",
    "SegmentExplanation",
    "StorageError",
    "Subscription",
    "Task",
    "ValidationError",
    "ValueExplanation",
    "ValueReport",
    "__version__",
    "calibration_holdout",
    "customer_lifetime_value",
    "holdout_by_frequency",
    "holdout_metrics",
    "rfm_scores",
    "rfm_segments",
    "rfm_summary",
    "segment_sizes",
    "tracking_curve",
]

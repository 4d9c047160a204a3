"""All tables. Importing this package registers every model on ``Base.metadata``."""
from cases.models.base import Base, UTCDateTime
from cases.models.calendar import CalendarState, CalendarYear
from cases.models.core import (
    Building,
    Case,
    CaseEnterprise,
    CaseEvent,
    CaseNumberCounter,
    CaseOpenCount,
    Enterprise,
    EnterpriseCreditChange,
    HazardCatalogItem,
    Jurisdiction,
    Project,
    ProjectParty,
    User,
)
from cases.models.deadlines import (
    Deadline,
    DocumentNumberCounter,
    OutboxMessage,
    RungFiring,
    Supervision,
    Timer,
)
from cases.models.notifications import ChannelConfig, DeliveryAttempt, NotificationPreference  # noqa: F401
from cases.models.documents import Document  # noqa: F401
from cases.models.security import RevokedToken, SecurityEvent  # noqa: F401
from cases.models.idempotency import IdempotencyKey  # noqa: F401
from cases.models.heartbeat import WorkerHeartbeat  # noqa: F401
from cases.models.evidence import Evidence  # noqa: F401
from cases.models.inspections import (  # noqa: F401
    AnalogTask, Campaign, CampaignRound, CampaignRoundFiring, Checklist, Inspection, InspectionItem,
)
from cases.models.complaints import Complaint, ComplaintHit  # noqa: F401
from cases.models.credit import CreditListing, CreditRecord, CreditRecordEvent  # noqa: F401
from cases.models.interviews import Interview, InterviewCommitment, InterviewUnit  # noqa: F401
from cases.models.patterns import PatternScanState, RepeatOffenderFlag, RepeatOffenderFlagEvent  # noqa: F401
from cases.models.rankings import RankingPublication  # noqa: F401

__all__ = [
    "Base", "UTCDateTime", "CalendarState", "CalendarYear", "Building", "Case", "CaseEnterprise", "CaseEvent", "CaseNumberCounter", "CaseOpenCount",
    "Enterprise", "EnterpriseCreditChange", "HazardCatalogItem", "Jurisdiction", "Project",
    "ProjectParty", "User", "Deadline", "DocumentNumberCounter", "OutboxMessage", "RungFiring",
    "Supervision", "Timer",
]
from cases.models.referrals import Referral  # noqa: F401
from cases.models.reports import ReportSubmission  # noqa: F401

"""All tables. Importing this package registers every model on ``Base.metadata``."""
from cases.models.base import Base, UTCDateTime
from cases.models.calendar import CalendarYear
from cases.models.core import (
    Building,
    Case,
    CaseEnterprise,
    CaseEvent,
    CaseNumberCounter,
    Enterprise,
    EnterpriseCreditChange,
    HazardCatalogItem,
    Jurisdiction,
    Project,
    ProjectParty,
    User,
)

__all__ = [
    "Base", "UTCDateTime", "CalendarYear", "Building", "Case", "CaseEnterprise", "CaseEvent", "CaseNumberCounter",
    "Enterprise", "EnterpriseCreditChange", "HazardCatalogItem", "Jurisdiction", "Project",
    "ProjectParty", "User",
]

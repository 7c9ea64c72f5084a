"""Every mapped model, imported so that `Base.metadata` is complete (Alembic, tests)."""

from gomeet.auth.models import RefreshToken, Role, User
from gomeet.db import Base
from gomeet.feature_flags.models import FeatureFlag
from gomeet.meetings.models import Meeting, Participant
from gomeet.public_users.models import PublicUser

__all__ = [
    "Base",
    "FeatureFlag",
    "Meeting",
    "Participant",
    "PublicUser",
    "RefreshToken",
    "Role",
    "User",
]

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from gomeet.db import Base, utcnow

# The flags the client knows, with the value served when neither database nor cache answers.
KNOWN_FLAG_DEFAULTS: dict[str, bool] = {
    "use_livekit_sfu": False,
    "use_webrtc_mesh": True,
    "enable_sfu_logs": True,
}
FLAG_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"


class FeatureFlag(Base):
    __tablename__ = "feature_flags"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    enabled: Mapped[bool] = mapped_column(default=False)
    description: Mapped[str | None] = mapped_column(String(500), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(default=None)

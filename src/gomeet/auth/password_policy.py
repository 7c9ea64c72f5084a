"""The password policy (CONTRACT §3) and the zxcvbn strength report.

Policy: at least 12 characters; an upper-case letter, a lower-case letter, a digit and one of
`@$!%*?&-_`; not a common password; no 3-character run of the username (case-insensitive).
"Common" means a zxcvbn score below 3: zxcvbn matches the password against its frequency
lists (common passwords, names, English words), keyboard patterns, dates and repeats, and a
score of 3 means roughly 10^8 guesses or more — `Password123!` scores 1 and is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
from zxcvbn import zxcvbn

from gomeet.errors import AppError

MIN_LENGTH = 12
MAX_LENGTH = 128  # also bounds zxcvbn's work
MIN_SCORE = 3
SPECIALS = "@$!%*?&-_"
USERNAME_RUN = 3


@dataclass(frozen=True)
class Violation:
    code: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class StrengthReport:
    score: int
    warning: str
    suggestions: list[str]
    violations: list[Violation] = field(default_factory=list)

    @property
    def meets_policy(self) -> bool:
        return not self.violations

    def to_json(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "meetsPolicy": self.meets_policy,
            "warning": self.warning,
            "suggestions": self.suggestions,
            "violations": [v.to_json() for v in self.violations],
        }


class WeakPassword(AppError):
    status_code = 400
    code = "WEAK_PASSWORD"
    message = "The password does not meet the password policy"


def _shares_run(password: str, username: str) -> bool:
    pw, name = password.casefold(), username.casefold()
    return any(name[i : i + USERNAME_RUN] in pw for i in range(len(name) - USERNAME_RUN + 1))


def evaluate(password: str, username: str | None = None) -> StrengthReport:
    """Score a password and list every policy rule it breaks (CPU-bound: see `evaluate_async`)."""
    violations: list[Violation] = []
    if len(password) < MIN_LENGTH:
        violations.append(Violation("TOO_SHORT", f"Use at least {MIN_LENGTH} characters"))
    if not any(c.isupper() for c in password):
        violations.append(Violation("NO_UPPERCASE", "Add an upper-case letter"))
    if not any(c.islower() for c in password):
        violations.append(Violation("NO_LOWERCASE", "Add a lower-case letter"))
    if not any(c.isdecimal() for c in password):
        violations.append(Violation("NO_DIGIT", "Add a digit"))
    if not any(c in SPECIALS for c in password):
        violations.append(Violation("NO_SPECIAL", f"Add one of {SPECIALS}"))
    inputs = [username] if username else []
    result = zxcvbn(password[:MAX_LENGTH], user_inputs=inputs, max_length=MAX_LENGTH)
    score = int(result["score"])
    if score < MIN_SCORE:
        violations.append(Violation("TOO_COMMON", "This password is too common or too guessable"))
    if username and _shares_run(password, username):
        violations.append(
            Violation("CONTAINS_USERNAME", "Do not reuse 3 or more characters of the username")
        )
    feedback = result.get("feedback") or {}
    return StrengthReport(
        score=score,
        warning=str(feedback.get("warning") or ""),
        suggestions=[str(s) for s in feedback.get("suggestions") or []],
        violations=violations,
    )


async def evaluate_async(password: str, username: str | None = None) -> StrengthReport:
    return await anyio.to_thread.run_sync(evaluate, password, username)


async def enforce(password: str, username: str | None = None) -> None:
    """Raise `WeakPassword` (400) with every violation in `details`."""
    report = await evaluate_async(password, username)
    if not report.meets_policy:
        raise WeakPassword(
            details={
                "violations": [v.to_json() for v in report.violations],
                "score": report.score,
            }
        )

"""Cache consistency by construction: writes record what they changed (`gomeet.changes`);
this package maps changes to stale keys from committed rows and applies them through the
transactional outbox. It sits above the domains (it reads their tables) and below the app,
which wires it in its lifespan; domains never import it."""

from gomeet.consistency.outbox import Outbox

__all__ = ["Outbox"]

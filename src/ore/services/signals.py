"""Domain signals (blinker). Services send them; handlers in ``ore.events`` react.

The signals live here, below both, because services may not import ``ore.events``
(DESIGN.md section 4 layers). Every signal is sent with the sender object and the
keyword ``session``: the unit of work the change belongs to, so a handler's own writes and
enqueued tasks commit (or roll back) with it.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

account_created = _signals.signal("account-created")
workspace_created = _signals.signal("workspace-created")
member_joined = _signals.signal("member-joined")
# Sent with session, tenant, email, role, url (the activation link) and inviter.
member_invited = _signals.signal("member-invited")

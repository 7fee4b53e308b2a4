"""Use cases per domain. Services take the session first, never commit, never read globals."""

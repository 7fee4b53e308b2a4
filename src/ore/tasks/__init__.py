"""Task entry points: thin functions that load ids and call services.

Importing this package registers every ore task (``ore.app_factory`` and ``ore.cli``
import it before starting a backend; ``ore worker`` registers each one with Celery).
"""

from ore.tasks import annotations, conversations, debug, mail

__all__ = ["annotations", "conversations", "debug", "mail"]

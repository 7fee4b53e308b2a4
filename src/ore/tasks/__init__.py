"""Task entry points: thin functions that load ids and call services.

Importing this package registers every ore task (``ore.app_factory`` and ``ore.cli``
import it before starting a backend; ``ore worker`` registers each one with Celery).
"""

from ore.tasks import conversations, debug, mail

__all__ = ["conversations", "debug", "mail"]

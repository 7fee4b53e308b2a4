"""Built-in providers, one small module each, registered through ``ore.providers``.

An OpenAI-compatible vendor is one call to :func:`openai_vendor` with its id, label,
default base URL and a few catalogue entries.
"""

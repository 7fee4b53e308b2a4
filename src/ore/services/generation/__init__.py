"""Generations of basic apps for the Service API: checked requests, prompts with memory,
Dify's events, and the staged run that stores every message (issue 4)."""

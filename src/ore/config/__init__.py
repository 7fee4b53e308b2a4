"""Configuration: settings grouped by concern, with Dify's environment names."""

from ore.config.settings import ConfigError, Settings, load_settings

__all__ = ["ConfigError", "Settings", "load_settings"]

"""One module per external system, each created from settings at startup."""

"""Behavioural tests run on both KV implementations."""

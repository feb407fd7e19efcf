"""Tests of the HTTP API (berth.api) and the serving CLI commands."""

"""The HTTP scoring service: ``create_app`` builds it, ``berth serve`` runs it."""

from berth.api.app import create_app, create_app_from_env

__all__ = ["create_app", "create_app_from_env"]

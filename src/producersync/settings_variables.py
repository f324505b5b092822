"""The environment variable each setting of a process is read from: the settings' prefix
and the setting's name, or a variable of its own (a field's ``validation_alias``, as the
sync process's ``PRODUCERSYNC_SYNC_PORT``)."""

from __future__ import annotations

from pydantic_settings import BaseSettings

__all__ = ["own_variables", "setting_name", "variable"]


def own_variables(settings: type[BaseSettings]) -> dict[str, str]:
    """The settings that name their own variable: each one's name, and its variable."""
    return {
        name: field.validation_alias
        for name, field in settings.model_fields.items()
        if isinstance(field.validation_alias, str)
    }


def variable(settings: type[BaseSettings], name: str) -> str:
    """The environment variable of the setting ``name``."""
    own = own_variables(settings).get(name)
    return own or f"{settings.model_config.get('env_prefix', '')}{name.upper()}"


def setting_name(settings: type[BaseSettings], key: str) -> str:
    """The name of the setting ``key`` names: itself, or the variable it is read from
    (as an error's location gives a setting that came from the environment)."""
    by_variable = {own.lower(): name for name, own in own_variables(settings).items()}
    return by_variable.get(key.lower(), key)

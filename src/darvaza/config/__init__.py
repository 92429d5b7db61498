"""Settings: one object read from `DARVAZA_*` environment variables and an optional `.env`.

Profiles: `local` works with nothing set; `staging` and `production` refuse to start when a
setting is unsafe, and list every problem at once so an operator fixes them in one pass.
`settings.py` declares the settings, `safety.py` what is unsafe for a profile, and
`environment.py` how they meet the machine (addresses, start warnings, unknown names).
"""

from darvaza.config.environment import ENV_PREFIX, start_warnings
from darvaza.config.settings import (
    DEFAULT_SECRET_KEY,
    AmountUnit,
    GatewayName,
    Language,
    Profile,
    Settings,
    SettingsError,
    load_settings,
    require_safe,
)
from darvaza.config.sla import SLA_PRIORITIES, SlaTarget

__all__ = [
    "DEFAULT_SECRET_KEY",
    "ENV_PREFIX",
    "SLA_PRIORITIES",
    "AmountUnit",
    "GatewayName",
    "Language",
    "Profile",
    "Settings",
    "SettingsError",
    "SlaTarget",
    "load_settings",
    "require_safe",
    "start_warnings",
]

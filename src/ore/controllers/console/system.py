"""System information without a workspace: features, version, ping (console spec section 3).

ore is self-hosted with billing off, so every value here is the self-hosted default and no
limit is enforced.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ore import __version__
from ore.controllers.deps import CurrentWorkspace, SettingsDep

router = APIRouter(tags=["console: system"])


def _size_limit(limit: int) -> dict[str, int]:
    return {"size": 0, "limit": limit}


@router.get("/system-features", summary="Instance-wide features (no login)")
async def get_system_features(settings: SettingsDep) -> dict[str, Any]:
    return {
        "sso_enforced_for_signin": False,
        "sso_enforced_for_signin_protocol": "",
        "enable_marketplace": True,
        "max_plugin_package_size": 15728640,
        "enable_email_code_login": False,
        "enable_email_password_login": True,
        "enable_social_oauth_login": False,
        "is_allow_register": False,
        "is_allow_create_workspace": False,
        "is_email_setup": bool(settings.MAIL_TYPE),
        "license": {
            "status": "none",
            "expired_at": "",
            "workspaces": {"enabled": False, "size": 0, "limit": 0},
        },
        "branding": {
            "enabled": False,
            "application_title": "",
            "login_page_logo": "",
            "workspace_logo": "",
            "favicon": "",
        },
        "webapp_auth": {
            "enabled": False,
            "allow_sso": False,
            "sso_config": {"protocol": ""},
            "allow_email_code_login": False,
            "allow_email_password_login": False,
        },
        "plugin_installation_permission": {
            "plugin_installation_scope": "all",
            "restrict_to_marketplace_only": False,
        },
        "enable_change_email": True,
        "plugin_manager": {"enabled": False},
        "trial_models": [],
        "enable_trial_app": False,
        "enable_explore_banner": False,
    }


@router.get("/features", summary="The current workspace's features")
async def get_features(scope: CurrentWorkspace) -> dict[str, Any]:
    return {
        "billing": {"enabled": False, "subscription": {"plan": "sandbox", "interval": ""}},
        "education": {"enabled": False, "activated": False},
        "members": _size_limit(1),
        "apps": _size_limit(10),
        "vector_space": _size_limit(5),
        "annotation_quota_limit": _size_limit(10),
        "documents_upload_quota": _size_limit(50),
        "knowledge_rate_limit": 10,
        "docs_processing": "standard",
        "can_replace_logo": False,
        "model_load_balancing_enabled": False,
        "dataset_operator_enabled": False,
        "webapp_copyright_enabled": False,
        "workspace_members": {"enabled": False, "size": 0, "limit": 0},
        "is_allow_transfer_workspace": True,
        "trigger_event": {"usage": 0, "limit": 0, "reset_date": -1},
        "api_rate_limit": {"usage": 0, "limit": 0, "reset_date": -1},
        "human_input_email_delivery_enabled": False,
        "knowledge_pipeline": {"publish_enabled": False},
        "next_credit_reset_date": 0,
    }


@router.get("/version", summary="Server version and update information")
async def get_version(current_version: str | None = None) -> dict[str, Any]:
    # No CHECK_UPDATE_URL support: report this server's own version, as Dify does without it.
    return {
        "version": __version__,
        "release_date": "",
        "release_notes": "",
        "can_auto_update": False,
        "features": {"can_replace_logo": False, "model_load_balancing_enabled": False},
    }


@router.get("/ping", summary="Liveness of the console API")
async def ping() -> dict[str, str]:
    return {"result": "pong"}

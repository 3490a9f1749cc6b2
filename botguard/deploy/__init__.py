"""Deploy stage: rule files onto real servers — validate, atomic swap, reload, roll back.

``run_deploy`` is the whole ``deploy-rules`` verb; ``deploy_files`` the per-target
transaction (see its module docstring for the crash-safety argument); ``impact`` the
dry-run replay of scanned traffic. See ``README.md`` beside this file.
"""

from botguard.deploy.app import (
    DeployReport,
    DeployRequest,
    current_decisions,
    run_deploy,
)
from botguard.deploy.files import DeployError, deploy_files, diff_files, recover
from botguard.deploy.impact import impact
from botguard.deploy.lock import DIR_LOCK, DeployLocked, deploy_lock
from botguard.deploy.records import Impact, ImpactRow, Target, TargetOutcome

__all__ = [
    "DIR_LOCK", "DeployError", "DeployLocked", "DeployReport", "DeployRequest", "Impact", "ImpactRow",
    "Target", "TargetOutcome", "current_decisions", "deploy_files", "deploy_lock", "diff_files", "impact",
    "recover", "run_deploy",
]  # fmt: skip

"""Deploy stage: rule files onto real servers — validate, atomic swap, reload, roll back.

``deploy_files`` is the per-target transaction (see its module docstring for the
crash-safety argument); ``impact`` the dry-run replay of scanned traffic; ``lock`` keeps two
runs apart. The ``deploy-rules`` verb that drives them is :mod:`botguard.app.deploy`. See
``README.md`` beside this file.
"""

from botguard.deploy.files import DeployError, deploy_files, diff_files
from botguard.deploy.impact import impact
from botguard.deploy.lock import deploy_lock
from botguard.deploy.records import Impact, Target, TargetOutcome

__all__ = [
    "DeployError", "Impact", "Target", "TargetOutcome", "deploy_files", "deploy_lock", "diff_files", "impact",
]  # fmt: skip

"""The monitoring loop's Lambda functions on AWS (``infrastructure/monitoring.yaml``), packaged into the functions'
zip by ``pipelines.monitoring_stack.package``: standard library and boto3 only, Python 3.10+, nothing of
``pipelines``.

``s3util``, ``datahash``, ``check_settings``, ``check_job`` and ``check_merge`` (the scheduled data-quality
check, and its merge job on several instances), ``model_quality_settings`` and ``model_quality_job`` (the scheduled
model-quality check), ``retrain_rules``, ``retrain_store`` and ``retrain_job`` (the drift and model-quality alarms'
retraining decision). ``cron`` translates the configuration's cron to AWS's dialect for the deploy
(``pipelines.monitoring_stack``).
"""

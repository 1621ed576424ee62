"""The monitoring loop's Lambda functions on AWS (``infrastructure/monitoring.yaml``), packaged into the functions'
zip by ``pipelines.monitoring_stack.package``: standard library and boto3 only, Python 3.10+, nothing of
``pipelines``.

``s3util``, ``datahash``, ``check_settings`` and ``check_job`` (the scheduled data-quality check), ``retrain_rules``
and ``retrain_job`` (the drift alarm's retraining decision). ``cron`` translates the configuration's cron to AWS's
dialect for the deploy (``pipelines.monitoring_stack``).
"""

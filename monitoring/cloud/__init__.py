"""The monitoring loop on AWS: the Lambda functions of ``infrastructure/monitoring.yaml`` and the deploy code.

Lambda side (packaged into the functions' zip; standard library and boto3 only, Python 3.10+):
``s3util``, ``datahash``, ``check_settings`` and ``check_job`` (the scheduled data-quality check), ``retrain_rules``
and ``retrain_job`` (the drift alarm's retraining decision). ``package`` lists them.

Deploy side (the CLI; may import the project and the SageMaker SDK): ``names``, ``template``,
``parameters``, ``package``, ``changeset``, ``model_monitor``, ``deploy``.
"""

"""Deploying a registered model version: to the local endpoint (``local``) and to a SageMaker endpoint
(``sagemaker``, its request builders in ``sagemaker_requests``, its smoke-test row in ``smoke``).

Application code: it reads the configuration and the registry and drives the endpoint (``inference.server`` and
``inference.load_check`` locally), which imports nothing from here."""

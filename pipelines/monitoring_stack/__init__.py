"""Deploying the monitoring loop to AWS (``mlops monitor deploy --backend sagemaker``) and repointing it after a
model deploy.

``names`` (resource names from the configuration), ``template`` (rendering ``infrastructure/monitoring.yaml`` with
its per-item fragments), ``parameters`` (the stack's parameters), ``package`` (the Lambda functions' zip, built from
``monitoring/cloud``), ``changeset`` (create / update through change sets), ``model_monitor`` (the Model Monitor
engine's per-version stack parameters), ``deploy`` (the whole deploy) and ``repoint`` (the live pointer after a model
deploy, and the model-monitor engine's parameters-only stack update).

Application code: it may import the configuration, the registry, the staging and the SageMaker SDK. The Lambda
code it packages (``monitoring/cloud``) imports nothing from here.
"""

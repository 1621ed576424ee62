"""Setting up and tearing down a project's AWS account: the bootstrap stack and the values it writes into
``mlops.yaml`` (``bootstrap``, ``config_edit``), the teardown of everything the project created (``destroy``), and
the opt-in end-to-end run in a real account (``smoke``, ``costs``)."""

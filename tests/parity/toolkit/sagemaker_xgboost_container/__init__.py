"""Stand-in for the image's sagemaker_xgboost_container package: its script-mode wiring only (see ../README.md)."""

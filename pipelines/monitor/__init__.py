"""The local monitoring loop: checks of captured traffic on a schedule, metrics, alarms, alerts, retraining."""

"""The local monitoring loop's side of monitoring: alarms over the metrics store (``alarms``, ``alarm_rule``,
``alarm_names``, ``metrics_store``), alert delivery (``alerts``) and the HTML report (``html_report``, ``charts``).

Never staged: jobs run only the analyzer at ``monitoring/``'s top level (``pipelines.staging.LIB_FILES``), so an
edit here neither ships to a job nor invalidates a cached step. Imports the analyzer's modules, never ``pipelines``.
"""

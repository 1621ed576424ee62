"""The local runner: executes the real pipeline definition JSON on one machine, no Docker, no AWS."""

"""Script-mode serving as the image's ``sagemaker_xgboost_container/serving.py`` at v3.0-5 wires it.

The image's ``serve`` console script is ``serving_entrypoint``; it starts sagemaker-containers' gunicorn server on
``SAGEMAKER_SERVING_MODULE`` = ``sagemaker_xgboost_container.serving:main``, the WSGI app below. Request handling
(content types, Accept, error statuses) is the real sagemaker-containers 2.8.6.post2: ``transformer.Transformer``
and ``worker.Worker``.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import types

from sagemaker_containers import _server
from sagemaker_containers.beta.framework import env, server, transformer, worker


class UserError(Exception):
    """sagemaker_algorithm_toolkit/exceptions.py's UserError (a mistake in the user's module)."""


class NotMirrored(RuntimeError):
    """A path of the image's serving.py that the parity harness does not run (algorithm mode, multi-model server,
    the image's default input/predict/output functions)."""


def _not_mirrored(name: str, lines: str):
    def missing(*args, **kwargs):
        raise NotMirrored(f"the handler has no {name}: the image's default_{name} (serving.py lines {lines}) runs")

    return missing


def _user_module_transformer(user_module) -> transformer.Transformer:
    """serving.py lines 116-134 at v3.0-5: transform_fn alone, or the four functions; mixing them is refused."""
    model_fn = getattr(user_module, "model_fn", transformer.default_model_fn)  # default_model_fn, lines 63-70
    input_fn = getattr(user_module, "input_fn", None)
    predict_fn = getattr(user_module, "predict_fn", None)
    output_fn = getattr(user_module, "output_fn", None)
    transform_fn = getattr(user_module, "transform_fn", None)
    if transform_fn and (input_fn or predict_fn or output_fn):
        raise UserError("Cannot use transform_fn implementation with input_fn, predict_fn, and/or output_fn")
    if transform_fn is not None:
        return transformer.Transformer(model_fn=model_fn, transform_fn=transform_fn)
    return transformer.Transformer(
        model_fn=model_fn,
        input_fn=input_fn or _not_mirrored("input_fn", "73-88"),
        predict_fn=predict_fn or _not_mirrored("predict_fn", "91-99"),
        output_fn=output_fn or _not_mirrored("output_fn", "102-113"),
    )


app = None


def main(environ, start_response):
    """serving.py lines 137-155 at v3.0-5: the WSGI app, built on the first request."""
    global app
    if app is None:
        serving_env = env.ServingEnv()
        if serving_env.module_name is None:  # no SAGEMAKER_PROGRAM
            raise NotMirrored("no SAGEMAKER_PROGRAM: the image serves in algorithm mode (serve.ScoringService)")
        user_module = importlib.import_module(serving_env.module_name)
        user_module_transformer = _user_module_transformer(user_module)
        user_module_transformer.initialize()
        app = worker.Worker(transform_fn=user_module_transformer.transform, module_name=serving_env.module_name)
    return app(environ, start_response)


def _loopback_popen(command, *args, **kwargs):
    """Harness deviation: the toolkit binds gunicorn to 0.0.0.0 (_server.start); the parity server binds loopback."""
    command = [c.replace("0.0.0.0:", "127.0.0.1:", 1) if str(c).startswith("0.0.0.0:") else c for c in command]
    return subprocess.Popen(command, *args, **kwargs)


def serving_entrypoint() -> None:
    """serving.py lines 46-60 and 158-169 at v3.0-5: one OpenMP thread per process unless set, then gunicorn."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # sm_env_constants.ONE_THREAD_PER_PROCESS
    if os.environ.get("SAGEMAKER_MULTI_MODEL"):
        raise NotMirrored("SAGEMAKER_MULTI_MODEL: the image starts the multi-model server (serving_mms)")
    _server.subprocess = types.SimpleNamespace(Popen=_loopback_popen)
    server.start(env.ServingEnv().framework_module)

"""The REST API of ``gpuplan serve`` (DESIGN §10): FastAPI under ``/api/v1``, mirroring the CLI's ``--json`` schemas.

``create_app(settings)`` builds the app; ``gpuplan.cli.serve`` runs it with uvicorn. FastAPI is imported here, so
nothing below the edges imports this package.
"""

from gpuplan.api.app import create_app
from gpuplan.api.server import run_server
from gpuplan.api.settings import ApiSettings

__all__ = ["ApiSettings", "create_app", "run_server"]

"""The building_extractor web service: py-qgis-wps (OGC API - Processes, WPS 1.0.0) and its Redis.

    .venv/bin/python service/serve.py        # what `make serve` runs, from the repository root

Reads service/building_extractor.cfg, applies the SERVICE_* environment variables (help/service.md),
starts Redis on localhost with its own port and folder (unless SERVICE_START_REDIS=0), serves until
SIGINT / SIGTERM, then stops py-qgis-wps and Redis.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG_FILE = ROOT / "service" / "building_extractor.cfg"
REDIS_START_S = 20
PR_SET_PDEATHSIG = 1  # linux/prctl.h

# SERVICE_* environment variable -> (section, option) of the configuration.
ENVIRONMENT = {
    "SERVICE_PORT": ("server", "port"),
    "SERVICE_WORKERS": ("server", "parallelprocesses"),
    "SERVICE_TIMEOUT_S": ("server", "response_timeout"),
    "SERVICE_EXPIRY_S": ("server", "response_expiration"),
    "SERVICE_CLEANUP_S": ("server", "cleanup_interval"),
    "SERVICE_JOBS_DIR": ("server", "workdir"),
    "SERVICE_REDIS_PORT": ("logstorage:redis", "port"),
    "SERVICE_DATA_DIR": ("building_extractor", "data_dir"),
    "SERVICE_UPLOAD_DIR": ("building_extractor", "upload_dir"),
    "SERVICE_MODELS_DIR": ("building_extractor", "models_dir"),
    "SERVICE_URL_SCHEMES": ("building_extractor", "url_schemes"),
    "SERVICE_MAX_PIXELS": ("building_extractor", "max_pixels"),
    "SERVICE_REDIS_DIR": ("building_extractor", "redis_dir"),
    "SERVICE_START_REDIS": ("building_extractor", "start_redis"),
    "SERVICE_PLUGINS_DIR": ("processing", "providers_module_path"),
}
ABSOLUTE_PATHS = [("server", "workdir"), ("building_extractor", "data_dir"), ("building_extractor", "upload_dir"),
                  ("building_extractor", "models_dir"), ("building_extractor", "redis_dir"),
                  ("processing", "providers_module_path"), ("processing", "accesspolicy")]


def configure() -> None:
    """py-qgis-wps's configuration: its defaults, our file, then the SERVICE_* variables; paths made absolute."""
    from pyqgiswps.config import confservice, load_configuration, read_config_file

    load_configuration()
    read_config_file(CONFIG_FILE)
    for variable, (section, option) in ENVIRONMENT.items():
        if os.environ.get(variable):
            confservice.set(section, option, os.environ[variable])
    for section, option in ABSOLUTE_PATHS:
        path = Path(confservice.get(section, option))
        confservice.set(section, option, str(path if path.is_absolute() else ROOT / path))
    for section, option in [("server", "workdir"), ("building_extractor", "upload_dir"),
                            ("building_extractor", "redis_dir")]:
        Path(confservice.get(section, option)).mkdir(parents=True, exist_ok=True)
    if os.environ.get("SERVICE_ENABLE_TRAINING") == "1":
        confservice.set("processing", "accesspolicy", str(_policy_with_training()))


def _policy_with_training() -> Path:
    """accesspolicy.yml plus the training algorithms, written beside the Redis folder."""
    from pyqgiswps.config import confservice

    extra = confservice.get("building_extractor", "training_algorithms").split()
    policy = Path(confservice.get("processing", "accesspolicy")).read_text()
    target = Path(confservice.get("building_extractor", "redis_dir")).parent / "accesspolicy-training.yml"
    target.write_text(policy + "".join(f"  - {name}\n" for name in extra))
    return target


def start_redis() -> subprocess.Popen | None:
    """Redis on 127.0.0.1 at the configured port, data in redis_dir (append-only: jobs survive a restart)."""
    from pyqgiswps.config import confservice

    if not confservice.getboolean("building_extractor", "start_redis"):
        return None
    server = shutil.which("redis-server")
    if server is None:
        sys.exit("serve: redis-server not found; run 'make setup' (installs Debian's redis-server).")
    port = confservice.get("logstorage:redis", "port")
    folder = Path(confservice.get("building_extractor", "redis_dir"))
    command = [server, "--port", port, "--bind", "127.0.0.1", "--protected-mode", "yes", "--dir", str(folder),
               "--pidfile", str(folder / "redis.pid"), "--appendonly", "yes", "--save", "", "--daemonize", "no",
               "--logfile", str(folder / "redis.log")]
    # Its own session: a Ctrl-C in the terminal reaches the service, which then stops Redis last; and SIGTERM
    # from the kernel should the service die without stopping it (py-qgis-wps aborts when a worker crashes).
    redis = subprocess.Popen(command, start_new_session=True, preexec_fn=_terminate_with_parent)
    _wait_for_redis(redis, int(port))
    return redis


def _terminate_with_parent() -> None:
    """In the Redis child before exec: Linux sends it SIGTERM when its parent dies (prctl PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _wait_for_redis(redis: subprocess.Popen, port: int) -> None:
    import redis as redis_client

    client = redis_client.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + REDIS_START_S
    while time.monotonic() < deadline:
        if redis.poll() is not None:
            sys.exit(f"serve: redis-server exited with code {redis.returncode} (port {port} in use?); see its log "
                     "in the redis folder.")
        try:
            if client.info("server")["process_id"] == redis.pid:  # ours, not another Redis on that port
                return
            time.sleep(0.1)
        except redis_client.ConnectionError:
            time.sleep(0.1)
    redis.terminate()
    sys.exit(f"serve: redis-server did not answer on port {port} within {REDIS_START_S} s.")


def stop_redis(redis: subprocess.Popen | None) -> None:
    """SIGTERM: Redis flushes its append-only file and exits."""
    if redis is not None and redis.poll() is None:
        redis.send_signal(signal.SIGTERM)
        try:
            redis.wait(timeout=REDIS_START_S)
        except subprocess.TimeoutExpired:
            redis.kill()
            redis.wait()


def main() -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("QGIS_CUSTOM_CONFIG_PATH", str(ROOT / "build" / "service" / "qgis-profile"))
    from pyqgiswps.config import confservice
    from pyqgiswps.logger import setup_log_handler
    from pyqgiswps.runtime import run_server
    from pyqgiswps.utils.qgis import setup_qgis_paths

    configure()
    setup_log_handler()
    setup_qgis_paths()  # QGIS's own "processing" package, which py-qgis-wps's executors import
    import adapters
    import routes

    adapters.install()
    routes.install()
    redis = start_redis()
    try:
        server = confservice["server"]
        run_server(port=server.getint("port"), address=server["interfaces"])
    finally:
        stop_redis(redis)


if __name__ == "__main__":
    main()

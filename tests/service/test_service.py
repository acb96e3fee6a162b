"""The web service over real HTTP: OGC API - Processes jobs on real imagery, cancel, refusals, restart.

The service (conftest.py) runs service/serve.py as `make serve` does: its own Redis, py-qgis-wps, the
staged plugin, two workers. Requests go through `requests`, as any client's would.
"""

from __future__ import annotations

import base64
import re
import subprocess
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.slow

UNET = "building_extractor:extract_buildings_unet"
JOB_S = 420
SHORT_EXPIRY_S = 30
FIELDS = {"confidence", "max_probability", "area_m2", "perimeter_m"}
HELP_PAGE = Path(__file__).resolve().parents[2] / "help" / "service.md"


def execute(service, inputs: dict, prefer: str = "respond-async", process: str = UNET) -> requests.Response:
    return requests.post(f"{service.url}/processes/{process}/execution", json={"inputs": inputs},
                         headers={"Prefer": prefer}, timeout=60)


def submit(service, inputs: dict, prefer: str = "respond-async") -> str:
    response = execute(service, inputs, prefer)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "accepted"
    return response.headers["X-Job-Id"]


def wait_for(service, job_id: str, statuses: tuple[str, ...] = ("successful", "failed")) -> dict:
    deadline = time.monotonic() + JOB_S
    while time.monotonic() < deadline:
        status = requests.get(f"{service.url}/jobs/{job_id}", timeout=30).json()
        if status["status"] in statuses:
            return status
        time.sleep(0.5)
    pytest.fail(f"job {job_id} not {statuses} within {JOB_S} s: {status}")


def wait_for_all(service, job_ids: list[str]) -> dict[str, dict]:
    """Each job's first finished status, polling all of them (a short-lived one may expire meanwhile)."""
    done: dict[str, dict] = {}
    deadline = time.monotonic() + JOB_S
    while len(done) < len(job_ids):
        assert time.monotonic() < deadline, f"jobs not finished within {JOB_S} s: {set(job_ids) - set(done)}"
        for job_id in set(job_ids) - set(done):
            status = requests.get(f"{service.url}/jobs/{job_id}", timeout=30).json()
            if status.get("status") in ("successful", "failed"):
                done[job_id] = status
        time.sleep(0.5)
    return done


def download(service, job_id: str, name: str, folder: Path) -> Path:
    response = requests.get(f"{service.url}/jobs/{job_id}/files/{name}", timeout=60)
    assert response.status_code == 200, response.text
    path = folder / f"{job_id}-{time.monotonic_ns()}-{name}"
    path.write_bytes(response.content)
    return path


def buildings(path: Path) -> list[dict]:
    from osgeo import ogr

    dataset = ogr.Open(str(path))
    assert dataset is not None, path
    return [feature.items() for feature in dataset.GetLayer(0)]


def test_lists_the_extraction_algorithms_only_with_their_inputs(service):
    processes = requests.get(f"{service.url}/processes", timeout=30).json()["processes"]
    assert {p["id"] for p in processes} == {UNET, "building_extractor:extract_buildings_maskrcnn"}
    assert requests.get(f"{service.url}/processes/building_extractor:train_model", timeout=30).status_code == 401
    inputs = requests.get(f"{service.url}/processes/{UNET}", timeout=30).json()["inputs"]
    assert inputs["MODEL"]["schema"]["enum"] == ["default_maskrcnn", "default_unet"]  # names, not uploads
    device = inputs["DEVICE"]["schema"]  # a static-string enum: its strings, not indices
    assert device["type"] == "string" and device["default"] == "auto" and {"auto", "cpu"} <= set(device["enum"])
    regularize = inputs["REGULARIZE"]["schema"]  # a named enum: its option names, whatever the dialog's language
    assert regularize["default"] == "none" and "right_angles" in regularize["enum"], regularize
    assert inputs["INPUT"]["minOccurs"] == 1 and inputs["MIN_AREA"]["minOccurs"] == 0  # defaults are optional


def test_job_gives_the_buildings_of_processing_run_and_survives_a_restart(service, provider, tmp_path):
    import processing

    job_id = submit(service, {"INPUT": "crop.tif", "MODEL": "default_unet", "DEVICE": "cpu", "OUTPUT": "buildings"})
    status = wait_for(service, job_id)
    assert status["status"] == "successful", status
    assert status["progress"] == 100
    served = buildings(download(service, job_id, "OUTPUT.gpkg", tmp_path))
    assert served and FIELDS <= set(served[0])
    geojson = buildings(download(service, job_id, "OUTPUT.geojson", tmp_path))
    assert sorted(b["area_m2"] for b in geojson) == sorted(b["area_m2"] for b in served)

    direct = tmp_path / "direct.gpkg"
    processing.run(UNET, {"INPUT": str(service.data_dir / "crop.tif"), "DEVICE": "cpu", "OUTPUT": str(direct)})
    assert sorted(b["area_m2"] for b in served) == pytest.approx(sorted(b["area_m2"] for b in buildings(direct)),
                                                                   abs=0.05)

    assert service.stop() == 0
    assert not service.redis_running()  # stopped with the service
    service.start()
    assert requests.get(f"{service.url}/jobs/{job_id}", timeout=30).json()["status"] == "successful"
    again = buildings(download(service, job_id, "OUTPUT.gpkg", tmp_path))
    assert len(again) == len(served)


class RangeHandler(SimpleHTTPRequestHandler):
    """Files with HTTP range requests, as GDAL's /vsicurl/ needs (and web servers and object stores give)."""

    def do_GET(self) -> None:  # noqa: N802 - http.server API name
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        path = Path(self.translate_path(self.path))
        if not match or not path.is_file():
            return super().do_GET()
        data = path.read_bytes()
        start, end = int(match[1]), min(int(match[2] or len(data) - 1), len(data) - 1)
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        self.wfile.write(data[start:end + 1])

    def log_message(self, *args) -> None:
        pass


def test_two_concurrent_jobs_by_path_and_by_url_and_a_short_expiry(service, tmp_path):
    handler = partial(RangeHandler, directory=str(service.data_dir))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/crop.tif"
        by_path = submit(service, {"INPUT": "crop.tif", "DEVICE": "cpu", "OUTPUT": "buildings"})
        by_url = submit(service, {"INPUT": {"href": url}, "DEVICE": "cpu", "OUTPUT": "buildings"},
                        prefer=f"respond-async, x-expire={SHORT_EXPIRY_S}")
        done = wait_for_all(service, [by_path, by_url])
        from_url = buildings(download(service, by_url, "OUTPUT.gpkg", tmp_path))
        overlapping = _overlap(service, by_path, by_url)
    finally:
        server.shutdown()
    assert [done[by_path]["status"], done[by_url]["status"]] == ["successful"] * 2, done
    assert overlapping, "the two jobs ran one after the other"
    assert len(from_url) == len(buildings(download(service, by_path, "OUTPUT.gpkg", tmp_path)))
    deadline = time.monotonic() + 90
    while requests.get(f"{service.url}/jobs/{by_url}", timeout=30).status_code != 404:
        assert time.monotonic() < deadline, f"the {SHORT_EXPIRY_S} s job did not expire"
        time.sleep(1)
    assert not (service.jobs_dir / by_url).exists()
    assert requests.get(f"{service.url}/jobs/{by_path}", timeout=30).json()["status"] == "successful"


def _overlap(service, first: str, second: str) -> bool:
    """Whether the jobs' [started, finished] intervals overlap (their logs give both times)."""
    def interval(job_id: str) -> tuple[str, str]:
        log = requests.get(f"{service.url}/jobs/{job_id}/logs", timeout=30).text
        stamps = re.findall(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+)", log, flags=re.M)
        return stamps[0], stamps[-1]

    (start_a, end_a), (start_b, end_b) = interval(first), interval(second)
    return start_a < end_b and start_b < end_a


def test_delete_cancels_a_running_job_and_leaves_nothing(service):
    job_id = submit(service, {"INPUT": "sample.tif", "DEVICE": "cpu", "OUTPUT": "buildings"})
    wait_for(service, job_id, statuses=("running", "successful", "failed"))
    log = service.jobs_dir / job_id / "processing.log"
    deadline = time.monotonic() + JOB_S
    while "Step 1" not in (log.read_text() if log.exists() else ""):  # inside the algorithm: reading tiles
        assert time.monotonic() < deadline
        time.sleep(0.2)
    dismissed = requests.delete(f"{service.url}/jobs/{job_id}", timeout=30)
    assert dismissed.status_code == 200 and dismissed.json()["status"] == "dismissed"
    time.sleep(3)
    assert requests.get(f"{service.url}/jobs/{job_id}", timeout=30).status_code == 404
    assert not (service.jobs_dir / job_id).exists()


def test_a_job_over_the_timeout_is_killed_and_serves_no_file(short_timeout_service):
    short = short_timeout_service
    job_id = submit(short, {"INPUT": "large.tif", "DEVICE": "cpu", "OUTPUT": "buildings"},
                    prefer="respond-async, wait=3600")  # a client cannot raise the timeout
    status = wait_for(short, job_id)
    assert status["status"] == "failed" and "Timeout" in status["message"], status
    assert requests.get(f"{short.url}/jobs/{job_id}/files/OUTPUT.gpkg", timeout=30).status_code == 404


@pytest.mark.parametrize(("reference", "says"), [
    ("../crop.tif", "contains '..'"),
    ("/etc/passwd", "outside the data folder"),
    ("file:///etc/hosts", "outside the data folder"),
    ("ftp://example.org/a.tif", "'ftp:' references are not allowed"),
    ("/vsizip//etc/a.zip/a.tif", "GDAL or QGIS source options"),
    ("oversize.tif", "2000 x 2000 = 4.0 MP; this service takes at most 1.2 MP"),
])
def test_refused_references_get_a_400_exception_document(service, reference, says):
    jobs_before = set(service.jobs_dir.iterdir())
    response = execute(service, {"INPUT": reference, "OUTPUT": "buildings"})
    assert response.status_code == 400
    document = response.json()
    assert document["type"] == "ogc-api:exception-report" and document["instance"] == "INPUT"
    assert says in document["detail"] and "Traceback" not in response.text
    assert set(service.jobs_dir.iterdir()) == jobs_before  # no job was made


@pytest.mark.parametrize(("inputs", "says"), [
    ({"MODEL": "../models/default_unet"}, "MODEL: '../models/default_unet' is not one of: default_maskrcnn, "),
    ({"MIN_AREA": -1}, "MIN_AREA: -1 is outside 0.0 .. "),
])
def test_a_value_outside_the_description_gets_a_400_naming_it(service, inputs, says):
    response = execute(service, {"INPUT": "crop.tif", "OUTPUT": "buildings", **inputs})
    assert response.status_code == 400 and says in response.json()["detail"], response.text


def _crs84_bbox(xmin: float, ymin: float, xmax: float, ymax: float) -> list[float]:
    """A box of oversize.tif's UTM 45N coordinates in CRS84 (longitude, latitude)."""
    from osgeo import osr

    utm, lonlat = osr.SpatialReference(), osr.SpatialReference()
    utm.ImportFromEPSG(32645)
    lonlat.ImportFromEPSG(4326)
    for srs in (utm, lonlat):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return list(osr.CoordinateTransformation(utm, lonlat).TransformBounds(xmin, ymin, xmax, ymax, 21))


def test_the_pixel_limit_counts_the_part_inside_extent_and_holds_over_wps(service):
    corner = {"bbox": _crs84_bbox(500000, 2999900, 500100, 3000000)}  # about 667 x 667 px of 2000 x 2000
    accepted = execute(service, {"INPUT": "oversize.tif", "EXTENT": corner, "OUTPUT": "buildings"})
    assert accepted.status_code == 201, accepted.text
    requests.delete(f"{service.url}/jobs/{accepted.headers['X-Job-Id']}", timeout=30)
    whole = {"bbox": _crs84_bbox(499000, 2999000, 501000, 3001000)}
    refused = execute(service, {"INPUT": "oversize.tif", "EXTENT": whole, "OUTPUT": "buildings"})
    assert refused.status_code == 400 and "part inside EXTENT has 2000 x 2000" in refused.json()["detail"]

    wps = requests.get(f"{service.url}/ows/", timeout=60, params={
        "service": "WPS", "version": "1.0.0", "request": "Execute", "identifier": UNET,
        "DataInputs": "INPUT=oversize.tif;OUTPUT=buildings", "storeExecuteResponse": "true", "status": "true"})
    job_id = re.search(r"uuid=([0-9a-f-]+)", wps.text)[1]
    status = wait_for(service, job_id)
    assert status["status"] == "failed" and "4.0 MP to read; this service takes at most 1.2 MP" in status["message"]


def test_no_server_file_is_served_by_encoded_dot_dot(service):
    for path in ("jobs/..%2F..%2F..%2F..%2F..%2F..%2Fetc/files/passwd", "jobs/..%2F..%2F..%2F..%2Fetc/logs",
                 "jobs/00000000-0000-0000-0000-000000000000/files/..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd"):
        response = requests.get(f"{service.url}/{path}", timeout=30)
        assert response.status_code == 404 and "root:" not in response.text


def test_an_upload_runs_and_the_algorithm_s_own_message_fails_a_job(service):
    upload = base64.b64encode((service.data_dir / "crop.tif").read_bytes()).decode()
    job_id = submit(service, {"INPUT": {"value": upload, "encoding": "base64", "mediaType": "image/tiff"},
                              "MODEL": "default_maskrcnn", "DEVICE": "cpu", "OUTPUT": "buildings"})
    wait_for(service, job_id)
    time.sleep(3)  # py-qgis-wps 1.10 alone would overwrite the message with "Internal Error" by now
    status = requests.get(f"{service.url}/jobs/{job_id}", timeout=30).json()
    assert status["status"] == "failed"
    assert "MODEL holds a maskrcnn model" in status["message"] and "Traceback" not in status["message"]


def test_the_help_page_exchange_runs_as_written(service):
    """help/service.md's curl commands, run by bash against this service."""
    script = "\n".join(re.findall(r"```bash\n(.*?)```", HELP_PAGE.read_text(), flags=re.S))
    assert "curl" in script
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=JOB_S,
                          env={"SERVICE": service.url, "RASTER": "crop.tif", "PATH": "/usr/bin:/bin"},
                          cwd=service.folder)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (service.folder / "buildings.gpkg").stat().st_size > 0
    assert buildings(service.folder / "buildings.geojson")

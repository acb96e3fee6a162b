"""HTTP front of the service: requests checked before py-qgis-wps makes a job, safe file downloads, GeoJSON.

Runs in the main (tornado) process, which has no QGIS: checks use GDAL only (guard.py). Each handler
subclasses the py-qgis-wps 1.10 handler it replaces, so the OGC API documents stay py-qgis-wps's own.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import mimetypes
import os
import re
import uuid
from pathlib import Path
from typing import Any

from guard import RefusedInput, check_raster_size, policy_from_config, prune_uploads, resolve_reference, save_upload
from osgeo import gdal
from pyqgiswps import runtime
from pyqgiswps.config import confservice
from pyqgiswps.exceptions import InvalidParameterValue, UnknownProcessError
from pyqgiswps.handlers import ExecuteHandler, LogsHandler, OWSHandler, StoreHandler
from tornado.escape import json_decode, json_encode
from tornado.web import HTTPError

# py-qgis-wps "processing:type" of the inputs that name a layer (rasters are also size-checked).
LAYER_TYPES = {"raster", "vector", "source", "layer", "multilayer", "mesh"}
SAFE_NAME = re.compile(r"^[\w.-]+$")


class GuardedExecuteHandler(ExecuteHandler):
    """POST /processes/{id}/execution: layer references checked, uploads saved, expiry capped, then py-qgis-wps."""

    async def post(self, process_id: str) -> None:
        try:
            document = json_decode(self.request.body)
            process = self.application.wpsservice.get_processes([process_id])[0]
        except (ValueError, UnknownProcessError):
            return await super().post(process_id)  # its own 400 / 404 documents
        inputs = document.get("inputs") if isinstance(document, dict) else None
        if isinstance(inputs, dict) and self.accesspolicy.allow(process_id):
            policy = policy_from_config(confservice["building_extractor"])
            extent = next((inputs.get(d.identifier) for d in process.inputs if _processing_type(d) == "extent"), None)
            for description in process.inputs:
                if description.identifier in inputs:
                    _check_allowed(description, inputs[description.identifier])
                if _processing_type(description) in LAYER_TYPES and description.identifier in inputs:
                    value = inputs[description.identifier]
                    is_raster = _processing_type(description) == "raster"
                    inputs[description.identifier] = await _checked_reference(
                        description.identifier, value, is_raster, policy, extent)
            self.request.body = json_encode(document).encode()
        self._sanitize_prefer()
        return await super().post(process_id)

    def _sanitize_prefer(self) -> None:
        """A client's "Prefer: x-expire=N" may shorten, never lengthen, the configured result lifetime; its
        "wait=N" is dropped (py-qgis-wps 1.10 would report a timeout but leave the job running)."""
        prefer = self.request.headers.get("Prefer")
        if not prefer:
            return
        longest = confservice.getint("server", "response_expiration")
        kept = []
        for preference in (p.strip() for p in prefer.split(",")):
            name, _, value = preference.partition("=")
            if name.lower() == "wait" or (name.lower() == "x-expire" and (not value.strip().isdigit()
                                                                            or int(value) > longest)):
                continue
            kept.append(preference)
        self.request.headers["Prefer"] = ", ".join(kept)


def _check_allowed(description: Any, value: Any) -> None:
    """A choice or number outside what the process description allows: 400 naming the input and the allowed
    values (py-qgis-wps alone says "Input data not valid using mode '1'")."""
    allowed = getattr(description, "allowed_values", None)
    if allowed is None:
        return
    name = description.identifier
    for item in value if isinstance(value, list) else [value]:
        item = item.get("value") if isinstance(item, dict) else item
        if allowed.is_range and isinstance(item, (int, float)) and not isinstance(item, bool):
            low, high = allowed.minval, allowed.maxval
            if (low is not None and item < low) or (high is not None and item > high):
                raise InvalidParameterValue(f"{name}: {item} is outside {low} .. {high}.", locator=name)
        elif not allowed.is_range and allowed.values and item not in allowed.values:
            raise InvalidParameterValue(f"{name}: '{item}' is not one of: {', '.join(map(str, allowed.values))}.",
                                        locator=name)


def _processing_type(description: Any) -> str:
    return next((m.href for m in description.metadata if m.title == "processing:type"), "")


async def _checked_reference(name: str, value: Any, is_raster: bool, policy: Any, extent: Any) -> str:
    """The reference to pass on (an absolute path, or the URL as given); InvalidParameterValue (400) if refused.
    A raster's pixels are counted inside the EXTENT input when there is one (an OGC bbox object)."""
    try:
        return await asyncio.get_running_loop().run_in_executor(None, _check, value, is_raster, policy, extent)
    except RefusedInput as exc:
        raise InvalidParameterValue(f"{name}: {exc}", locator=name) from None


def _check(value: Any, is_raster: bool, policy: Any, extent: Any = None) -> str:
    if isinstance(value, dict) and "value" in value and value.get("encoding") == "base64":
        if not is_raster:
            raise RefusedInput("only rasters may be uploaded; give a path inside the data folder or a URL.")
        try:
            data = base64.b64decode(value["value"], validate=True)
        except (binascii.Error, TypeError):
            raise RefusedInput("the uploaded raster is not valid base64.") from None
        prune_uploads(policy.upload_dir, confservice.getint("server", "response_expiration"))
        return save_upload(data, policy)
    reference = value.get("href", value.get("value")) if isinstance(value, dict) else value
    if not isinstance(reference, str):
        raise RefusedInput("give a path inside the data folder, a URL ({\"href\": ...}) or an upload "
                           "({\"value\": BASE64, \"encoding\": \"base64\"}).")
    source = resolve_reference(reference, policy)
    if is_raster:
        bbox = extent.get("bbox") if isinstance(extent, dict) else None
        if bbox is not None and (not isinstance(bbox, list) or len(bbox) != 4):
            raise RefusedInput("EXTENT: give {\"bbox\": [xmin, ymin, xmax, ymax], \"crs\": ...}.")
        check_raster_size(source, policy, bbox, extent.get("crs") if bbox is not None else None)
    return reference if source.startswith("/vsicurl/") else source


def _job_file(workdir: str, job_id: str, resource: str | None) -> Path | None:
    """The job's file (None: the job folder), or HTTP 404 for anything that is not a plain name in it."""
    try:
        uuid.UUID(job_id)
    except ValueError:
        raise HTTPError(404, reason="No such job") from None
    folder = Path(workdir).resolve() / job_id
    if resource is None or resource == "":
        return None
    if not all(SAFE_NAME.match(part) and part not in (".", "..") for part in resource.split("/")):
        raise HTTPError(404, reason="No such file")
    path = (folder / resource).resolve()
    if not path.is_relative_to(folder):
        raise HTTPError(404, reason="No such file")
    return path


class SafeStoreHandler(StoreHandler):
    """GET /jobs/{id}/files[/{name}]: only files inside the job's own folder (py-qgis-wps 1.10 joins the raw
    URL parts, so an encoded "../" would read any server file)."""

    async def get(self, job_id: str, resource: str | None = None) -> None:
        path = _job_file(self._workdir, job_id, resource)
        if path is not None and path.name != "processing.log":
            record = self.application.wpsservice.get_status(job_id) or {}
            if record.get("status") != "DONE_STATUS":  # a failed, killed or running job may have half a file
                raise HTTPError(404, reason="The job has not succeeded: it has no results to download")
        if path is not None and path.suffix == ".geojson" and not path.exists():
            await asyncio.get_running_loop().run_in_executor(None, _geojson_from_gpkg, path)
        return await super().get(job_id, resource)

    async def put(self, job_id: str, resource: str | None = None) -> None:
        _job_file(self._workdir, job_id, resource)
        return await super().put(job_id, resource)


class SafeLogsHandler(LogsHandler):
    async def get(self, job_id: str) -> None:
        _job_file(self._workdir, job_id, None)
        return await super().get(job_id)


def _geojson_from_gpkg(path: Path) -> None:
    """Writes NAME.geojson (EPSG:4326, RFC 7946) next to the job's NAME.gpkg, whole or not at all."""
    source = path.with_suffix(".gpkg")
    if not source.is_file():
        raise HTTPError(404, reason="No such file")
    partial = path.with_suffix(".geojson.part")
    options = gdal.VectorTranslateOptions(format="GeoJSON", dstSRS="EPSG:4326", layerCreationOptions=["RFC7946=YES"])
    if gdal.VectorTranslate(str(partial), str(source), options=options) is None:
        partial.unlink(missing_ok=True)
        raise HTTPError(500, reason="The GeoJSON could not be written")
    os.replace(partial, path)


class WpsHandler(OWSHandler):
    """/ows/ (WPS 1.0.0): a POST without ?SERVICE=WPS is taken too, as the standard has it (the XML body says
    service="WPS"; OWSLib sends no query string, and py-qgis-wps 1.10 would answer 400). Its layer inputs
    are checked in the workers (adapters.py)."""

    def check_service(self) -> None:
        if self.request.method == "POST" and self.get_argument("SERVICE", None) is None:
            return
        super().check_service()


def guarded_handlers(original=runtime.configure_handlers) -> list:
    """py-qgis-wps's routes with the execution, WPS, file and log handlers replaced by ours."""
    replacements = {ExecuteHandler: GuardedExecuteHandler, StoreHandler: SafeStoreHandler,
                    LogsHandler: SafeLogsHandler, OWSHandler: WpsHandler}
    prune_uploads(Path(confservice.get("building_extractor", "upload_dir")),
                  confservice.getint("server", "response_expiration"))
    return [(route[0], replacements.get(route[1], route[1]), *route[2:]) for route in original()]


def install() -> None:
    """Makes py-qgis-wps's Application build its routes with guarded_handlers."""
    mimetypes.add_type("application/geopackage+sqlite3", ".gpkg")
    mimetypes.add_type("application/geo+json", ".geojson")
    runtime.configure_handlers = guarded_handlers

"""Buildings into one GeoPackage (OGR), written as they come, with a journal that makes a run resumable.

The layer is the one the QGIS algorithms write: named after the file, MultiPolygon, fields ``id`` and the
core record's attributes in order. While a run lasts, everything goes to ``<output>.partial.gpkg``; each
finished partition is committed in one transaction together with the journal (finished partitions, pieces
still waiting for their neighbours), so an interrupted run loses at most the partitions in flight. The file
becomes the output only when the run completes; a run that fails before never leaves a half-written output.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable
from typing import Any

from ..core.errors import OutputError

RUN_TABLE, DONE_TABLE, PIECES_TABLE = "building_extractor_run", "building_extractor_done", "building_extractor_pieces"


def partial_path(output: str) -> str:
    return output + ".partial.gpkg"


def layer_name(output: str) -> str:
    return os.path.splitext(os.path.basename(output))[0]


def record_fields(record_type: type) -> list[str]:
    """Attribute names of a core building record (``Building`` or ``Instance``) in order, without ``wkb``."""
    return [f.name for f in dataclasses.fields(record_type) if f.name != "wkb"]


class GeoPackageWriter:
    """Writes core building records into ``<output>.partial.gpkg``; :meth:`commit` moves it to ``output``."""

    def __init__(self, output: str, crs_wkt: str, record_type: type, fingerprint: str | None = None) -> None:
        from osgeo import gdal, ogr, osr

        gdal.UseExceptions()
        ogr.UseExceptions()
        self.output, self.path = output, partial_path(output)
        self.record_type, self.names = record_type, record_fields(record_type)
        self.fingerprint = fingerprint
        self.done: set[int] = set()
        self.next_id = 1
        self.resumed_pieces: list[dict[str, Any]] = []
        if os.path.exists(self.path) and not self._resumable():
            remove_dataset(self.path)
        try:
            if os.path.exists(self.path):
                self.dataset = ogr.Open(self.path, update=1)
                self.layer = self.dataset.GetLayerByName(layer_name(output))
                self._load_journal()
                return
            self.dataset = ogr.GetDriverByName("GPKG").CreateDataSource(self.path)
            srs = None
            if crs_wkt:
                srs = osr.SpatialReference()
                srs.ImportFromWkt(crs_wkt)
            self.layer = self.dataset.CreateLayer(layer_name(output), srs=srs, geom_type=ogr.wkbMultiPolygon,
                                                  options=["FID=fid", "GEOMETRY_NAME=geom"])
            for name in self.names:
                kind = ogr.OFTInteger if name == "id" else ogr.OFTReal
                self.layer.CreateField(ogr.FieldDefn(name, kind))
            if fingerprint is not None:
                self._create_journal(fingerprint)
        except RuntimeError as exc:
            raise OutputError(f"Cannot write {self.path}: {exc}. Choose a writable folder with free space.") from exc

    def _resumable(self) -> bool:
        """True when the partial file is this run's (same fingerprint) and readable."""
        from osgeo import ogr

        if self.fingerprint is None:
            return False
        try:
            dataset = ogr.Open(self.path)
            table = dataset.GetLayerByName(RUN_TABLE) if dataset else None
            feature = table.GetNextFeature() if table else None
            return feature is not None and feature.GetField("fingerprint") == self.fingerprint
        except RuntimeError:
            return False

    def _create_journal(self, fingerprint: str) -> None:
        from osgeo import ogr

        run = self.dataset.CreateLayer(RUN_TABLE, geom_type=ogr.wkbNone)
        run.CreateField(ogr.FieldDefn("fingerprint", ogr.OFTString))
        feature = ogr.Feature(run.GetLayerDefn())
        feature.SetField("fingerprint", fingerprint)
        run.CreateFeature(feature)
        done = self.dataset.CreateLayer(DONE_TABLE, geom_type=ogr.wkbNone)
        done.CreateField(ogr.FieldDefn("partition", ogr.OFTInteger))
        pieces = self.dataset.CreateLayer(PIECES_TABLE, geom_type=ogr.wkbNone)
        pieces.CreateField(ogr.FieldDefn("piece", ogr.OFTString))  # JSON, see _piece_json

    def _load_journal(self) -> None:
        self.done = {f.GetField("partition") for f in self.dataset.GetLayerByName(DONE_TABLE)}
        self.resumed_pieces = [json.loads(f.GetField("piece")) for f in self.dataset.GetLayerByName(PIECES_TABLE)]
        ids = [f.GetField("id") for f in self.layer]
        self.next_id = (max(ids) if ids else 0) + 1

    def write(self, records: Iterable[Any]) -> int:
        """Add records (numbered from here on); returns how many."""
        from osgeo import ogr

        count = 0
        definition = self.layer.GetLayerDefn()
        for record in records:
            feature = ogr.Feature(definition)
            geometry = ogr.ForceToMultiPolygon(ogr.CreateGeometryFromWkb(record.wkb))
            feature.SetGeometryDirectly(geometry)
            for name in self.names:
                feature.SetField(name, self.next_id if name == "id" else getattr(record, name))
            try:
                self.layer.CreateFeature(feature)
            except RuntimeError as exc:
                raise OutputError(f"Cannot write to {self.path}: {exc}. Free disk space or choose another "
                                  "output folder.") from exc
            self.next_id += 1
            count += 1
        return count

    def begin(self) -> None:
        self.dataset.StartTransaction()

    def finish_partition(self, index: int, pieces_json: list[str]) -> None:
        """Record partition ``index`` done and the journal's pending pieces (replacing the previous list)."""
        from osgeo import ogr

        self.done.add(index)
        if self.fingerprint is None:  # no journal: this run is not resumable
            return
        done = self.dataset.GetLayerByName(DONE_TABLE)
        feature = ogr.Feature(done.GetLayerDefn())
        feature.SetField("partition", int(index))
        done.CreateFeature(feature)
        table = self.dataset.GetLayerByName(PIECES_TABLE)
        self.dataset.ExecuteSQL(f"DELETE FROM {PIECES_TABLE}")
        for text in pieces_json:
            feature = ogr.Feature(table.GetLayerDefn())
            feature.SetField("piece", text)
            table.CreateFeature(feature)

    def end(self) -> None:
        self.dataset.CommitTransaction()

    def commit(self) -> None:
        """Drop the journal, close, and move the file to the output path."""
        if self.fingerprint is not None:
            for name in (RUN_TABLE, DONE_TABLE, PIECES_TABLE):
                for i in range(self.dataset.GetLayerCount()):
                    if self.dataset.GetLayer(i).GetName() == name:
                        self.dataset.DeleteLayer(i)
                        break
        self.dataset = self.layer = None
        if os.path.exists(self.output):
            remove_dataset(self.output)
        os.replace(self.path, self.output)

    def discard(self) -> None:
        """Close and remove the partial file (failed or cancelled runs that cannot resume)."""
        self.dataset = self.layer = None
        remove_dataset(self.path)

    def close(self) -> None:
        """Close, keeping the partial file for a resumed run."""
        self.dataset = self.layer = None


def remove_dataset(path: str) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)


def piece_json(piece: Any) -> str:
    """A journal line for a pending piece (no pickle: plain JSON with hex WKB)."""
    record = dataclasses.asdict(piece.building)
    record["wkb"] = piece.building.wkb.hex()
    return json.dumps({"partition": piece.partition, "building": record, "grid_wkb": piece.grid_wkb.hex(),
                       "window": list(piece.window), "whole": piece.whole, "owned": piece.owned,
                       "waits": sorted(piece.waits)})


def piece_from_json(data: dict[str, Any], record_type: type) -> Any:
    from .partitions import Piece

    record = dict(data["building"])
    record["wkb"] = bytes.fromhex(record["wkb"])
    return Piece(data["partition"], record_type(**record), bytes.fromhex(data["grid_wkb"]), tuple(data["window"]),
                 data["whole"], data["owned"], frozenset(data["waits"]))

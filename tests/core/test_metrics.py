"""Evaluation metrics on hand-made polygons with known answers, and on real labels against themselves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shapely.affinity import translate
from shapely.geometry import Polygon, box

from building_extractor.core.errors import BuildingExtractorError
from building_extractor.core.evaluate.metrics import (
    PolygonSet,
    evaluate,
    evaluate_files,
    parse_thresholds,
    read_polygon_set,
    reproject,
    write_html_report,
    write_json,
)
from building_extractor.core.evaluate.report import Section, Table, render_html

UTM = "EPSG:32636"  # Kampala's UTM zone
X, Y = 453_000.0, 35_000.0
# Two 10 m x 10 m buildings, 10 m apart.
BUILDINGS = [box(X, Y, X + 10, Y + 10), box(X + 20, Y, X + 30, Y + 10)]


def shifted(dx: float) -> list:
    return [translate(b, dx) for b in BUILDINGS]


def test_perfect_match_scores_one():
    result = evaluate(PolygonSet(shifted(0), UTM), PolygonSet(BUILDINGS, UTM))
    assert {k: result.pixel[k] for k in ("accuracy", "iou", "precision", "recall", "f1")} == dict.fromkeys(
        ("accuracy", "iou", "precision", "recall", "f1"), 1.0)
    assert result.building[0.5] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "tp": 2, "fp": 0, "fn": 0}
    assert [(r.status, r.iou, r.match_id) for r in result.predicted] == [("TP", 1.0, 0), ("TP", 1.0, 1)]


def test_small_shift_gives_known_pixel_iou_and_matches():
    # 2 m shift: 80 m2 overlap, 120 m2 union per building; evaluation area = union of bounds = 32 m x 10 m.
    result = evaluate(PolygonSet(shifted(2), UTM), PolygonSet(BUILDINGS, UTM))
    assert result.pixel["iou"] == pytest.approx(80 / 120)
    assert result.pixel["precision"] == pytest.approx(0.8)
    assert result.pixel["accuracy"] == pytest.approx((160 + 80) / 320)
    assert (result.pixel["tp_px"], result.pixel["tn_px"]) == (160 * 16, 80 * 16)  # 16 px per m2 at 0.25 m
    assert result.building[0.5]["f1"] == 1.0
    assert all(r.status == "TP" and r.iou == pytest.approx(2 / 3) for r in result.reference)


def test_large_shift_fails_at_half_but_matches_at_lower_threshold():
    # 6 m shift: IoU 40 / 160 = 0.25.
    result = evaluate(PolygonSet(shifted(6), UTM), PolygonSet(BUILDINGS, UTM), iou_thresholds="0.5, 0.2")
    assert result.pixel["iou"] == pytest.approx(0.25)
    assert result.building[0.5] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "tp": 0, "fp": 2, "fn": 2}
    assert result.building[0.2]["f1"] == 1.0
    assert [(r.status, round(r.iou, 6), r.match_id) for r in result.predicted] == [("FP", 0.25, None)] * 2
    assert {r.status for r in result.reference} == {"FN"}


def test_empty_prediction_scores_zero_without_error():
    result = evaluate(PolygonSet([], UTM), PolygonSet(BUILDINGS, UTM))
    assert result.building[0.5] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "tp": 0, "fp": 0, "fn": 2}
    assert (result.pixel["iou"], result.pixel["recall"], result.pixel["precision"]) == (0.0, 0.0, 0.0)
    assert result.predicted == [] and [r.status for r in result.reference] == ["FN", "FN"]


def test_matching_is_one_to_one_greedy_by_iou():
    reference = [box(X, Y, X + 10, Y + 10)]
    near = box(X + 1, Y, X + 11, Y + 10)  # IoU 90/110
    far = box(X + 2, Y, X + 12, Y + 10)  # IoU 80/120: above 0.5 too, but the reference is taken
    result = evaluate(PolygonSet([far, near], UTM, ids=[7, 8]), PolygonSet(reference, UTM, ids=[3]))
    assert [(r.id, r.status, r.match_id) for r in result.predicted] == [(7, "FP", None), (8, "TP", 3)]
    assert result.reference[0].match_id == 8
    assert result.building[0.5] == {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3),
                                    "tp": 1, "fp": 1, "fn": 0}


def test_geographic_and_web_mercator_give_the_projected_metrics():
    expected = evaluate(PolygonSet(shifted(2), UTM), PolygonSet(BUILDINGS, UTM), iou_thresholds=[0.5, 0.7])
    for crs in ("EPSG:4326", "EPSG:3857"):
        result = evaluate(PolygonSet(reproject(shifted(2), UTM, crs), crs),
                          PolygonSet(reproject(BUILDINGS, UTM, crs), crs), iou_thresholds=[0.5, 0.7])
        assert "32636" in result.crs_wkt or "UTM zone 36N" in result.crs_wkt
        for key in ("iou", "precision", "recall", "f1"):
            assert result.pixel[key] == pytest.approx(expected.pixel[key], abs=0.01), (crs, key)
        assert result.area_m2 == pytest.approx(expected.area_m2, rel=1e-3)
        assert result.building == expected.building
        assert [r.iou for r in result.reference] == pytest.approx([r.iou for r in expected.reference], abs=1e-4)


def test_mixed_crs_layers_are_compared_in_metres():
    predicted = PolygonSet(reproject(shifted(2), UTM, "EPSG:4326"), "EPSG:4326")
    result = evaluate(predicted, PolygonSet(BUILDINGS, UTM))
    assert result.pixel["iou"] == pytest.approx(2 / 3, abs=0.01)
    assert result.building[0.5]["f1"] == 1.0


def test_area_and_extent_restrict_the_evaluation():
    predicted, reference = PolygonSet(shifted(2), UTM), PolygonSet(BUILDINGS, UTM)
    area = PolygonSet([box(X - 5, Y - 5, X + 15, Y + 15)], UTM)  # only the first building
    by_area = evaluate(predicted, reference, area=area)
    assert (len(by_area.predicted), len(by_area.reference)) == (1, 1)
    assert by_area.area_m2 == pytest.approx(400)
    assert by_area.pixel["tp_px"] + by_area.pixel["fp_px"] + by_area.pixel["fn_px"] + by_area.pixel["tn_px"] == 6400
    assert by_area.pixel["fp_px"] == 2 * 10 * 16  # the shifted part that still lies inside the area
    bounds_4326 = reproject([box(X - 5, Y - 5, X + 15, Y + 15)], UTM, "EPSG:4326")[0].bounds
    by_extent = evaluate(predicted, reference, extent=(bounds_4326, "EPSG:4326"))
    assert (len(by_extent.predicted), len(by_extent.reference)) == (1, 1)
    assert by_extent.pixel["iou"] == pytest.approx(by_area.pixel["iou"], abs=0.01)


def test_buildings_crossing_the_area_border_are_scored_on_their_part_inside():
    reference = PolygonSet(BUILDINGS, UTM)
    # The extent cuts the second building at 30 % of its width; the prediction is exactly the part inside.
    predicted = PolygonSet([BUILDINGS[0], box(X + 20, Y, X + 23, Y + 10)], UTM)
    result = evaluate(predicted, reference, extent=((X - 5, Y - 5, X + 23, Y + 15), UTM))
    assert result.building[0.5]["f1"] == 1.0
    assert [r.iou for r in result.reference] == pytest.approx([1.0, 1.0])
    assert result.pixel["iou"] == 1.0


def test_small_blocks_give_the_same_counts():
    predicted, reference = PolygonSet(shifted(3), UTM), PolygonSet(BUILDINGS, UTM)
    whole = evaluate(predicted, reference, block_px=4096).pixel
    assert evaluate(predicted, reference, block_px=7).pixel == whole


def test_invalid_geometries_are_repaired_or_reported():
    bowtie = Polygon([(X, Y), (X + 10, Y + 10), (X + 10, Y), (X, Y + 10)])
    result = evaluate(PolygonSet([bowtie], UTM), PolygonSet(BUILDINGS, UTM))
    assert result.pixel["tp_px"] == 50 * 16  # both triangles of the repaired bow-tie count
    flat = Polygon([(X, Y), (X + 5, Y), (X + 10, Y), (X, Y)])
    with pytest.raises(BuildingExtractorError, match="Feature 4 of the predicted layer.*Fix geometries"):
        evaluate(PolygonSet([flat], UTM, ids=[4], name="predicted"), PolygonSet(BUILDINGS, UTM))


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(BuildingExtractorError, match="reference layer has no building"):
        evaluate(PolygonSet(BUILDINGS, UTM), PolygonSet([], UTM))
    with pytest.raises(BuildingExtractorError, match="do not overlap"):
        evaluate(PolygonSet(BUILDINGS, UTM), PolygonSet(BUILDINGS, UTM),
                 area=PolygonSet([box(X + 1000, Y, X + 1010, Y + 10)], UTM))
    with pytest.raises(BuildingExtractorError, match="do not overlap at all"):
        evaluate(PolygonSet(shifted(5000), UTM), PolygonSet(BUILDINGS, UTM))
    with pytest.raises(BuildingExtractorError, match="IoU thresholds"):
        parse_thresholds("0.5, high")
    with pytest.raises(BuildingExtractorError, match=r"\(0, 1\]"):
        parse_thresholds("1.5")
    assert parse_thresholds("0.5; 0.75 0.5") == [0.5, 0.75]


def test_real_labels_against_themselves(shared_data, tmp_path):
    path = str(shared_data / "kampala" / "buildings.geojson")
    labels = read_polygon_set(path)
    assert len(labels.geometries) > 100
    result = evaluate_files(path, path, iou_thresholds="0.5,0.9")
    assert result.pixel["iou"] == 1.0 and result.pixel["f1"] == 1.0 and result.pixel["tp_px"] > 100_000
    assert result.building[0.5]["f1"] == 1.0 and result.building[0.9]["f1"] == 1.0
    assert result.building[0.5]["tp"] == len(labels.geometries)
    assert "UTM zone 36N" in result.crs_wkt
    data = json.loads(Path(write_json(result, str(tmp_path / "m.json"), {"predicted": path})).read_text())
    assert data["pixel"]["iou"] == 1.0 and data["building"]["0.9"]["f1"] == 1.0
    assert data["inputs"]["predicted"] == path and data["crs"] == "EPSG:32636"
    page = Path(write_html_report(result, str(tmp_path / "r" / "report.html"))).read_text()
    assert page.count("data:image/png;base64,") == 2 and "Building metrics" in page


def test_report_renders_sections_and_escapes_text():
    from matplotlib.figure import Figure

    figure = Figure(figsize=(2, 2))
    figure.add_subplot().plot([0, 1], [1, 0])
    page = render_html("Run <1>", [Section("Scores", {"iou": 0.123456, "n": 12345, "note": "a & b"},
                                           text="first\n\nsecond", tables=[Table(["k", "v"], [["x", 1.5]])],
                                           figures=[figure])])
    assert "<title>Run &lt;1&gt;</title>" in page and "a &amp; b" in page
    assert ">0.1235<" in page and ">12 345<" in page and "<p>second</p>" in page
    assert page.count("data:image/png;base64,") == 1 and "<th>k</th><th>v</th>" in page

"""Property tests (issue 20, "fuzz wider"): every numeric parameter of every algorithm, given any value (NaN, ±Inf,
huge, negative, text, booleans, values just outside its range), is either refused by checkParameterValues with a
message that names it and its allowed range, or accepted; accepted values then run (regularize_buildings,
extract_buildings_unet with the stand-in model) to a valid result or the project's error. Vector inputs of any
geometry (points, lines, empty, invalid, huge vertex counts) go through the regularization core likewise."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from qgis.core import (
    QgsApplication,
    QgsFeature,
    QgsGeometry,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingParameterNumber,
    QgsVectorFileWriter,
    QgsVectorLayer,
)

from tests.processing import test_reliability
from tests.processing.test_reliability import UTM_T, features
from tests.synthetic import scene_with_roofs, write_raster

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies
torch = pytest.importorskip("torch")
loads = test_reliability.loads  # the bright-roof model fixture
ALGORITHMS = ("extract_buildings_unet", "extract_buildings_maskrcnn", "train_model", "evaluate_buildings",
              "regularize_buildings", "building_heights")
VALUES = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 0, -1, 1, 0.5, 2**31, "", "abc", "1e400", "nan",
                     "-0", " 3 ", True, None]),
    st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True))
SETTINGS = dict(deadline=None, derandomize=True, suppress_health_check=list(hypothesis.HealthCheck))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("fuzz_parameters")
    raster = str(write_raster(folder / "roofs.tif", scene_with_roofs(100, 100, [(20, 20, 30, 30)]), "EPSG:32636",
                              UTM_T))
    layer = QgsVectorLayer("Polygon?crs=EPSG:32636", "b", "memory")
    feature = QgsFeature()
    feature.setGeometry(QgsGeometry.fromWkt("POLYGON((500006 99994, 500015 99994, 500015 99985, 500006 99985, "
                                            "500006 99994))"))
    layer.dataProvider().addFeatures([feature])
    vector = str(folder / "b.gpkg")
    QgsVectorFileWriter.writeAsVectorFormat(layer, vector, "utf-8", layer.crs(), "GPKG")
    return {"raster": raster, "vector": vector, "folder": str(folder)}


def base_parameters(algorithm: str, files: dict[str, str]) -> dict:
    raster, vector, out = files["raster"], files["vector"], "TEMPORARY_OUTPUT"
    return {
        "extract_buildings_unet": {"INPUT": raster, "OUTPUT": out},
        "extract_buildings_maskrcnn": {"INPUT": raster, "OUTPUT": out},
        "train_model": {"INPUT": [raster], "FOOTPRINTS": vector,
                        "OUTPUT_MODEL": os.path.join(files["folder"], "m.safetensors")},
        "evaluate_buildings": {"PREDICTED": vector, "REFERENCE": vector, "OUTPUT": out},
        "regularize_buildings": {"INPUT": vector, "OUTPUT": out},
        "building_heights": {"INPUT": vector, "HEIGHTS": raster, "OUTPUT": out},
    }[algorithm]


def numeric_parameters() -> list[tuple[str, str]]:
    registry = QgsApplication.processingRegistry()
    found = []
    for algorithm in ALGORITHMS:
        alg = registry.createAlgorithmById(f"building_extractor:{algorithm}")
        if alg is None:
            continue
        found += [(algorithm, d.name()) for d in alg.parameterDefinitions()
                  if isinstance(d, QgsProcessingParameterNumber)]
    return found


def expected_refusal(definition: QgsProcessingParameterNumber, value) -> bool:
    """Whether ``value`` is no finite number inside the definition's range (then it must be refused)."""
    if value is None or value == "":
        return False  # "use the default"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return True
    return not math.isfinite(number) or not definition.minimum() <= number <= definition.maximum()


@hypothesis.settings(max_examples=150, **SETTINGS)
@hypothesis.given(data=st.data())
def test_every_numeric_parameter_is_refused_with_its_range_or_accepted(provider, inputs, data) -> None:
    targets = numeric_parameters()
    assert len(targets) > 20  # all algorithms registered and parameters found
    algorithm, name = data.draw(st.sampled_from(targets))
    value = data.draw(VALUES)
    alg = QgsApplication.processingRegistry().createAlgorithmById(f"building_extractor:{algorithm}")
    definition = alg.parameterDefinition(name)
    ok, message = alg.checkParameterValues({**base_parameters(algorithm, inputs), name: value},
                                           QgsProcessingContext())
    hypothesis.event(f"{'accepted' if ok else 'refused: ' + message[:40]}")
    if expected_refusal(definition, value):
        assert not ok, (algorithm, name, value)
    if not ok:
        assert "Incorrect parameter value" not in message, message
        if expected_refusal(definition, value):
            assert message.startswith(name) and " must " in message, message  # names it and what is allowed


@hypothesis.settings(max_examples=12, **SETTINGS)
@hypothesis.given(name=st.sampled_from(["TOLERANCE", "MIN_IOU", "MIN_HOLE_AREA"]), value=VALUES)
def test_accepted_regularize_values_run_to_a_valid_layer(provider, inputs, tmp_path, name, value) -> None:
    import processing

    parameters = {"INPUT": inputs["vector"], name: value, "OUTPUT": str(tmp_path / "out.gpkg")}
    alg = QgsApplication.processingRegistry().createAlgorithmById("building_extractor:regularize_buildings")
    if not alg.checkParameterValues(parameters, QgsProcessingContext())[0]:
        return
    try:
        result = processing.run("building_extractor:regularize_buildings", parameters)
    except QgsProcessingException as exc:
        assert str(exc) and "Traceback" not in str(exc)
        return
    assert all(f.geometry().isGeosValid() for f in features(result["OUTPUT"]))


@hypothesis.settings(max_examples=12, **SETTINGS)
@hypothesis.given(name=st.sampled_from(["TILE_SIZE", "OVERLAP", "THRESHOLD", "SPLIT_THRESHOLD", "RESOLUTION",
                                        "MIN_AREA", "SIMPLIFY", "FILL_HOLES", "BATCH_SIZE"]), value=VALUES)
def test_accepted_extraction_values_run_to_buildings_or_our_error(provider, loads, inputs, tmp_path, name,
                                                                  value) -> None:
    import processing

    parameters = {"INPUT": inputs["raster"], "RESOLUTION": 0, name: value, "OUTPUT": str(tmp_path / "out.gpkg")}
    alg = QgsApplication.processingRegistry().createAlgorithmById("building_extractor:extract_buildings_unet")
    if not alg.checkParameterValues(parameters, QgsProcessingContext())[0]:
        return
    try:
        result = processing.run("building_extractor:extract_buildings_unet", parameters)
    except QgsProcessingException as exc:
        assert str(exc) and "Traceback" not in str(exc)
        hypothesis.event("refused in the run")
        return
    hypothesis.event("ran")
    assert all(f.geometry().isGeosValid() for f in features(result["OUTPUT"]))
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]


# Vector inputs ------------------------------------------------------------------------------------------------
@st.composite
def geometries(draw):
    from shapely.geometry import GeometryCollection, LineString, MultiPolygon, Point, Polygon

    kind = draw(st.sampled_from(["box", "noisy", "bowtie", "point", "line", "empty", "multi", "collection",
                                 "sliver", "huge", "none", "duplicate"]))
    x, y = draw(st.floats(-1e3, 1e3)), draw(st.floats(-1e3, 1e3))
    size = draw(st.floats(0.01, 200))
    if kind == "box":
        return Polygon([(x, y), (x + size, y), (x + size, y + size), (x, y + size)])
    if kind in ("noisy", "huge"):
        n = draw(st.integers(5, 300)) if kind == "noisy" else draw(st.integers(2000, 20000))
        angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
        radius = size * (1 + np.random.default_rng(n).normal(0, 0.05, n))
        return Polygon(np.c_[x + radius * np.cos(angles), y + radius * np.sin(angles)])
    if kind == "bowtie":
        return Polygon([(x, y), (x + size, y + size), (x + size, y), (x, y + size)])
    if kind == "point":
        return Point(x, y)
    if kind == "line":
        return LineString([(x, y), (x + size, y + size)])
    if kind == "empty":
        return Polygon()
    if kind == "multi":
        return MultiPolygon([Polygon([(x, y), (x + size, y), (x, y + size)]),
                             Polygon([(x + 2 * size, y), (x + 3 * size, y), (x + 2 * size, y + size)])])
    if kind == "collection":
        return GeometryCollection([Point(x, y), Polygon([(x, y), (x + size, y), (x, y + size)])])
    if kind == "sliver":
        return Polygon([(x, y), (x + size, y), (x + size, y + 1e-9)])
    if kind == "duplicate":
        return Polygon([(0, 0), (10, 0), (10, 10), (0, 10)])
    return None


@hypothesis.settings(max_examples=30, **SETTINGS)
@hypothesis.given(shapes=st.lists(geometries(), min_size=1, max_size=6),
                  mode=st.sampled_from(["right_angles", "right_angles_diagonals", "any_angle", "circle"]))
def test_any_vector_input_regularizes_to_valid_polygons(shapes, mode) -> None:
    from building_extractor.core.errors import BuildingExtractorError
    from building_extractor.core.vector.regularize import RegularizeOptions, regularize_buildings

    try:
        results = regularize_buildings(shapes, RegularizeOptions(mode=mode))
    except BuildingExtractorError as exc:
        assert str(exc)
        return
    assert len(results) == len(shapes)
    for shape, result in zip(shapes, results):
        if result is None:
            continue
        assert result.geometry.is_valid and not result.geometry.is_empty
        assert result.geometry.geom_type in ("Polygon", "MultiPolygon")
        assert 0 <= result.iou <= 1 + 1e-9
        assert shape is not None and not shape.is_empty

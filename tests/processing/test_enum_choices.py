"""Drop-down choices: labels the dialog can translate, values that scripts, saved models and batch files keep.

Words (REGULARIZE, TTA, NORMALIZE, MODE, ROOF, ARCHITECTURE, ENCODER, LOSS) are index enums with translated
labels, as in QGIS's own algorithms; each option also keeps a name (REGULARIZE=right_angles) that every path
accepts. DEVICE and BACKEND hold technical names (cpu, cuda, onnxruntime) and stay static strings.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from qgis.core import QgsProcessingException

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "banepa_sample.tif"

NAMED = {"extract_buildings_unet": ("REGULARIZE", "TTA", "NORMALIZE"),
         "regularize_buildings": ("MODE",), "building_heights": ("ROOF",),
         "train_model": ("ARCHITECTURE", "ENCODER", "LOSS")}


def _algorithm(algorithm_id: str):
    from qgis.core import QgsApplication

    return QgsApplication.processingRegistry().createAlgorithmById(f"building_extractor:{algorithm_id}")


def test_word_choices_are_translatable_labels_and_technical_ones_stay_names(provider):
    from building_extractor.processing.base_algorithm import option_names

    for algorithm_id, names in NAMED.items():
        algorithm = _algorithm(algorithm_id)
        for name in names:
            definition = algorithm.parameterDefinition(name)
            assert not definition.usesStaticStrings(), name
            assert len(option_names(definition)) == len(definition.options()) > 1, name
    unet = _algorithm("extract_buildings_unet")
    assert unet.parameterDefinition("REGULARIZE").options()[1] == "Right angles"
    assert option_names(unet.parameterDefinition("REGULARIZE")) == ["none", "right_angles", "right_angles_diagonals",
                                                                    "any_angle", "circle"]
    for technical in ("DEVICE", "BACKEND"):
        assert unet.parameterDefinition(technical).usesStaticStrings()
        assert "auto" in unet.parameterDefinition(technical).options()


@pytest.mark.parametrize("value", ["right_angles", 1, "1"])
def test_regularize_reaches_the_core_by_name_or_index(provider, tmp_path, monkeypatch, value):
    """REGULARIZE was a static-string enum: qgis_process --REGULARIZE=right_angles and the API pass the name;
    the dialog, new models and batch files pass the index. Both reach the core as the same mode, so do TTA and
    NORMALIZE by name."""
    import processing

    from building_extractor.processing import extract_buildings_unet

    seen = []

    def stop(raster, options, *rest):
        seen.append((options.post.regularize, options.tta, options.normalize))
        raise QgsProcessingException("stopped after the options")

    monkeypatch.setattr(extract_buildings_unet, "extract_buildings", stop)
    with pytest.raises(QgsProcessingException, match="stopped after the options"):
        processing.run("building_extractor:extract_buildings_unet",
                       {"INPUT": str(SAMPLE), "REGULARIZE": value, "TTA": "flips", "NORMALIZE": "match",
                        "DEVICE": "cpu", "OUTPUT": str(tmp_path / "x.gpkg")})
    assert seen == [("right_angles", "flips", "match")]


def test_an_unknown_name_is_refused_with_the_names(provider, tmp_path):
    import processing

    with pytest.raises(QgsProcessingException) as raised:
        processing.run("building_extractor:extract_buildings_unet",
                       {"INPUT": str(SAMPLE), "REGULARIZE": "square", "OUTPUT": str(tmp_path / "x.gpkg")})
    message = str(raised.value)
    assert "REGULARIZE must be one of none, right_angles" in message and "square" in message, message


def _square_layer():
    from qgis.core import QgsFeature, QgsGeometry, QgsVectorLayer

    layer = QgsVectorLayer("Polygon?crs=EPSG:32636", "squares", "memory")
    feature = QgsFeature(layer.fields())
    feature.setGeometry(QgsGeometry.fromWkt("POLYGON((0 0, 10 0.4, 10.2 10, 0.3 9.8, 5 5.1, 0 0))"))
    layer.dataProvider().addFeatures([feature])
    return layer


def test_a_graphical_model_with_an_option_name_runs(provider, tmp_path):
    """A .model3 child runs through prepare and processAlgorithm only (no checkParameterValues): a name saved in
    it (MODE=circle) still picks that option, the same shape as its index (3)."""
    import processing
    from qgis.core import (
        QgsProcessingModelAlgorithm,
        QgsProcessingModelChildAlgorithm,
        QgsProcessingModelChildParameterSource,
        QgsProcessingModelOutput,
        QgsProject,
        QgsVectorLayer,
    )

    layer = _square_layer()
    QgsProject.instance().addMapLayer(layer)
    try:
        areas = {}
        for mode in ("circle", 3, "right_angles"):
            model = QgsProcessingModelAlgorithm("m", "g")
            child = QgsProcessingModelChildAlgorithm("building_extractor:regularize_buildings")
            child.setChildId("regularize")
            child.addParameterSources("INPUT", [QgsProcessingModelChildParameterSource.fromStaticValue(layer.id())])
            child.addParameterSources("MODE", [QgsProcessingModelChildParameterSource.fromStaticValue(mode)])
            child.setModelOutputs({"out": QgsProcessingModelOutput("out", "regularize:OUTPUT")})
            child.modelOutput("out").setChildOutputName("OUTPUT")
            model.addChildAlgorithm(child)
            path = str(tmp_path / f"{mode}.model3")
            assert model.toFile(path)
            loaded = QgsProcessingModelAlgorithm()
            assert loaded.fromFile(path)
            output = str(tmp_path / f"{mode}.gpkg")
            # the model's output parameter is named "regularize:out" by QGIS 3.22, otherwise by 3.40: ask the model
            [destination] = loaded.destinationParameterDefinitions()
            processing.run(loaded, {destination.name(): output})
            [feature] = QgsVectorLayer(output, "out", "ogr").getFeatures()
            areas[mode] = (feature.geometry().area(), sum(1 for _ in feature.geometry().vertices()))
        assert areas["circle"] == areas[3]  # the same option, by name or index
        assert areas["circle"] != areas["right_angles"]  # and not the default option
    finally:
        QgsProject.instance().removeMapLayer(layer.id())

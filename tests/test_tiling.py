"""Native-scale tiled segmentation (zoo.data.tiling) and test-time augmentation in the runtime and predict."""

import json

import numpy as np
import pytest

from zoo.data.tiling import blend_window, cap_tile, predict_tiled, tile_origins
from zoo.tasks.segmentation.runtime import native_tile


def _pointwise(tiles: np.ndarray) -> np.ndarray:
    """A stand-in network whose answer at a pixel depends on that pixel only: tiling cannot change it."""
    x = tiles.astype(np.float32) / 255
    scores = np.stack([x[..., 0], x[..., 1], 1 - x[..., 0]], -1) * 4
    e = np.exp(scores - scores.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("shape", [(64, 64, 3), (50, 70, 3), (300, 257, 3), (20, 5, 3), (64, 200, 3)])
def test_tiles_blend_back_to_the_untiled_answer(shape):
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    mask, probs = predict_tiled(_pointwise, image, (64, 64), overlap=0.25, batch_size=3, probabilities="float32")
    want = _pointwise(image[None])[0]
    assert mask.shape == shape[:2] and probs.shape == shape[:2] + (3,)
    np.testing.assert_allclose(probs, want, atol=1e-6)
    np.testing.assert_array_equal(mask, want.argmax(-1))
    compact, small = predict_tiled(_pointwise, image, (64, 64), overlap=16, probabilities="uint8")
    assert small.dtype == np.uint8 and np.abs(small.astype(int) - np.round(want * 255)).max() <= 1


def test_a_tiled_repeated_pattern_shows_no_seam():
    """A network that errs near its tile's edges (as zero padding makes real ones do): blended, the
    errors at the edges are weighted out; stitched without overlap they leave a seam every tile."""

    def edgy(tiles):
        h, w = tiles.shape[1:3]
        yy, xx = np.mgrid[0:h, 0:w]
        edge = np.minimum(np.minimum(yy, h - 1 - yy), np.minimum(xx, w - 1 - xx))
        probs = _pointwise(tiles)
        probs[..., 0] += 0.5 * np.exp(-edge / 3.0)
        return probs / probs.sum(-1, keepdims=True)

    for axis in (0, 1):  # stripes across the axis along which seams are looked for
        stripes = np.zeros((160, 400, 3), np.uint8)
        stripes[:, ::8] = 200  # a pattern repeated every 8 px: constant down each column
        if axis == 1:
            stripes = np.ascontiguousarray(stripes.transpose(1, 0, 2))
        _, blended = predict_tiled(edgy, stripes, (64, 64), overlap=0.25, probabilities="float32")
        _, stitched = predict_tiled(edgy, stripes, (64, 64), overlap=0, probabilities="float32")
        want = _pointwise(stripes[None])[0]
        inner = (slice(8, -8), slice(8, -8))  # the picture's own edges: one tile only, nothing to blend
        jump = {
            name: np.abs(np.diff((found - want)[inner], axis=axis)).max()  # a seam: an abrupt change
            for name, found in (("blended", blended), ("stitched", stitched))
        }
        assert jump["stitched"] > 0.1  # the stand-in's edge errors meet at every tile border
        assert jump["blended"] < 0.02  # blended, they fade in and out
        assert np.abs(blended - want)[inner].max() < 0.25 * np.abs(stitched - want)[inner].max()
    assert tile_origins(400, 64, 48)[-1] == 400 - 64 and tile_origins(50, 64, 48) == [0]


def test_blend_window_ramps_only_at_shared_edges_and_overlap_is_checked():
    window = blend_window((8, 8), (2, 2), (False, True, True, False))
    assert window[0, 7] == 1.0 and window[7, 7] < 0.2 and window[0, 0] < 0.2 and window.min() > 0
    with pytest.raises(ValueError, match="overlap 40 gives .* use 0 to half a tile"):
        predict_tiled(_pointwise, np.zeros((10, 10, 3), np.uint8), (64, 64), overlap=40)


def _positional(tiles: np.ndarray) -> np.ndarray:
    """A stand-in network whose answer depends on where a pixel lies in its tile, as a real one's does near
    the tile's edges: the blend decides the result."""
    x = tiles.astype(np.float32) / 255
    h, w = tiles.shape[1:3]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    scores = np.stack([x[..., 0] + yy / h, x[..., 1] + xx / w, 1 - x[..., 0]], -1) * 3
    e = np.exp(scores - scores.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _tile_by_tile(run, image, tile, share):
    """The blend as first written: one tile per call, every window built again, full-size sums."""
    from zoo.data.tiling import _pad_to

    (th, tw), (height, width) = tile, image.shape[:2]
    padded = _pad_to(image, tile)
    ys = tile_origins(padded.shape[0], th, th - share[0])
    xs = tile_origins(padded.shape[1], tw, tw - share[1])
    acc = np.zeros((*padded.shape[:2], 3), np.float32)
    weight = np.zeros(padded.shape[:2], np.float32)
    for row, y in enumerate(ys):
        for x in xs:
            window = blend_window(tile, share, (row > 0, row < len(ys) - 1, x > 0, x < xs[-1]))
            acc[y : y + th, x : x + tw] += run(padded[None, y : y + th, x : x + tw])[0] * window[..., None]
            weight[y : y + th, x : x + tw] += window
    return (acc / weight[..., None])[:height, :width]


@pytest.mark.parametrize("shape", [(96, 96, 3), (50, 70, 3), (90, 33, 3)])
def test_batched_tiles_blend_as_the_tile_by_tile_loop_and_fill_a_pixel_budget(shape):
    image = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    want = _tile_by_tile(_positional, image, (32, 32), (8, 8))
    calls = []

    def counted(tiles):
        calls.append(tiles.shape)
        return _positional(tiles)

    for options in ({}, {"batch_size": 1}, {"batch_size": 5}, {"call_pixels": 7 * 32 * 32}):
        calls.clear()
        mask, probs = predict_tiled(counted, image, (32, 32), overlap=0.25, probabilities="float32", **options)
        np.testing.assert_allclose(probs, want, atol=1e-6)
        np.testing.assert_array_equal(mask, want.argmax(-1))
        np.testing.assert_array_equal(predict_tiled(counted, image, (32, 32), overlap=0.25, **options)[0], mask)
        tiles = sum(c[0] for c in calls) // 2
        per_call = options.get("batch_size") or options.get("call_pixels", 4 * 512 * 512) // (32 * 32)
        assert tiles == len(tile_origins(max(shape[0], 32), 32, 24)) * len(tile_origins(max(shape[1], 32), 32, 24))
        assert len(calls) == 2 * -(-tiles // per_call)  # full calls across rows of tiles: 1M px by default


def test_a_huge_tile_on_a_small_picture_is_one_tile_of_the_picture():
    """A network that takes any size: the tile is capped at the picture rounded up to the divisor, not
    the picture padded to the tile (a 100000 px tile once asked 27.9 GiB for a 50x70 picture)."""
    import tracemalloc

    image = np.random.default_rng(2).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    seen = []

    def network(tiles):
        seen.append(tiles.shape)
        return _positional(tiles)

    one_tile = _positional(np.pad(image, ((0, 14), (0, 26), (0, 0)), mode="reflect")[None])[0, :50, :70]
    for tile in (2048, 100_000, (4096, 100_000)):
        seen.clear()
        tracemalloc.start()
        mask, probs = predict_tiled(network, image, tile, overlap=0.25, probabilities="float32", multiple=32)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert seen == [(1, 64, 96, 3)] and peak < 2e6, (tile, seen, peak)
        np.testing.assert_allclose(probs, one_tile, atol=1e-6)
        np.testing.assert_array_equal(mask, one_tile.argmax(-1))
    assert cap_tile((512, 100_000), (3000, 70), 32) == (512, 96)


def _fake_export(native: bool, input_size=(64, 64)):
    """A segmentation ``Predictor`` whose network is ``_positional``: with a ``native`` signature (as a
    SavedModel) or only a training-size one (as LiteRT and ONNX); ``seen`` lists the tile shapes run."""
    from zoo.export.runtime import Predictor
    from zoo.tasks.info import ExportInfo

    info = ExportInfo.from_json(
        {
            "format": "saved_model" if native else "litert",
            "file": "." if native else "model.tflite",
            "task": "segmentation",
            "model": "unet",
            "backbone": "vgg16",
            "input_size": list(input_size),
            "channels": 3,
            "classes": ["a", "b", "c"],
            "scale": "native",
            "signatures": ["serving_default", "native"] if native else [],
        }
    )
    seen = []

    def answer(images):
        seen.append(images.shape)
        probs = _positional(images)
        return {"probabilities": probs, "mask": probs.argmax(-1).astype(np.int32)}

    def serve(images):
        assert images.shape[1:3] == tuple(input_size), "serving_default resizes: tiles must be the training size"
        return answer(images)

    if native:
        serve.native = answer
    return Predictor(path=None, info=info, run=serve), seen


def test_the_default_native_tile_is_the_training_size_raised_to_512_where_the_network_takes_any_size():
    saved, seen = _fake_export(native=True)
    fixed, seen_fixed = _fake_export(native=False)
    assert native_tile(saved.info) == (512, 512) and native_tile(fixed.info) == (64, 64)
    assert native_tile(_fake_export(True, (96, 600))[0].info) == (512, 608)  # rounded up to the divisor, 32
    assert native_tile(saved.info, any_size=False) == (64, 64)
    image = np.random.default_rng(3).integers(0, 256, (1, 600, 700, 3), dtype=np.uint8)
    by_default = saved(image, scale="native", probabilities=None)["mask"]
    default_tiles = list(seen)
    seen.clear()
    at_512 = saved(image, scale="native", tile=512, probabilities=None)["mask"]
    assert default_tiles == seen == [(4, 512, 512, 3)]  # 2x2 tiles of 512 in one call: as fast as tile=512
    np.testing.assert_array_equal(by_default, at_512)
    small = saved(image[:, :70, :90], scale="native", probabilities=None)["mask"]  # capped: the picture, one tile
    assert seen[-1] == (1, 70, 90, 3) and small.shape == (1, 70, 90)  # the network pads to its stride inside
    fixed(image[:, :96, :96], scale="native", probabilities=None)  # a fixed signature: training-size tiles
    assert seen_fixed == [(4, 64, 64, 3)]
    with pytest.raises(ValueError, match="runs tiles of its training size 64x64 only"):
        fixed(image, scale="native", tile=512)


@pytest.mark.parametrize(
    "tile, overlap, message",
    [
        (0, 0.25, "tile 0: use a positive whole number of pixels"),
        (-64, 0.25, "tile -64: use a positive whole number of pixels"),
        ((64, 0), 0.25, r"tile \(64, 0\): use a positive whole number of pixels"),
        (64.5, 0.25, "tile 64.5: use a positive whole number of pixels"),
        (64, float("nan"), "overlap nan: use a fraction of a tile from 0 to 0.5"),
        (64, -0.5, "overlap -0.5: use a fraction of a tile from 0 to 0.5"),
        (64, -8, "overlap -8: use a fraction of a tile from 0 to 0.5"),
        (64, 0.75, "overlap 0.75: use a fraction of a tile from 0 to 0.5"),
        (64, 40, "overlap 40 gives 40 px on tiles of 64x64: use 0 to half a tile"),
        (64, 12.5, "overlap 12.5: .* or whole pixels up to half a tile"),
    ],
)
def test_bad_tiles_and_overlaps_are_refused_naming_the_value(tile, overlap, message):
    image = np.zeros((1, 40, 50, 3), np.uint8)
    with pytest.raises(ValueError, match=message):
        predict_tiled(_pointwise, image[0], tile, overlap)
    saved, seen = _fake_export(native=True)
    with pytest.raises(ValueError, match=message):
        saved(image, scale="native", tile=tile, overlap=overlap)
    if message.startswith("overlap") and "gives" not in message:  # wrong whatever the tile: the default too
        with pytest.raises(ValueError, match=message):
            saved(image, scale="native", overlap=overlap)
    assert seen == []  # refused before any tile ran


@pytest.fixture(scope="module")
def keras_export(tmp_path_factory):
    """A U-Net (random weights, sizes unknown) exported as .keras at a 64x64 training size, and the network."""
    import keras

    import zoo
    from zoo.export import export_model

    keras.utils.set_random_seed(1)
    model = zoo.unet(
        "mobilenetv2",
        num_classes=3,
        input_shape=(None, None, 3),
        encoder_weights=None,
        decoder_filters=(32, 16, 16, 8, 8),
    )
    info = {
        "model": "unet",
        "backbone": "mobilenetv2",
        "input_size": [64, 64],
        "channels": 3,
        "task": "segmentation",
        "classes": ["a", "b", "c"],
    }
    return export_model(model, info, "keras", tmp_path_factory.mktemp("export")), model


def test_native_tiles_of_a_real_network_agree_with_the_whole_picture_away_from_its_edges(keras_export):
    import keras

    from zoo.export import load
    from zoo.models.backbones import preprocess_input

    path, model = keras_export
    yy, xx = np.mgrid[0:128, 0:192]
    image = np.stack([(yy * 3 + xx) % 256, (xx * 5) % 256, ((yy // 16 + xx // 16) % 2) * 255], -1).astype(np.uint8)
    whole = np.asarray(keras.ops.softmax(model(preprocess_input(image[None].astype("float32"), "mobilenetv2"))))[0]
    predictor = load(path)
    tiled = predictor(image[None], scale="native", overlap=0.5)
    resized = predictor(image[None], scale="resize")
    assert tiled["mask"].shape == (1, 128, 192) and tiled["probabilities"].shape == (1, 128, 192, 3)
    inner = (slice(16, -16), slice(16, -16))
    gap_native = np.abs(tiled["probabilities"][0] - whole)[inner].mean()
    gap_resize = np.abs(resized["probabilities"][0] - whole)[inner].mean()
    assert gap_native < 0.25 * gap_resize, (gap_native, gap_resize)  # native tiles see the picture's own scale
    one_tile = predictor(image[None, :64, :64], scale="native")
    np.testing.assert_allclose(
        one_tile["probabilities"], predictor(image[None, :64, :64])["probabilities"], atol=1e-5
    )  # a picture that fits in one tile: exactly the export's answer
    with pytest.raises(ValueError, match="runs tiles of its training size 64x64 only"):
        predictor(image[None], scale="native", tile=128)


@pytest.mark.parametrize("tta", ["flip", pytest.param("flip+scales:0.75,1,1.25", marks=pytest.mark.slow)])
def test_flip_tta_answers_a_mirrored_picture_with_the_mirrored_answer(keras_export, tta):
    from zoo.export import load

    predictor = load(keras_export[0])
    image = np.random.default_rng(4).integers(0, 256, (2, 64, 96, 3), dtype=np.uint8)
    for scale in ("resize", "native"):
        plain = predictor(image, scale=scale, tta=tta)["probabilities"]
        mirrored = predictor(np.ascontiguousarray(image[:, :, ::-1]), scale=scale, tta=tta)["probabilities"]
        assert plain.shape == (2, 64, 96, 3)
        np.testing.assert_allclose(plain.sum(-1), 1, atol=1e-4)  # a mean of probabilities
        np.testing.assert_allclose(mirrored[:, :, ::-1], plain, atol=1e-5)
    assert np.abs(predictor(image, tta=tta)["probabilities"] - predictor(image)["probabilities"]).max() > 1e-5


def test_tta_modes_are_parsed_and_the_numpy_resize_matches_the_exports():
    import tensorflow as tf

    from zoo.data.resize import resize_antialiased
    from zoo.data.tta import TTA, parse_tta, resize

    assert parse_tta("scales:1.25,0.75,1+flip") == TTA(True, (0.75, 1.0, 1.25)) and parse_tta("none") is None
    assert str(parse_tta("flip+scales:0.5,1")) == "flip+scales:0.5,1" and parse_tta("scales:1") is None
    for bad, why in (
        ("flop", "'flop' is not a TTA part"),
        ("scales:0,1", "distinct factors in"),
        ("scales:x", "not a list of numbers"),
    ):
        with pytest.raises(ValueError, match=why):
            parse_tta(bad)
    x = np.random.default_rng(0).random((2, 37, 53, 3)).astype(np.float32) * 255
    for size in ((20, 31), (64, 80)):  # shrinking (antialiased) and growing
        np.testing.assert_allclose(resize(x, size), resize_antialiased(tf.constant(x), size).numpy(), atol=2e-3)


@pytest.mark.slow
@pytest.mark.parametrize("tta", ["flip", pytest.param("scales:1.5,1+flip", marks=pytest.mark.slow)])
def test_tta_baked_into_a_saved_model_answers_as_the_runtime_does(keras_export, tmp_path, tta):
    from zoo.data.tta import parse_tta
    from zoo.export import export_model, load

    path, model = keras_export
    info = {
        "model": "unet",
        "backbone": "mobilenetv2",
        "input_size": [64, 64],
        "channels": 3,
        "task": "segmentation",
        "classes": ["a", "b", "c"],
    }
    baked = load(export_model(model, info, "saved_model", tmp_path / "baked", tta=tta))
    mode = str(parse_tta(tta))
    assert baked.info.tta == mode
    image = np.random.default_rng(8).integers(0, 256, (1, 80, 100, 3), dtype=np.uint8)
    runtime = load(path)
    np.testing.assert_allclose(baked(image)["probabilities"], runtime(image, tta=mode)["probabilities"], atol=1e-3)
    plain = load(export_model(model, info, "saved_model", tmp_path / "plain"))  # a native signature takes any tile
    np.testing.assert_allclose(
        baked.run.native(image)["probabilities"],  # the native signature: the same views
        plain(image, scale="native", tile=(80, 100), tta=mode)["probabilities"],
        atol=1e-3,
    )
    with pytest.raises(ValueError, match="averages test-time augmentation .* inside already"):
        baked(image, tta="flip")
    with pytest.raises(ValueError, match="keypoints export takes flip only"):
        export_model(
            model,
            {**info, "task": "keypoints", "keypoint_names": ["a"], "flip_index": [0], "heatmap_stride": 4},
            "keras",
            tmp_path / "k",
            tta="scales:1,2",
        )


def test_predict_writes_native_masks_and_compact_probabilities(keras_export, tmp_path):
    from PIL import Image

    from zoo.predict import predict_files

    folder = tmp_path / "pictures"
    folder.mkdir()
    Image.fromarray(np.random.default_rng(5).integers(0, 256, (150, 230, 3), dtype=np.uint8)).save(folder / "big.png")
    summary = predict_files(
        keras_export[0],
        [folder],
        tmp_path / "out",
        scale="native",
        tta="flip",
        save_probabilities="uint8",
        progress=False,
    )
    assert not summary.skipped
    mask = np.asarray(Image.open(tmp_path / "out" / "big_mask.png"))
    probs = np.load(tmp_path / "out" / "big_probabilities.npy")
    assert mask.shape == (150, 230) and probs.shape == (150, 230, 3) and probs.dtype == np.uint8
    report = json.loads((tmp_path / "out" / "predictions.json").read_text())
    assert report["images"][0]["probabilities"] == "big_probabilities.npy"


@pytest.mark.slow
def test_the_saved_model_native_signature_runs_the_network_at_the_pictures_own_scale(tmp_path):
    """A run's network is built at its training size; the export's ``native`` signature runs an any-size
    copy with the same weights, padding to the divisor inside, and the runtime tiles with it at any tile."""
    import keras
    import tensorflow as tf

    import zoo
    from zoo.export import export_model, load
    from zoo.models.backbones import preprocess_input

    keras.utils.set_random_seed(2)
    model = zoo.unet(
        "mobilenetv2", num_classes=3, input_shape=(64, 64, 3), encoder_weights=None, decoder_filters=(32, 16, 16, 8, 8)
    )
    info = {
        "model": "unet",
        "backbone": "mobilenetv2",
        "input_size": [64, 64],
        "channels": 3,
        "task": "segmentation",
        "classes": ["a", "b", "c"],
    }
    path = export_model(model, info, "saved_model", tmp_path / "export")
    assert json.loads((path / "model.json").read_text())["signatures"] == ["serving_default", "native"]
    image = np.random.default_rng(6).integers(0, 256, (1, 96, 160, 3), dtype=np.uint8)
    whole = zoo.unet(
        "mobilenetv2",
        num_classes=3,
        input_shape=(None, None, 3),
        encoder_weights=None,
        decoder_filters=(32, 16, 16, 8, 8),
    )
    whole.set_weights(model.get_weights())
    want = np.asarray(keras.ops.softmax(whole(preprocess_input(image.astype("float32"), "mobilenetv2"))))
    native = tf.saved_model.load(str(path)).signatures["native"]
    got = native(images=tf.constant(image))
    np.testing.assert_allclose(got["probabilities"].numpy(), want, atol=1e-5)
    odd = native(images=tf.constant(image[:, :75, :101]))  # padded to 96x128 inside, cropped back
    assert odd["mask"].shape == (1, 75, 101) and odd["probabilities"].shape == (1, 75, 101, 3)
    predictor = load(path)
    assert native_tile(predictor.info) == (512, 512)  # the native signature takes any size: 512 px, for speed
    tiled = predictor(image, scale="native", tile=64, overlap=0.25)
    big_tile = predictor(image, scale="native", tile=(96, 160))  # one tile: the whole picture at its scale
    np.testing.assert_allclose(big_tile["probabilities"], want, atol=1e-5)
    assert (tiled["mask"] == want.argmax(-1)).mean() > 0.5


def test_crop_training_pipeline_keeps_the_pictures_scale_and_pads_with_the_ignore_index():
    import tensorflow as tf

    from zoo.tasks.segmentation.labels import label_table
    from zoo.tasks.segmentation.pipeline import segmentation_pipeline

    rng = np.random.default_rng(7)
    pictures = [
        (rng.integers(0, 256, (100, 150, 3), dtype=np.uint8), rng.integers(0, 2, (100, 150, 1), np.uint8)),
        (rng.integers(0, 256, (40, 50, 3), dtype=np.uint8), rng.integers(0, 2, (40, 50, 1), np.uint8)),
    ]
    raw = tf.data.Dataset.from_generator(
        lambda: iter(pictures),
        output_signature=(tf.TensorSpec([None, None, 3], tf.uint8), tf.TensorSpec([None, None, 1], tf.uint8)),
    )
    options = dict(
        table=label_table(2),
        input_size=(64, 64),
        channels=3,
        batch_size=2,
        backbone="vgg16",
        crop=True,
        ignore_index=255,
        num_examples=2,
        preprocess=False,
    )
    train = segmentation_pipeline(raw, training=True, repeat=True, scale_jitter=(0.5, 1.5), **options)
    for images, masks in train.take(4):
        assert images.shape == (2, 64, 64, 3) and masks.shape == (2, 64, 64, 1)
        assert set(np.unique(masks.numpy())) <= {0, 1, 255}
    tiles = list(segmentation_pipeline(raw, training=False, **options).unbatch())
    assert len(tiles) == 2 * 3 + 1  # 100x150: 2 rows of 3 tiles; 40x50: one tile
    first_image, first_mask = tiles[0]
    np.testing.assert_array_equal(first_image.numpy(), pictures[0][0][:64, :64])  # at the picture's own scale
    last_mask = tiles[-1][1].numpy()[..., 0]
    np.testing.assert_array_equal(last_mask[:40, :50], pictures[1][1][..., 0])
    assert (last_mask[40:] == 255).all() and (last_mask[:, 50:] == 255).all()  # padding is ignored


@pytest.mark.slow
def test_a_run_trained_on_crops_predicts_at_native_scale_by_default(tmp_path, capsys):
    from helpers import write_gray_folder
    from PIL import Image

    from recipes import segment
    from zoo.export import load
    from zoo.predict import predict_files

    write_gray_folder(tmp_path / "data", count=8, size=(80, 120))
    run = tmp_path / "run"
    assert (
        segment.main(
            [
                "--dataset",
                f"folder:{tmp_path / 'data'}",
                "--binary-masks",
                "--train-crop",
                "--scale-jitter",
                "0.8,1.2",
                "--input-size",
                "32",
                "--encoder-weights",
                "none",
                "--schedule",
                "all:1@1e-3",
                "--batch-size",
                "4",
                "--steps-per-epoch",
                "2",
                "--val-fraction",
                "0.25",
                "--out",
                str(run),
                "--verbose",
                "0",
                "--eval-tta",
                "flip",
            ]
        )
        == 0
    )
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["tta"]["mode"] == "flip" and 0 <= metrics["tta"]["mean_iou"] <= 1
    assert "with test-time augmentation flip: mIoU" in capsys.readouterr().out
    info = json.loads((run / "export" / "model.json").read_text())
    assert info["scale"] == "native" and json.loads((run / "config.json").read_text())["settings"]["train_crop"]
    picture = np.asarray(Image.open(next((tmp_path / "data" / "images").glob("*.png"))).convert("L"))[..., None]
    predictor = load(run / "export")
    assert predictor(picture[None])["mask"].shape == (1, *picture.shape[:2])
    summary = predict_files(run / "export", [tmp_path / "data" / "images"], tmp_path / "out", progress=False)
    assert len(summary.written) == 8 and not summary.skipped
    assert segment.cli(["--scale-jitter", "0.8,1.2", "--out", str(tmp_path / "x")]) == 2
    assert "--scale-jitter rescales the pictures crops are taken from: add --train-crop" in capsys.readouterr().err
    assert segment.cli(["--eval-tta", "flop", "--out", str(tmp_path / "x")]) == 2
    assert "--eval-tta 'flop': 'flop' is not a TTA part" in capsys.readouterr().err


def test_scenes_keep_their_objects_size_whatever_the_scenes_size():
    from zoo.tasks.segmentation.sources import SCENE_FACTOR, synthetic_scenes
    from zoo.tasks.segmentation.synthetic import make_scenes

    small, small_masks = make_scenes(2, 64, 96, seed=3)
    large, large_masks = make_scenes(2, 256, 384, seed=3)
    assert large.shape == (2, 256, 384, 3) and large_masks.shape == (2, 256, 384, 1)
    np.testing.assert_array_equal(make_scenes(2, 64, 96, seed=3)[1], small_masks)  # seeded
    for masks in (small_masks, large_masks):  # the same share of object pixels: objects do not grow with the scene
        assert 0.08 < (masks > 0).mean() < 0.3
    assert set(np.unique(large_masks)) == {0, 1, 2, 3}
    gray, _ = make_scenes(1, 64, 64, channels=1)
    assert gray.shape == (1, 64, 64, 1)
    source = synthetic_scenes(64, (32, 48), 3, seed=0, val_fraction=0.25)  # the pixels of 64 pictures of 32x48
    assert (source.num_train, source.num_val) == (3, 1)
    image, mask = next(iter(source.train))
    assert image.shape == (32 * SCENE_FACTOR, 48 * SCENE_FACTOR, 3) and "synthetic:scenes" in source.description


@pytest.mark.slow
def test_crop_training_predicts_held_out_scenes_natively_about_as_well_as_it_validates(tmp_path):
    """Trained on 64 px crops of synthetic scenes (objects 6-14 px in radius), the export answers held-out
    scenes of another size at native scale within a few points of its per-crop validation mIoU; the same
    scenes resized to 64 px lose their objects."""
    from recipes import segment
    from zoo.export import load
    from zoo.tasks.segmentation.losses import iou_report
    from zoo.tasks.segmentation.synthetic import SHAPES_CLASSES, make_scenes

    run = tmp_path / "run"
    assert (
        segment.main(
            [
                "--dataset",
                "synthetic:scenes",
                "--train-crop",
                "--scale-jitter",
                "0.8,1.25",
                "--input-size",
                "64",
                "--synthetic-count",
                "256",
                "--model",
                "unet",
                "--backbone",
                "mobilenetv2",
                "--encoder-weights",
                "none",
                "--schedule",
                "all:8@1e-3",
                "--steps-per-epoch",
                "30",
                "--batch-size",
                "8",
                "--out",
                str(run),
                "--verbose",
                "0",
            ]
        )
        == 0
    )
    validation = json.loads((run / "metrics.json").read_text())["mean_iou"]
    images, masks = make_scenes(3, 300, 420, seed=99)  # held out: another seed and size

    def miou(found):
        confusion = np.bincount(masks[..., 0].ravel() * 4 + found.ravel(), minlength=16).reshape(4, 4)
        return iou_report(confusion, list(SHAPES_CLASSES))["mean_iou"]

    predictor = load(run / "export")
    native = miou(predictor(images, probabilities=None)["mask"])  # model.json: scale native
    resized = miou(predictor(images, scale="resize")["mask"])
    print(f"validation mIoU {validation:.3f}; held-out native {native:.3f}, resized {resized:.3f}")
    assert validation > 0.6
    assert native > validation - 0.08
    assert native > resized + 0.2


def test_crops_are_drawn_again_while_one_class_fills_them():
    """--crop-max-share: on a 200x200 picture whose only object is a 16x16 square, about 5% of 32x32 crops
    touch it; with a share of 0.99 (the square must fill at least 1% of the crop) about half do (10 tries
    each)."""
    import tensorflow as tf

    from zoo.tasks.segmentation.pipeline import _random_crop_fn

    image = np.zeros((200, 200, 1), np.uint8)
    mask = np.zeros((200, 200, 1), np.uint8)
    mask[90:106, 90:106] = 1

    def share_with_object(max_share):
        crop = tf.function(_random_crop_fn(32, 32, 1, None, 255, seed=3, max_share=max_share))
        return np.mean([(crop(image, mask)[1].numpy() == 1).any() for _ in range(100)])

    plain, kept = share_with_object(None), share_with_object(0.99)
    assert plain < 0.15
    assert kept > 0.35 > plain + 0.2

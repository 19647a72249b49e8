"""ONNX conversion that keeps the weights out of the converter's way.

Keras' ``model.export(format="onnx")`` hands tf2onnx a graph in which every weight is
a constant. tf2onnx then copies the whole graph, constants included, for each of its
optimisation passes, and its peak memory grows with the model's size: measured here
(TF 2.21, tf2onnx 1.17), about 70 times the weights' bytes - 5.6 GB for a U-Net on
VGG16 (76 MB of weights), 10.3 GB for a U-Net on ResNet50 (130 MB), and FCN-8s on VGG16
(537 MB) was killed for lack of memory on a 24 GB machine. Converted this way, the
export process peaks at 1.3 GB for the VGG16 U-Net, 1.8 GB for the ResNet50 Simple
Baseline (135 MB) and 4.8 GB for FCN-8s (``python -m benchmarks.exports --model M:B``).

So the serving function is converted with the large weights as extra *graph inputs*
(``keras.Model.stateless_call`` runs the network on them), which leaves tf2onnx a
graph of a few megabytes. The inputs are then turned back into initializers holding
the trained values, and the layout transposes tf2onnx put on them (TensorFlow's
HWIO kernels to ONNX's OIHW) are applied to the stored arrays. One difference from a
plain conversion remains: tf2onnx folds a BatchNorm's scale into the preceding
convolution's kernel only when that kernel is a constant, so the ResNet50 models keep
one ``Mul`` per such BatchNorm. ONNX Runtime fuses them when it loads the file
(U-Net/ResNet50 at 128 px: 69.0 against 68.7 ms per 256x256 image, outputs identical).
Written by hand: no converter option does this. tf2onnx itself is used as Keras uses
it (with Keras' numpy-2 patch).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from zoo.utils.keras_internals import call_takes_training, patch_tf2onnx

# Opsets 9 and 10 failed here: the keypoint serving pads by reflection with computed
# widths (ONNX's Pad takes them as an input only from opset 11) and flips (ReverseV2).
MIN_OPSET = 11
DEFAULT_OPSET = 17

# Files whose protobuf would pass this many bytes keep their weights in ``<file>.data``
# (a protobuf holds at most 2 GiB; the zoo's largest model, FCN-8s/VGG16, is 0.54 GB).
PROTOBUF_LIMIT = 2_000_000_000

# Float variables with at least this many elements (256 KB) are passed as inputs;
# smaller ones (biases, BatchNorm statistics) stay constants, which tf2onnx folds.
MIN_INPUT_ELEMENTS = 1 << 16


def _tf2onnx():
    """tf2onnx with Keras' compatibility patch applied (tf2onnx 1.17 still uses ``np.object``)."""
    try:
        import onnx  # noqa: F401
        import tf2onnx  # noqa: F401
    except ImportError as err:
        raise RuntimeError(
            f"ONNX export needs tf2onnx and onnx ({err}); install them with "
            "`pip install tf2onnx onnx` (pinned in this project's pyproject.toml)"
        ) from None
    patch_tf2onnx()  # Keras' own patch (zoo.utils.keras_internals, where every private Keras name is)
    _register_erfc()
    return tf2onnx


def _register_erfc() -> None:
    """Teaches tf2onnx TensorFlow's ``Erfc`` (the exact GELU of ConvNeXt lowers to ``0.5 x erfc(-x / sqrt 2)``),
    which it does not map: ``erfc(x) = 1 - erf(x)``, ONNX ``Erf`` (opset 9+) and ``Sub``. Registered once."""
    from tf2onnx import utils
    from tf2onnx.handler import tf_op

    if getattr(_register_erfc, "done", False):
        return

    @tf_op("Erfc")
    class Erfc:  # noqa: F841 (registered by the decorator)
        @classmethod
        def version_9(cls, ctx, node, **kwargs):
            dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.input[0]))
            erf = ctx.make_node("Erf", [node.input[0]])
            one = ctx.make_const(utils.make_name(f"{node.name}_one"), np.array(1, dtype=dtype))
            shapes, dtypes = node.output_shapes, node.output_dtypes
            ctx.remove_node(node.name)
            ctx.make_node(
                "Sub", [one.output[0], erf.output[0]], outputs=node.output, name=node.name, shapes=shapes, dtypes=dtypes
            )

    _register_erfc.done = True


def check_opset(opset: int) -> int:
    """``opset`` as an int; ValueError unless tf2onnx can write it and the serving functions fit in it."""
    tf2onnx = _tf2onnx()
    highest = max(tf2onnx.constants.OPSET_TO_IR_VERSION)
    if not MIN_OPSET <= int(opset) <= highest:
        raise ValueError(
            f"--opset {opset} is not available: the serving function needs opset {MIN_OPSET} or "
            f"later and tf2onnx {tf2onnx.__version__} writes up to {highest}; choose "
            f"{MIN_OPSET}..{highest} (default {DEFAULT_OPSET})"
        )
    return int(opset)


def _input_name(variable, taken: set[str]) -> str:
    """A graph-input name for ``variable`` from its Keras path (e.g. ``block1_conv1/kernel``)."""
    name = re.sub(r"[^A-Za-z0-9_./-]", "_", variable.path).strip("/") or "weight"
    if not name[0].isalpha():
        name = f"w_{name}"
    unique, n = name, 2
    while unique in taken:
        unique, n = f"{name}_{n}", n + 1
    taken.add(unique)
    return unique


def split_weights(model: keras.Model, min_elements: int = MIN_INPUT_ELEMENTS):
    """Which of ``model``'s variables become graph inputs.

    Returns ``(variables, chosen, names)``: all variables in ``stateless_call`` order
    (trainable, then non-trainable), the indices of the float32 ones with at least
    ``min_elements`` elements, and a unique input name for each chosen one.
    """
    variables = list(model.trainable_variables) + list(model.non_trainable_variables)
    chosen = [i for i, v in enumerate(variables) if v.dtype == "float32" and int(np.prod(v.shape)) >= min_elements]
    taken: set[str] = {"images"}
    return variables, chosen, [_input_name(variables[i], taken) for i in chosen]


class _WithWeights:
    """Calls ``model`` with some of its weights replaced by tensors (no variable is touched)."""

    def __init__(self, model: keras.Model, variables: list, chosen: list[int], tensors):
        self.model = model
        self.variables = variables
        self.replaced = dict(zip(chosen, tensors))

    @property
    def inputs(self) -> list:
        """The wrapped model's inputs (``zoo.models.copies.any_size_copy`` reads their shape)."""
        return self.model.inputs

    def __call__(self, x, training: bool = False):
        values = [self.replaced.get(i, v.value) for i, v in enumerate(self.variables)]
        split = len(self.model.trainable_variables)
        # stateless_call passes keywords straight to call(); a subclassed model's call may not take
        # `training` (Layer.__call__ drops it for such models, stateless_call does not).
        kwargs = {"training": False} if call_takes_training(self.model) else {}
        outputs, _ = self.model.stateless_call(values[:split], values[split:], x, **kwargs)
        return outputs


def _subgraph_reads(graph) -> set[str]:
    """Names read by nodes inside ``If``/``Loop``/``Scan`` bodies of ``graph`` (recursively).

    A body reads its parent graph's values by name without declaring them as inputs.
    """
    from onnx import AttributeProto

    names: set[str] = set()
    for node in graph.node:
        for attribute in node.attribute:
            bodies = (
                [attribute.g]
                if attribute.type == AttributeProto.GRAPH
                else list(attribute.graphs)
                if attribute.type == AttributeProto.GRAPHS
                else []
            )
            for body in bodies:
                names.update(name for inner in body.node for name in inner.input)
                names.update(_subgraph_reads(body))
    return names


def _fold_transposes(graph, values: dict[str, np.ndarray], nested: set[str]) -> dict[str, np.ndarray]:
    """Replaces top-level ``Transpose`` nodes whose input is one of ``values`` by a transposed array.

    Returns every array that may be stored (name -> array; the caller keeps those the
    graph reads). A folded array takes the weight's own name when nothing else reads the
    untransposed one; a weight that a subgraph reads (``nested``) is left as it is.
    """
    readers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            readers[name] = readers.get(name, 0) + 1
    stored = dict(values)
    renames: dict[str, str] = {}
    outputs = {o.name for o in graph.output}
    kept = []
    for node in graph.node:
        if (
            node.op_type == "Transpose"
            and len(node.input) == 1
            and node.input[0] in values
            and node.input[0] not in nested
            and node.output[0] not in outputs
        ):
            source = node.input[0]
            perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), None)
            array = np.ascontiguousarray(np.transpose(values[source], perm))
            target = source if readers[source] == 1 else f"{source}/transposed_{''.join(map(str, perm or []))}"
            stored[target] = array
            renames[node.output[0]] = target
            readers[source] -= 1
            continue
        kept.append(node)
    for node in kept:
        for j, name in enumerate(node.input):
            if name in renames:
                node.input[j] = renames[name]
    del graph.node[:]
    graph.node.extend(kept)
    return stored


def convert(
    model: keras.Model, serve_factory, channels: int, path: str | Path, opset: int, what: str = "this network"
) -> None:
    """Writes the serving computation of ``model`` as an ONNX file at ``path``.

    Args:
        model: the trained network (float32).
        serve_factory: ``callable(network) -> serve(images) -> dict``; called with a
            stand-in that behaves like ``model`` but reads its large weights from graph
            inputs (``zoo.export.serving.serving_fn`` with ``info`` bound).
        channels: C of the uint8 ``images [batch, height, width, C]`` input.
        path: the ``.onnx`` file to write.
        opset: ONNX opset version.
        what: the network in words, for a refusal (``zoo.export.refusals``).

    Raises:
        ExportRefused: an op tf2onnx cannot write as an ONNX op (one line naming the layer).
    """
    tf2onnx = _tf2onnx()
    import onnx
    from onnx import numpy_helper

    opset = check_opset(opset)
    variables, chosen, names = split_weights(model)
    specs = [tf.TensorSpec([None, None, None, channels], tf.uint8, name="images")]
    specs += [tf.TensorSpec(variables[i].shape, tf.float32, name=n) for i, n in zip(chosen, names)]

    def serve(images, *weights):
        return serve_factory(_WithWeights(model, variables, chosen, weights))(images)

    function = tf.function(serve, input_signature=specs, autograph=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        proto, _ = tf2onnx.convert.from_function(function, input_signature=specs, opset=opset)
    graph = proto.graph
    # tf2onnx logs an op it cannot convert and leaves it in the graph under its TensorFlow name
    left = [(n.name, n.op_type) for n in graph.node if n.domain in ("", "ai.onnx") and not onnx.defs.has(n.op_type)]
    if left:
        from zoo.export.refusals import onnx_refusal

        raise onnx_refusal(left, model, what, opset)
    values = {n: keras.ops.convert_to_numpy(variables[i]) for i, n in zip(chosen, names)}
    found = {i.name for i in graph.input}
    if not set(values) <= found:  # tf2onnx renamed or dropped an input: binding by name would be wrong
        missing = sorted(set(values) - found)[:3]
        raise RuntimeError(
            f"ONNX conversion: weight inputs {missing} not found in the converted graph "
            f"(inputs: {sorted(found)[:5]} ...); this tf2onnx version names inputs differently"
        )
    # Tensors the function captured (e.g. an array used in a Lambda layer) may come out as
    # inputs too, named after their placeholder (seen with a Lambda adding a [8, 8, 2] array;
    # tf2onnx freezes others into constants); store their values as well.
    for external, internal in function.get_concrete_function(*specs).graph.captures:
        if internal.name in found and external.dtype != tf.resource:
            values[internal.name] = np.asarray(external)
    unknown = sorted(found - set(values) - {"images"})
    if unknown:
        raise RuntimeError(
            f"ONNX conversion left inputs other than 'images': {unknown[:5]}; the network reads "
            "a tensor the export cannot bind (a captured resource or a second input)"
        )
    keep = [i for i in graph.input if i.name not in values]
    del graph.input[:]
    graph.input.extend(keep)
    nested = _subgraph_reads(graph)
    produced = {o for node in graph.node for o in node.output} | {i.name for i in graph.initializer}
    stored = _fold_transposes(graph, values, nested)
    clash = sorted(set(stored) & produced)
    if clash:
        raise RuntimeError(f"ONNX conversion: weight names {clash[:3]} are also names in the converted graph")
    read = {name for node in graph.node for name in node.input} | {o.name for o in graph.output} | nested
    graph.initializer.extend(numpy_helper.from_array(array, name) for name, array in stored.items() if name in read)
    if proto.ByteSize() < PROTOBUF_LIMIT:
        onnx.checker.check_model(proto)
        onnx.save(proto, str(path))
    else:  # a protobuf holds at most 2 GB: the weights go to model.onnx.data beside the file
        data = Path(path).with_name(Path(path).name + ".data")
        onnx.save(
            proto,
            str(path),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=data.name,
            size_threshold=1024,
        )
        data.chmod(0o644)  # onnx writes it private; a server running as another user must read it
        onnx.checker.check_model(str(path))

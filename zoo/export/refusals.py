"""One-line refusals for networks a format cannot take, in place of the converters' dumps.

The LiteRT converter reports an op it cannot lower as an MLIR diagnostic (the op's location, a
call-site chain and the whole module's text: hundreds of lines); tf2onnx logs the op and then leaves it
in the graph, where ONNX's checker fails. Both name the failing op by its TensorFlow path
(``functional_serving_1/functional_1/odd_op_1/MatrixInverse``). ``refusal`` turns that into one line:
the format, the Keras layer (the path component that names a layer of the network), the op and why, and
what to do instead. The converter's full text is kept in a log file the line names.
"""

from __future__ import annotations

import re

import keras

FLEX = re.compile(r"'tf\.(\w+)' op is neither a custom op nor a flex op")
LOCATED = re.compile(r'loc\(callsite\(fused\["(\w+):", "([^"@]+)')
PLAIN_ERROR = re.compile(r"error: (?!loc\()(?!failed while converting)(.+)")


class ExportRefused(ValueError):
    """A format cannot take this network: one line naming the layer, the op and the reason."""


def _layers(model: keras.Model) -> dict[str, str]:
    """Every layer name of ``model`` and the models nested in it -> its class name."""
    found: dict[str, str] = {}
    stack = [model]
    while stack:
        current = stack.pop()
        for layer in getattr(current, "layers", []):
            found.setdefault(layer.name, type(layer).__name__)
            if isinstance(layer, keras.Model):
                stack.append(layer)
    return found


def layer_of(path: str, model: keras.Model) -> tuple[str, str] | None:
    """The Keras layer ``(name, class)`` an op's TensorFlow path runs in: its innermost component that names a
    layer of ``model`` (tracing adds ``_1``-style suffixes, so a component is also tried without one)."""
    layers = _layers(model)
    for part in reversed(path.split("/")[:-1]):
        for name in (part, re.sub(r"_\d+$", "", part)):
            if name in layers:
                return name, layers[name]
    return None


def _where(path: str | None, model: keras.Model) -> str:
    found = layer_of(path, model) if path else None
    return f"layer {found[0]!r} ({found[1]})" if found else "a layer of the serving function"


def litert_refusal(text: str, model: keras.Model, what: str, log: str) -> ExportRefused:
    """The refusal for a failed LiteRT conversion whose diagnostics are ``text``."""
    located = LOCATED.search(text)
    path = located.group(2) if located else None
    flex = FLEX.search(text)
    if flex:
        reason = (
            f"uses TensorFlow op {flex.group(1)}, which has no LiteRT built-in kernel (it would need the Flex "
            "delegate, which phone runtimes lack)"
        )
    else:
        plain = PLAIN_ERROR.search(text)
        reason = "fails in the LiteRT converter: " + (plain.group(1).strip()[:160] if plain else "no reason given")
    return ExportRefused(
        f"LiteRT cannot take {what}: {_where(path, model)} {reason}; export it as saved_model or onnx instead "
        f"(the converter's full output: {log})"
    )


def onnx_refusal(ops: list[tuple[str, str]], model: keras.Model, what: str, opset: int) -> ExportRefused:
    """The refusal for ONNX nodes ``(name, op type)`` that tf2onnx left as TensorFlow ops (no ONNX op at
    ``opset``)."""
    name, op = ops[0]
    more = f" (and {len(ops) - 1} more node(s): {sorted({o for _, o in ops[1:]})})" if len(ops) > 1 else ""
    return ExportRefused(
        f"ONNX cannot take {what}: {_where(name, model)} uses TensorFlow op {op}, which tf2onnx cannot write as "
        f"an ONNX op at opset {opset}{more}; export it as saved_model instead, or try another --opset"
    )

"""The trained Keras model as a pure-NumPy forward pass: fast to load, no TensorFlow at prediction.

    python numpy_model.py                 # re-export model/emotion_model.npz from model/emotion_model.keras
    python numpy_model.py --model-dir m/  # the same for another model folder

The Keras model that neural_network.py trains stays the source of truth. ``model.save`` writes
this exported copy beside it (``emotion_model.npz``: every layer's weights and the layer graph)
and records in ``emotion_model.json`` the copy's sha256 and the sha256 of the .keras file it was
made from. ``model.load`` then runs the copy (about 0.1 s to load, no Keras import) and refuses it
when it is stale or damaged. Tests check its probabilities against Keras's on real clips.

Supported layers (Sequential and functional models, channels_last): InputLayer, Conv1D (any
padding, strides, dilation, groups), Conv2D (any padding, strides, dilation; one group), Dense,
BatchNormalization, LayerNormalization, Activation, ReLU, LeakyReLU, Softmax, MaxPooling1D,
AveragePooling1D, MaxPooling2D, AveragePooling2D, GlobalAveragePooling1D,
GlobalMaxPooling1D, Flatten, Reshape, Permute, Concatenate, Add, Subtract, Multiply, Average,
Maximum, Minimum, and the inference no-ops Dropout, SpatialDropout1D, GaussianNoise,
GaussianDropout, AlphaDropout. Activations: linear, relu, relu6, leaky_relu, sigmoid, tanh,
softmax, softplus, softsign, elu, selu, swish/silu, gelu, mish, hard_sigmoid, hard_silu/hard_swish,
exponential.
Anything else is refused at export with the layer's name, so a new layer never predicts silently
wrong.
"""

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

# File name of the exported copy inside a model folder.
EXPORT_FILE = "emotion_model.npz"
# Name and version of the export format; bump the version when the graph's meaning changes.
EXPORT_FORMAT = "numpy-forward"
EXPORT_VERSION = 1
# Rows (model windows) pushed through the network at once: bounds the im2col buffers' memory.
BATCH_ROWS = 64
# Model folder re-exported by the command line.
MODEL_DIR = Path("model")


class ExportError(ValueError):
    """A Keras model this module cannot export; the message names the layer and the reason."""


# ----------------------------------------------------------------------------- activations

def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def _erf(x):
    """erf to about 1e-7 (Abramowitz and Stegun 7.1.26), in the dtype of x; NumPy has none."""
    t = 1.0 / (1.0 + 0.3275911 * np.abs(x))
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return np.sign(x) * (1.0 - poly * np.exp(-x * x))


def _hard_sigmoid(x):
    return np.clip(x / np.float32(6) + np.float32(0.5), 0, 1)


ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "relu6": lambda x: np.clip(x, 0, 6),
    "leaky_relu": lambda x: np.where(x >= 0, x, np.float32(0.2) * x),
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "softmax": _softmax,
    "softplus": lambda x: np.logaddexp(np.float32(0), x),
    "elu": _elu,
    "selu": lambda x: np.float32(1.0507009873554805) * _elu(x, 1.6732632423543772),
    "swish": lambda x: x * _sigmoid(x),
    "silu": lambda x: x * _sigmoid(x),
    "gelu": lambda x: np.float32(0.5) * x * (1 + _erf(x / np.float32(np.sqrt(2)))),
    "hard_sigmoid": _hard_sigmoid,
    "hard_silu": lambda x: x * _hard_sigmoid(x),
    "hard_swish": lambda x: x * _hard_sigmoid(x),
    "mish": lambda x: x * np.tanh(np.logaddexp(np.float32(0), x)),
    "softsign": lambda x: x / (1 + np.abs(x)),
    "exponential": np.exp,
}


def _activation_name(act, where):
    """The ACTIVATIONS key of a layer's configured activation; raises ExportError for others."""
    if act is None:
        return "linear"
    name = act if isinstance(act, str) else getattr(act, "__name__", None)
    if name not in ACTIVATIONS:
        raise ExportError(f"{where}: activation {name!r} is not supported by the NumPy export")
    return name


# ----------------------------------------------------------------------------- operations

def _pad_same(length, size, stride, dilation=1):
    """TensorFlow's 'same' padding along one axis: (left, right)."""
    out = -(-length // stride)
    total = max((out - 1) * stride + (size - 1) * dilation + 1 - length, 0)
    return total // 2, total - total // 2


def _windows(x, size, stride, dilation):
    """Sliding windows along axis 1 of (N, L, C): (N, L_out, size, C), a strided view."""
    n, length, c = x.shape
    span = (size - 1) * dilation + 1
    out = (length - span) // stride + 1
    if out <= 0:
        raise ValueError(f"input of {length} steps is shorter than a window of {span}")
    s = x.strides
    return np.lib.stride_tricks.as_strided(
        x, shape=(n, out, size, c), strides=(s[0], s[1] * stride, s[1] * dilation, s[2]),
        writeable=False)


def conv1d(x, kernel, bias, *, strides, padding, dilation, groups, activation):
    k, cin_g, filters = kernel.shape
    if padding == "same":
        left, right = _pad_same(x.shape[1], k, strides, dilation)
    elif padding == "causal":
        left, right = (k - 1) * dilation, 0
    else:
        left = right = 0
    if left or right:
        x = np.pad(x, ((0, 0), (left, right), (0, 0)))
    x = np.ascontiguousarray(x)
    outs = []
    f_g = filters // groups
    for g in range(groups):
        xg = x if groups == 1 else np.ascontiguousarray(x[:, :, g * cin_g:(g + 1) * cin_g])
        win = _windows(xg, k, strides, dilation)
        n, lout = win.shape[:2]
        cols = win.reshape(n * lout, k * cin_g)
        w = kernel[:, :, g * f_g:(g + 1) * f_g].reshape(k * cin_g, f_g)
        outs.append((cols @ w).reshape(n, lout, f_g))
    y = outs[0] if groups == 1 else np.concatenate(outs, axis=-1)
    if bias is not None:
        y += bias
    return ACTIVATIONS[activation](y)


def conv2d(x, kernel, bias, *, strides, padding, dilation, activation):
    """Keras Conv2D (channels_last, one group) on (N, H, W, C): (N, H_out, W_out, filters)."""
    kh, kw, cin, filters = kernel.shape
    if padding == "same":
        top, bottom = _pad_same(x.shape[1], kh, strides[0], dilation[0])
        left, right = _pad_same(x.shape[2], kw, strides[1], dilation[1])
        if top or bottom or left or right:
            x = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    x = np.ascontiguousarray(x)
    n, h, w, c = x.shape
    hout = (h - (kh - 1) * dilation[0] - 1) // strides[0] + 1
    wout = (w - (kw - 1) * dilation[1] - 1) // strides[1] + 1
    if hout <= 0 or wout <= 0:
        raise ValueError(f"input of {h}x{w} is smaller than a window of {kh}x{kw}")
    s = x.strides
    win = np.lib.stride_tricks.as_strided(
        x, shape=(n, hout, wout, kh, kw, c),
        strides=(s[0], s[1] * strides[0], s[2] * strides[1], s[1] * dilation[0], s[2] * dilation[1], s[3]),
        writeable=False)
    y = (win.reshape(n * hout * wout, kh * kw * c) @ kernel.reshape(kh * kw * cin, filters))
    y = y.reshape(n, hout, wout, filters)
    if bias is not None:
        y += bias
    return ACTIVATIONS[activation](y)


def pool2d(x, *, kind, size, strides, padding):
    """Keras MaxPooling2D/AveragePooling2D on (N, H, W, C), as two 1-D poolings: a window's
    maximum, and its mean over the real (unpadded) values, both separate over the two axes."""
    n, h, w, c = x.shape
    x = pool1d(x.reshape(n * h, w, c), kind=kind, size=size[1], strides=strides[1], padding=padding)
    x = x.reshape(n, h, -1, c).transpose(0, 2, 1, 3)
    w2 = x.shape[1]
    x = pool1d(np.ascontiguousarray(x).reshape(n * w2, h, c), kind=kind, size=size[0],
               strides=strides[0], padding=padding)
    return np.ascontiguousarray(x.reshape(n, w2, -1, c).transpose(0, 2, 1, 3))


def pool1d(x, *, kind, size, strides, padding):
    if padding == "same":
        left, right = _pad_same(x.shape[1], size, strides)
        if left or right:
            if kind == "max":
                x = np.pad(x, ((0, 0), (left, right), (0, 0)), constant_values=-np.inf)
            else:  # average over the real samples only, as TensorFlow does
                ones = np.pad(np.ones((1, x.shape[1], 1), x.dtype), ((0, 0), (left, right), (0, 0)))
                x = np.pad(x, ((0, 0), (left, right), (0, 0)))
                total = _windows(np.ascontiguousarray(x), size, strides, 1).sum(axis=2)
                count = _windows(ones, size, strides, 1).sum(axis=2)
                return total / count
    win = _windows(np.ascontiguousarray(x), size, strides, 1)
    return win.max(axis=2) if kind == "max" else win.mean(axis=2)


def layer_norm(x, gamma, beta, *, axes, epsilon):
    mean = x.mean(axis=tuple(axes), keepdims=True)
    var = np.square(x - mean).mean(axis=tuple(axes), keepdims=True)
    y = (x - mean) / np.sqrt(var + np.float32(epsilon))
    if gamma is not None:
        y = y * gamma
    if beta is not None:
        y = y + beta
    return y


MERGES = {"Add": lambda xs: sum(xs[1:], xs[0]),
          "Subtract": lambda xs: xs[0] - xs[1],
          "Multiply": lambda xs: np.prod(np.stack(xs), axis=0),
          "Average": lambda xs: sum(xs[1:], xs[0]) / np.float32(len(xs)),
          "Maximum": lambda xs: np.max(np.stack(xs), axis=0),
          "Minimum": lambda xs: np.min(np.stack(xs), axis=0)}
IDENTITY = ("Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout", "AlphaDropout")


# ----------------------------------------------------------------------------- export (needs Keras)

def _np(variable):
    return None if variable is None else np.asarray(variable.numpy(), dtype=np.float32)


def _layer_spec(layer, weights):
    """The graph entry of one layer, storing its weight arrays in ``weights``. Raises ExportError."""
    kind = type(layer).__name__
    cfg = layer.get_config()
    where = f"layer {layer.name!r} ({kind})"
    if cfg.get("data_format", "channels_last") != "channels_last":
        raise ExportError(f"{where}: only channels_last is supported")

    def keep(key, value):
        if value is None:
            return None
        name = f"{layer.name}/{key}"
        weights[name] = np.ascontiguousarray(value, dtype=np.float32)
        return name

    spec = {"kind": kind, "name": layer.name}
    if kind in IDENTITY or kind == "InputLayer":
        spec["kind"] = "Identity"
    elif kind == "Conv1D":
        spec.update(kernel=keep("kernel", _np(layer.kernel)),
                    bias=keep("bias", _np(layer.bias) if cfg["use_bias"] else None),
                    strides=int(cfg["strides"][0]), padding=cfg["padding"],
                    dilation=int(cfg["dilation_rate"][0]), groups=int(cfg.get("groups", 1)),
                    activation=_activation_name(cfg["activation"], where))
        if spec["strides"] > 1 and spec["dilation"] > 1:
            raise ExportError(f"{where}: strides and dilation both above 1")
    elif kind == "Conv2D":
        spec.update(kernel=keep("kernel", _np(layer.kernel)),
                    bias=keep("bias", _np(layer.bias) if cfg["use_bias"] else None),
                    strides=[int(v) for v in cfg["strides"]], padding=cfg["padding"],
                    dilation=[int(v) for v in cfg["dilation_rate"]],
                    activation=_activation_name(cfg["activation"], where))
        if int(cfg.get("groups", 1)) != 1:
            raise ExportError(f"{where}: groups above 1 are not supported")
        if max(spec["strides"]) > 1 and max(spec["dilation"]) > 1:
            raise ExportError(f"{where}: strides and dilation both above 1")
    elif kind == "Dense":
        spec.update(kernel=keep("kernel", _np(layer.kernel)),
                    bias=keep("bias", _np(layer.bias) if cfg["use_bias"] else None),
                    activation=_activation_name(cfg["activation"], where))
    elif kind == "BatchNormalization":
        axis = cfg["axis"] if isinstance(cfg["axis"], int) else cfg["axis"][0]
        try:
            ndim = len(layer.input.shape)
        except (AttributeError, ValueError):  # a layer called more than once has no single input
            ndim = None
        if cfg.get("renorm") or (axis != -1 and axis != (ndim or 0) - 1):
            raise ExportError(f"{where}: only normalisation over the last axis is supported")
        mean = _np(layer.moving_mean).astype(np.float64)
        var = _np(layer.moving_variance).astype(np.float64)
        gamma = _np(layer.gamma).astype(np.float64) if cfg["scale"] else 1.0
        beta = _np(layer.beta).astype(np.float64) if cfg["center"] else 0.0
        scale = gamma / np.sqrt(var + cfg["epsilon"])
        spec.update(kind="Affine", scale=keep("scale", scale), shift=keep("shift", beta - mean * scale))
    elif kind == "LayerNormalization":
        if cfg.get("rms_scaling"):
            raise ExportError(f"{where}: rms_scaling is not supported")
        axes = cfg["axis"] if isinstance(cfg["axis"], (list, tuple)) else [cfg["axis"]]
        spec.update(axes=[int(a) for a in axes], epsilon=float(cfg["epsilon"]),
                    gamma=keep("gamma", _np(layer.gamma) if cfg["scale"] else None),
                    beta=keep("beta", _np(layer.beta) if cfg["center"] else None))
    elif kind == "Activation":
        spec.update(kind="Act", activation=_activation_name(cfg["activation"], where))
    elif kind == "ReLU":
        spec.update(max_value=cfg["max_value"], negative_slope=float(cfg["negative_slope"]),
                    threshold=float(cfg["threshold"]))
    elif kind == "LeakyReLU":
        spec.update(kind="ReLU", max_value=None, threshold=0.0,
                    negative_slope=float(cfg.get("negative_slope", cfg.get("alpha", 0.3))))
    elif kind == "Softmax":
        axis = cfg["axis"]
        spec.update(axis=int(axis if isinstance(axis, int) else axis[0]))
    elif kind in ("MaxPooling1D", "AveragePooling1D"):
        strides = cfg["strides"] if cfg["strides"] is not None else cfg["pool_size"]
        spec.update(kind="Pool", pool="max" if kind.startswith("Max") else "avg",
                    size=int(cfg["pool_size"][0]), strides=int(np.ravel(strides)[0]),
                    padding=cfg["padding"])
    elif kind in ("MaxPooling2D", "AveragePooling2D"):
        strides = cfg["strides"] if cfg["strides"] is not None else cfg["pool_size"]
        spec.update(kind="Pool2D", pool="max" if kind.startswith("Max") else "avg",
                    size=[int(v) for v in cfg["pool_size"]], strides=[int(v) for v in strides],
                    padding=cfg["padding"])
    elif kind in ("GlobalAveragePooling1D", "GlobalMaxPooling1D"):
        spec.update(kind="GlobalPool", pool="max" if "Max" in kind else "avg",
                    keepdims=bool(cfg.get("keepdims", False)))
    elif kind == "Flatten":
        pass
    elif kind == "Reshape":
        spec.update(shape=[int(d) for d in cfg["target_shape"]])
    elif kind == "Permute":
        spec.update(dims=[int(d) for d in cfg["dims"]])
    elif kind == "Concatenate":
        spec.update(axis=int(cfg["axis"]))
    elif kind in MERGES:
        spec.update(kind="Merge", merge=kind)
    else:
        raise ExportError(f"{where}: not supported by the NumPy export; add it to numpy_model.py "
                          "or predict with the Keras model (model.load(..., backend='keras'))")
    return spec


def _graph_nodes(keras_model):
    """(layer, [input tensor ids], output tensor id) in execution order, and the model's in/out ids."""
    from keras import Sequential

    if isinstance(keras_model, Sequential):
        inner = getattr(keras_model, "_functional", None)
        if inner is None:  # a Sequential without an Input: a plain chain of its layers
            nodes, prev = [], "input"
            for i, layer in enumerate(keras_model.layers):
                nodes.append((layer, [prev], f"t{i}"))
                prev = f"t{i}"
            return nodes, ["input"], [prev]
        keras_model = inner
    known = {id(t): f"t{i}" for i, t in enumerate(keras_model.inputs)}
    inputs = [known[id(t)] for t in keras_model.inputs]
    nodes = []
    for op in keras_model.operations:
        if type(op).__name__ == "InputLayer":
            continue
        if hasattr(op, "layers") and hasattr(op, "operations"):
            raise ExportError(f"layer {op.name!r}: a nested model; build the model flat to export it")
        for node in op._inbound_nodes:
            ins = [id(t) for t in node.input_tensors]
            if not all(i in known for i in ins):
                continue  # a call of a shared layer that belongs to another model
            if len(node.outputs) != 1:
                raise ExportError(f"layer {op.name!r}: several outputs are not supported")
            out = f"t{len(known)}"
            known[id(node.outputs[0])] = out
            nodes.append((op, [known[i] for i in ins], out))
    missing = [t for t in keras_model.outputs if id(t) not in known]
    if missing or len(keras_model.outputs) != 1:
        raise ExportError("the model must have one output reachable from its inputs")
    return nodes, inputs, [known[id(keras_model.outputs[0])]]


def export(keras_model, path, *, keras_sha256):
    """Write the NumPy copy of ``keras_model`` to ``path`` (.npz), made from the .keras with that sha256.

    Raises ExportError naming the first layer it cannot translate. Returns the file's sha256.
    """
    from model import write_atomic  # imported here: model imports this module

    nodes, inputs, outputs = _graph_nodes(keras_model)
    if len(inputs) != 1:
        raise ExportError("only single-input models are supported")
    weights, layers = {}, []
    for layer, ins, out in nodes:
        layers.append({**_layer_spec(layer, weights), "inputs": ins, "output": out})
    graph = {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "keras_sha256": keras_sha256,
             "input": inputs[0], "output": outputs[0], "layers": layers,
             "input_shape": list(keras_model.input_shape[1:]),
             "output_shape": list(keras_model.output_shape[1:])}
    arrays = {"__graph__": np.array(json.dumps(graph))}
    arrays.update({f"w/{k}": v for k, v in weights.items()})

    def write(tmp):
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    write_atomic(path, write)
    return sha256(path)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ----------------------------------------------------------------------------- the forward pass

class NumpyModel:
    """A Keras model's inference, in NumPy: call it like the Keras model, ``net(batch)``."""

    def __init__(self, graph, weights):
        self.graph = graph
        self.layers = graph["layers"]
        self.w = weights
        self.input_shape = (None, *graph["input_shape"])
        self.output_shape = (None, *graph["output_shape"])
        # Tensors still needed after each step, so intermediate arrays are freed early.
        last_use = {}
        for i, spec in enumerate(self.layers):
            for t in spec["inputs"]:
                last_use[t] = i
        self._free = [[t for t in spec["inputs"] if last_use[t] == i and t != graph["output"]]
                      for i, spec in enumerate(self.layers)]

    @classmethod
    def read(cls, path):
        """Load an exported .npz (no pickles). Returns the model; raises ValueError/OSError/KeyError."""
        with np.load(path, allow_pickle=False) as z:
            graph = json.loads(str(z["__graph__"]))
            weights = {k[2:]: z[k] for k in z.files if k.startswith("w/")}
        if graph.get("format") != EXPORT_FORMAT or graph.get("version") != EXPORT_VERSION:
            raise ValueError(f"format {graph.get('format')} v{graph.get('version')}")
        return cls(graph, weights)

    def __call__(self, x, training=False):
        x = np.asarray(x, dtype=np.float32)
        if len(x) <= BATCH_ROWS:
            return self._forward(x)
        return np.concatenate([self._forward(x[i:i + BATCH_ROWS])
                               for i in range(0, len(x), BATCH_ROWS)])

    def predict(self, x, verbose=0):
        return self(x)

    def _forward(self, x):
        t = {self.graph["input"]: x}
        w = self.w
        for spec, free in zip(self.layers, self._free):
            ins = [t[name] for name in spec["inputs"]]
            x = ins[0]
            kind = spec["kind"]
            if kind == "Conv1D":
                y = conv1d(x, w[spec["kernel"]], w.get(spec["bias"]), strides=spec["strides"],
                           padding=spec["padding"], dilation=spec["dilation"],
                           groups=spec["groups"], activation=spec["activation"])
            elif kind == "Conv2D":
                y = conv2d(x, w[spec["kernel"]], w.get(spec["bias"]), strides=spec["strides"],
                           padding=spec["padding"], dilation=spec["dilation"],
                           activation=spec["activation"])
            elif kind == "Dense":
                y = x @ w[spec["kernel"]]
                if spec["bias"] is not None:
                    y += w[spec["bias"]]
                y = ACTIVATIONS[spec["activation"]](y)
            elif kind == "Affine":
                y = x * w[spec["scale"]] + w[spec["shift"]]
            elif kind == "LayerNormalization":
                y = layer_norm(x, w.get(spec["gamma"]), w.get(spec["beta"]),
                               axes=spec["axes"], epsilon=spec["epsilon"])
            elif kind == "Act":
                y = ACTIVATIONS[spec["activation"]](x)
            elif kind == "ReLU":
                y = np.where(x >= spec["threshold"], x,
                             np.float32(spec["negative_slope"]) * (x - np.float32(spec["threshold"])))
                if spec["max_value"] is not None:
                    y = np.minimum(y, np.float32(spec["max_value"]))
            elif kind == "Softmax":
                y = _softmax(x, axis=spec["axis"])
            elif kind == "Pool":
                y = pool1d(x, kind=spec["pool"], size=spec["size"], strides=spec["strides"],
                           padding=spec["padding"])
            elif kind == "Pool2D":
                y = pool2d(x, kind=spec["pool"], size=spec["size"], strides=spec["strides"],
                           padding=spec["padding"])
            elif kind == "GlobalPool":
                y = x.max(axis=1, keepdims=spec["keepdims"]) if spec["pool"] == "max" else \
                    x.mean(axis=1, keepdims=spec["keepdims"])
            elif kind == "Flatten":
                y = x.reshape(len(x), -1)
            elif kind == "Reshape":
                y = x.reshape(len(x), *spec["shape"])
            elif kind == "Permute":
                y = np.ascontiguousarray(x.transpose(0, *spec["dims"]))
            elif kind == "Concatenate":
                y = np.concatenate(ins, axis=spec["axis"])
            elif kind == "Merge":
                y = MERGES[spec["merge"]](ins)
            elif kind == "Identity":
                y = x
            else:
                raise ValueError(f"unknown layer kind {kind!r} in exported graph")
            t[spec["output"]] = y.astype(np.float32, copy=False)
            for name in free:
                t.pop(name, None)
        return t[self.graph["output"]]


# ----------------------------------------------------------------------------- command line

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", type=Path, default=MODEL_DIR, help="model folder to re-export")
    args = parser.parse_args(argv)
    import model as model_lib

    try:
        meta = model_lib.reexport(args.model_dir)
    except (model_lib.ModelError, ExportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {args.model_dir / EXPORT_FILE} (sha256 {meta['export']['sha256'][:12]}) from "
          f"{args.model_dir / model_lib.MODEL_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

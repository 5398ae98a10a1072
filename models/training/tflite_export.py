"""Write LiteRT (.tflite) files without TensorFlow, from the flatbuffer schema that ``ai-edge-litert`` ships.

Two ways in:

* ``TfliteBuilder``: add inputs, constants and builtin ops by hand (FULLY_CONNECTED, CONV_2D, pooling, activations,
  RESHAPE, TRANSPOSE, ADD, MUL, PAD, MEAN, SOFTMAX, LOGISTIC) and ``build()`` the bytes.
* ``onnx_to_tflite(onnx_path_or_model)``: convert a small fp32 ONNX graph (what ``torch.onnx.export`` writes for
  MLPs and plain CNNs) op by op. Supported ONNX ops: Gemm, MatMul, Add, Sub, Mul, Relu, Clip(0,6), Sigmoid, Log, Softmax
  (last axis), Flatten, Reshape, Conv (group 1 or depthwise), MaxPool, AveragePool, GlobalAveragePool,
  BatchNormalization, Identity, Dropout. Images stay NCHW at the model's edges: the converter inserts a TRANSPOSE to
  NHWC after a 4-D input and back before a 4-D output or a Flatten. Anything else raises ``NotImplementedError``
  naming the op.

``verify_against_onnx(tflite_bytes, onnx_path, feeds)`` runs both (LiteRT interpreter and ONNX Runtime) and returns
the maximum absolute difference of every output. Training-time only: imports onnx; the cart never imports this file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from collections.abc import Sequence

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as fb

_ACT = {"NONE": fb.ActivationFunctionType.NONE, "RELU": fb.ActivationFunctionType.RELU,
        "RELU6": fb.ActivationFunctionType.RELU6}
_DTYPE = {np.dtype(np.float32): fb.TensorType.FLOAT32, np.dtype(np.int32): fb.TensorType.INT32,
          np.dtype(np.int64): fb.TensorType.INT64}


class TfliteBuilder:
    """Accumulates tensors, constant buffers and operators of one subgraph; ``build`` returns .tflite bytes."""

    def __init__(self, description: str = "cardiocart"):
        self.description = description
        self.tensors: list[Any] = []
        self.buffers: list[Any] = [fb.BufferT()]  # buffer 0 is the empty sentinel
        self.opcodes: list[int] = []
        self.ops: list[Any] = []
        self.inputs: list[int] = []
        self.outputs: list[int] = []

    # -- tensors -------------------------------------------------------------------------------------------------
    def tensor(self, name: str, shape: Sequence[int], dtype: Any = np.float32, data: np.ndarray | None = None,
               signature: Sequence[int] | None = None) -> int:
        """Add a tensor (with constant ``data`` if given) and return its index."""
        t = fb.TensorT()
        t.name = name
        t.shape = np.asarray(list(shape), dtype=np.int32)
        if signature is not None:
            t.shapeSignature = np.asarray(list(signature), dtype=np.int32)
        t.type = _DTYPE[np.dtype(dtype)]
        if data is not None:
            b = fb.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(data, dtype=dtype).tobytes(), dtype=np.uint8)
            self.buffers.append(b)
            t.buffer = len(self.buffers) - 1
        else:
            t.buffer = 0
        self.tensors.append(t)
        return len(self.tensors) - 1

    def const(self, name: str, array: np.ndarray) -> int:
        arr = np.asarray(array)
        dtype = np.float32 if arr.dtype.kind == "f" else np.int32
        arr = arr.astype(dtype)
        return self.tensor(name, arr.shape, dtype, data=arr)

    def add_input(self, name: str, shape: Sequence[int], dynamic_batch: bool = True) -> int:
        sig = [-1, *shape[1:]] if dynamic_batch else None
        idx = self.tensor(name, shape, np.float32, signature=sig)
        self.inputs.append(idx)
        return idx

    def shape_of(self, idx: int) -> list[int]:
        return [int(s) for s in self.tensors[idx].shape]

    # -- operators -----------------------------------------------------------------------------------------------
    def op(self, code: int, inputs: Sequence[int], out_shape: Sequence[int], name: str,
           options_type: int = 0, options: Any = None) -> int:
        """Append builtin operator ``code``; creates and returns its single float32 output tensor."""
        if code not in self.opcodes:
            self.opcodes.append(code)
        out = self.tensor(name, out_shape)
        o = fb.OperatorT()
        o.opcodeIndex = self.opcodes.index(code)
        o.inputs = np.asarray(list(inputs), dtype=np.int32)
        o.outputs = np.asarray([out], dtype=np.int32)
        if options is not None:
            o.builtinOptionsType = options_type
            o.builtinOptions = options
        self.ops.append(o)
        return out

    def fully_connected(self, x: int, weight_out_in: np.ndarray, bias: np.ndarray | None, act: str = "NONE",
                        name: str = "fc") -> int:
        """y = act(x @ W.T + b); W is (out, in) float32, x is (batch, in)."""
        w = self.const(f"{name}/w", weight_out_in.astype(np.float32))
        b = self.const(f"{name}/b", bias.astype(np.float32)) if bias is not None else -1
        opt = fb.FullyConnectedOptionsT()
        opt.fusedActivationFunction = _ACT[act]
        shape = self.shape_of(x)[:-1] + [int(weight_out_in.shape[0])]
        return self.op(fb.BuiltinOperator.FULLY_CONNECTED, [x, w, b], shape, name,
                       fb.BuiltinOptions.FullyConnectedOptions, opt)

    def unary(self, x: int, kind: str, name: str) -> int:
        code = {"RELU": fb.BuiltinOperator.RELU, "RELU6": fb.BuiltinOperator.RELU6,
                "LOGISTIC": fb.BuiltinOperator.LOGISTIC, "LOG": fb.BuiltinOperator.LOG}[kind]
        return self.op(code, [x], self.shape_of(x), name)

    def softmax(self, x: int, name: str = "softmax") -> int:
        opt = fb.SoftmaxOptionsT()
        opt.beta = 1.0
        return self.op(fb.BuiltinOperator.SOFTMAX, [x], self.shape_of(x), name, fb.BuiltinOptions.SoftmaxOptions, opt)

    def reshape(self, x: int, shape: Sequence[int], name: str = "reshape") -> int:
        s = self.const(f"{name}/shape", np.asarray(list(shape), dtype=np.int32))
        known = [d for d in shape if d != -1]
        total = int(np.prod(self.shape_of(x)))
        out = [d if d != -1 else total // int(np.prod(known)) for d in shape]
        opt = fb.ReshapeOptionsT()
        opt.newShape = list(shape)
        return self.op(fb.BuiltinOperator.RESHAPE, [x, s], out, name, fb.BuiltinOptions.ReshapeOptions, opt)

    def transpose(self, x: int, perm: Sequence[int], name: str = "transpose") -> int:
        p = self.const(f"{name}/perm", np.asarray(list(perm), dtype=np.int32))
        shp = self.shape_of(x)
        return self.op(fb.BuiltinOperator.TRANSPOSE, [x, p], [shp[i] for i in perm], name,
                       fb.BuiltinOptions.TransposeOptions, fb.TransposeOptionsT())

    def binary(self, a: int, b: int, kind: str, name: str) -> int:
        sa, sb = self.shape_of(a), self.shape_of(b)
        shape = list(np.broadcast_shapes(tuple(sa), tuple(sb)))
        if kind == "ADD":
            opt = fb.AddOptionsT()
            return self.op(fb.BuiltinOperator.ADD, [a, b], shape, name, fb.BuiltinOptions.AddOptions, opt)
        if kind == "SUB":
            opt = fb.SubOptionsT()
            return self.op(fb.BuiltinOperator.SUB, [a, b], shape, name, fb.BuiltinOptions.SubOptions, opt)
        opt = fb.MulOptionsT()
        return self.op(fb.BuiltinOperator.MUL, [a, b], shape, name, fb.BuiltinOptions.MulOptions, opt)

    def pad_nhwc(self, x: int, top: int, bottom: int, left: int, right: int, name: str = "pad") -> int:
        pads = self.const(f"{name}/pads", np.array([[0, 0], [top, bottom], [left, right], [0, 0]], dtype=np.int32))
        n, h, w, c = self.shape_of(x)
        return self.op(fb.BuiltinOperator.PAD, [x, pads], [n, h + top + bottom, w + left + right, c], name,
                       fb.BuiltinOptions.PadOptions, fb.PadOptionsT())

    def conv2d_nhwc(self, x: int, w_oihw: np.ndarray, bias: np.ndarray | None, stride: tuple[int, int],
                    dilation: tuple[int, int] = (1, 1), groups: int = 1, act: str = "NONE", name: str = "conv") -> int:
        """VALID convolution on an NHWC tensor (pad first with ``pad_nhwc``); weights in ONNX/torch OIHW order."""
        n, h, w, c = self.shape_of(x)
        o, i_per_g, kh, kw = w_oihw.shape
        bias = np.zeros(o, np.float32) if bias is None else bias
        oh = (h - dilation[0] * (kh - 1) - 1) // stride[0] + 1
        ow = (w - dilation[1] * (kw - 1) - 1) // stride[1] + 1
        b = self.const(f"{name}/b", bias.astype(np.float32))
        if groups == 1:
            wt = self.const(f"{name}/w", np.transpose(w_oihw, (0, 2, 3, 1)).astype(np.float32))  # OHWI
            opt = fb.Conv2DOptionsT()
            opt.padding, opt.strideH, opt.strideW = fb.Padding.VALID, stride[0], stride[1]
            opt.dilationHFactor, opt.dilationWFactor = dilation
            opt.fusedActivationFunction = _ACT[act]
            return self.op(fb.BuiltinOperator.CONV_2D, [x, wt, b], [n, oh, ow, o], name,
                           fb.BuiltinOptions.Conv2DOptions, opt)
        if groups == c and i_per_g == 1:
            mult = o // c
            wt = self.const(f"{name}/w", np.transpose(w_oihw, (1, 2, 3, 0)).astype(np.float32))  # 1,H,W,O
            opt = fb.DepthwiseConv2DOptionsT()
            opt.padding, opt.strideH, opt.strideW = fb.Padding.VALID, stride[0], stride[1]
            opt.dilationHFactor, opt.dilationWFactor = dilation
            opt.depthMultiplier = mult
            opt.fusedActivationFunction = _ACT[act]
            return self.op(fb.BuiltinOperator.DEPTHWISE_CONV_2D, [x, wt, b], [n, oh, ow, o], name,
                           fb.BuiltinOptions.DepthwiseConv2DOptions, opt)
        raise NotImplementedError(f"grouped convolution with groups={groups} (only 1 or depthwise)")

    def pool_nhwc(self, x: int, kind: str, kernel: tuple[int, int], stride: tuple[int, int], name: str) -> int:
        n, h, w, c = self.shape_of(x)
        opt = fb.Pool2DOptionsT()
        opt.padding, opt.strideH, opt.strideW = fb.Padding.VALID, stride[0], stride[1]
        opt.filterHeight, opt.filterWidth = kernel
        code = fb.BuiltinOperator.MAX_POOL_2D if kind == "max" else fb.BuiltinOperator.AVERAGE_POOL_2D
        oh, ow = (h - kernel[0]) // stride[0] + 1, (w - kernel[1]) // stride[1] + 1
        return self.op(code, [x], [n, oh, ow, c], name, fb.BuiltinOptions.Pool2DOptions, opt)

    def mean_hw(self, x: int, name: str = "gap") -> int:
        """Global average over H and W of an NHWC tensor, keeping dims -> (N, 1, 1, C)."""
        axes = self.const(f"{name}/axes", np.array([1, 2], dtype=np.int32))
        opt = fb.ReducerOptionsT()
        opt.keepDims = True
        n, _, _, c = self.shape_of(x)
        return self.op(fb.BuiltinOperator.MEAN, [x, axes], [n, 1, 1, c], name, fb.BuiltinOptions.ReducerOptions, opt)

    # -- output --------------------------------------------------------------------------------------------------
    def build(self, outputs: Sequence[int]) -> bytes:
        self.outputs = list(outputs)
        sg = fb.SubGraphT()
        sg.tensors, sg.operators, sg.name = self.tensors, self.ops, "main"
        sg.inputs = np.asarray(self.inputs, dtype=np.int32)
        sg.outputs = np.asarray(self.outputs, dtype=np.int32)
        model = fb.ModelT()
        model.version = 3
        model.description = self.description
        model.subgraphs = [sg]
        model.buffers = self.buffers
        codes = []
        for c in self.opcodes:
            oc = fb.OperatorCodeT()
            oc.builtinCode = c
            oc.deprecatedBuiltinCode = min(c, 127)
            oc.version = 1
            codes.append(oc)
        model.operatorCodes = codes
        sig = fb.SignatureDefT()
        sig.signatureKey = "serving_default"
        sig.subgraphIndex = 0
        sig.inputs = [_tmap(self.tensors[i].name, i) for i in self.inputs]
        sig.outputs = [_tmap(self.tensors[i].name, i) for i in self.outputs]
        model.signatureDefs = [sig]
        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())


def _tmap(name: str, idx: int) -> Any:
    m = fb.TensorMapT()
    m.name, m.tensorIndex = name, idx
    return m


def mlp_to_tflite(layers: Sequence[tuple[np.ndarray, np.ndarray, str]], n_in: int, input_name: str = "x",
                  output_name: str = "y", final: str = "NONE") -> bytes:
    """Dense network: ``layers`` = [(W (out,in), b (out,), "RELU"|"NONE"), ...]; ``final`` in NONE|LOGISTIC|SOFTMAX."""
    tb = TfliteBuilder()
    x = tb.add_input(input_name, [1, n_in])
    for k, (w, b, act) in enumerate(layers):
        x = tb.fully_connected(x, w, b, act, name=f"fc{k}")
    if final == "LOGISTIC":
        x = tb.unary(x, "LOGISTIC", "logistic")
    elif final == "SOFTMAX":
        x = tb.softmax(x)
    tb.tensors[x].name = output_name
    return tb.build([x])


# -- ONNX -> tflite ------------------------------------------------------------------------------------------------
def onnx_to_tflite(model: Any, batch: int = 1) -> bytes:
    """Convert a small fp32 ONNX model (path or ``onnx.ModelProto``) to .tflite bytes (see module docstring)."""
    import onnx
    from onnx import numpy_helper, shape_inference

    m = onnx.load(str(model)) if isinstance(model, (str, Path)) else model
    m = shape_inference.infer_shapes(m)
    g = m.graph
    consts = {i.name: numpy_helper.to_array(i).astype(np.float32) if numpy_helper.to_array(i).dtype.kind == "f"
              else numpy_helper.to_array(i) for i in g.initializer}
    for node in g.node:
        if node.op_type == "Constant":
            consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    tb = TfliteBuilder()
    env: dict[str, tuple[int, str]] = {}  # onnx name -> (tensor index, layout "NHWC" | "plain")
    init_names = set(consts)
    for inp in g.input:
        if inp.name in init_names:
            continue
        dims = [d.dim_value if d.dim_value > 0 else batch for d in inp.type.tensor_type.shape.dim]
        idx = tb.add_input(inp.name, dims)
        if len(dims) == 4:
            env[inp.name] = (tb.transpose(idx, [0, 2, 3, 1], f"{inp.name}/to_nhwc"), "NHWC")
        else:
            env[inp.name] = (idx, "plain")

    def plain(name: str) -> int:
        idx, layout = env[name]
        if layout == "NHWC":
            idx = tb.transpose(idx, [0, 3, 1, 2], f"{name}/to_nchw")
        return idx

    def attrs(node: Any) -> dict[str, Any]:
        return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}

    for k, node in enumerate(g.node):
        op, a, nm = node.op_type, attrs(node), node.output[0] or f"n{k}"
        ins = list(node.input)
        if op == "Constant":
            continue
        if op in ("Identity", "Dropout"):
            env[node.output[0]] = env[ins[0]]
            continue
        if op == "Gemm":
            w = consts[ins[1]] * a.get("alpha", 1.0)
            w = w if a.get("transB", 0) else w.T
            b = consts[ins[2]] * a.get("beta", 1.0) if len(ins) > 2 and ins[2] else None
            if a.get("transA", 0):
                raise NotImplementedError("Gemm with transA")
            out, lay = tb.fully_connected(plain(ins[0]), w, b, name=nm), "plain"
        elif op == "MatMul" and ins[1] in consts:
            out, lay = tb.fully_connected(plain(ins[0]), consts[ins[1]].T, None, name=nm), "plain"
        elif op in ("Add", "Sub", "Mul"):
            kind = {"Add": "ADD", "Sub": "SUB", "Mul": "MUL"}[op]
            xa = [n for n in ins if n not in consts]
            if len(xa) == 2:
                la, lb = env[xa[0]][1], env[xa[1]][1]
                ia, ib = (env[xa[0]][0], env[xa[1]][0]) if la == lb else (plain(xa[0]), plain(xa[1]))
                out, lay = tb.binary(ia, ib, kind, nm), (la if la == lb else "plain")
            else:
                x_name = xa[0]
                c = consts[ins[1] if ins[0] == x_name else ins[0]].astype(np.float32)
                idx, lay = env[x_name]
                if lay == "NHWC" and c.ndim == 4:
                    c = np.transpose(c, (0, 2, 3, 1))
                elif lay == "NHWC" and c.ndim == 3:
                    c = np.transpose(c, (1, 2, 0))
                cst = tb.const(f"{nm}/c", c)
                if op == "Sub" and ins[0] != x_name:  # c - x
                    out = tb.binary(cst, idx, "SUB", nm)
                else:
                    out = tb.binary(idx, cst, kind, nm)
        elif op == "Relu":
            idx, lay = env[ins[0]]
            out = tb.unary(idx, "RELU", nm)
        elif op == "Clip":
            lo = float(consts[ins[1]]) if len(ins) > 1 and ins[1] else a.get("min", -np.inf)
            hi = float(consts[ins[2]]) if len(ins) > 2 and ins[2] else a.get("max", np.inf)
            if (lo, hi) != (0.0, 6.0):
                raise NotImplementedError(f"Clip({lo}, {hi}) (only ReLU6)")
            idx, lay = env[ins[0]]
            out = tb.unary(idx, "RELU6", nm)
        elif op in ("Sigmoid", "Log"):
            idx, lay = env[ins[0]]
            out = tb.unary(idx, "LOGISTIC" if op == "Sigmoid" else "LOG", nm)
        elif op == "Softmax":
            out, lay = tb.softmax(plain(ins[0]), nm), "plain"
        elif op in ("Flatten", "Reshape"):
            x = plain(ins[0])
            shape = [batch, -1] if op == "Flatten" else [int(v) for v in consts[ins[1]]]
            shape = [batch if (s == 0 and j == 0) else s for j, s in enumerate(shape)]
            out, lay = tb.reshape(x, shape, nm), "plain"
            if len(shape) == 4:
                out, lay = tb.transpose(out, [0, 2, 3, 1], f"{nm}/to_nhwc"), "NHWC"
        elif op == "Conv":
            idx, lay = env[ins[0]]
            pads = a.get("pads", [0, 0, 0, 0])
            if any(pads):
                idx = tb.pad_nhwc(idx, pads[0], pads[2], pads[1], pads[3], f"{nm}/pad")
            bias = consts[ins[2]] if len(ins) > 2 and ins[2] else None
            out = tb.conv2d_nhwc(idx, consts[ins[1]], bias, tuple(a.get("strides", [1, 1])),
                                 tuple(a.get("dilations", [1, 1])), a.get("group", 1), name=nm)
        elif op in ("MaxPool", "AveragePool"):
            idx, lay = env[ins[0]]
            pads = a.get("pads", [0, 0, 0, 0])
            if any(pads):
                if op == "AveragePool":
                    raise NotImplementedError("padded AveragePool")
                idx = tb.pad_nhwc(idx, pads[0], pads[2], pads[1], pads[3], f"{nm}/pad")  # zero pad: after ReLU only
            ks = tuple(a["kernel_shape"])
            out = tb.pool_nhwc(idx, "max" if op == "MaxPool" else "avg", ks, tuple(a.get("strides", ks)), nm)
        elif op == "GlobalAveragePool":
            idx, lay = env[ins[0]]
            out = tb.mean_hw(idx, nm)
        elif op == "BatchNormalization":
            idx, lay = env[ins[0]]
            sc, bi, mu, var = (consts[n] for n in ins[1:5])
            mul = sc / np.sqrt(var + a.get("epsilon", 1e-5))
            add = bi - mu * mul
            if lay != "NHWC":
                raise NotImplementedError("BatchNormalization on a non-image tensor")
            out = tb.binary(tb.binary(idx, tb.const(f"{nm}/mul", mul), "MUL", f"{nm}/m"),
                            tb.const(f"{nm}/add", add), "ADD", nm)
        else:
            raise NotImplementedError(f"ONNX op '{op}' is not supported by onnx_to_tflite")
        env[node.output[0]] = (out, lay)

    outs = []
    for o in g.output:
        idx = plain(o.name)
        tb.tensors[idx].name = o.name
        outs.append(idx)
    return tb.build(outs)


def run_tflite(tflite: bytes | Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Run .tflite bytes or file with ai_edge_litert's Interpreter (resizing the batch); outputs in graph order."""
    from ai_edge_litert.interpreter import Interpreter

    content = Path(tflite).read_bytes() if isinstance(tflite, Path) else tflite
    it = Interpreter(model_content=content)
    details = it.get_input_details()
    for d in details:
        arr = feeds[d["name"]] if d["name"] in feeds else list(feeds.values())[details.index(d)]
        if tuple(d["shape"]) != arr.shape:
            it.resize_tensor_input(d["index"], list(arr.shape))
    it.allocate_tensors()
    for d in it.get_input_details():
        arr = feeds[d["name"]] if d["name"] in feeds else list(feeds.values())[0]
        it.set_tensor(d["index"], arr.astype(np.float32))
    it.invoke()
    return [it.get_tensor(d["index"]).copy() for d in it.get_output_details()]


def verify_against_onnx(tflite: bytes | Path, onnx_path: Path, feeds: dict[str, np.ndarray]) -> float:
    """Max |tflite - onnxruntime| over all outputs for ``feeds`` (batch run one row at a time for LiteRT)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    ref = sess.run(None, feeds)
    n = next(iter(feeds.values())).shape[0]
    worst = 0.0
    for i in range(n):
        got = run_tflite(tflite, {k: v[i:i + 1] for k, v in feeds.items()})
        for r, gv in zip(ref, got):
            worst = max(worst, float(np.max(np.abs(r[i:i + 1] - gv.reshape(r[i:i + 1].shape)))))
    return worst

"""The decoder rewritten for onnxruntime's NCHWc kernels: same audio, and the layout really used."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

from engine.conv2d_layout import nchwc_decoder
from engine.voice_models import PiperAcoustic, make_session

# "Hello there, this is a test" in espeak phonemes, as ids (any valid ids do).
IDS = [1, 0] + [x for i in [20, 59, 24, 120, 27, 100, 3, 41, 120, 61, 30, 8, 3, 41, 74, 31, 3, 74, 38] * 2
                for x in (i, 0)] + [2]


def snr_db(reference: np.ndarray, other: np.ndarray) -> float:
    error = other - reference
    return 10 * np.log10(np.sum(reference ** 2) / max(np.sum(error ** 2), 1e-30))


def test_the_rewritten_decoder_gives_the_same_audio(joe_voice):
    original = (joe_voice.path / "decoder.onnx").read_bytes()
    rewritten = nchwc_decoder(original)
    assert rewritten is not None
    z = PiperAcoustic(joe_voice.path, joe_voice.manifest).run(IDS, 1.0, 0.667, 0.8)
    feed = {"z": z[np.newaxis]}
    before = make_session(original, 1).run(None, feed)[0].reshape(-1)
    after = make_session(rewritten, 1).run(None, feed)[0].reshape(-1)
    assert after.shape == before.shape == (z.shape[1] * joe_voice.manifest.hop_length,)
    assert snr_db(before, after) > 100


def test_the_rewritten_decoder_runs_in_nchwc_without_layout_changes_inside_stages(joe_voice, tmp_path):
    """What the rewrite is for: every convolution in NCHWc, and a layout change only around the
    three ConvTransposes and the ends (before: one around each of 15 LeakyRelus and 21 Adds)."""
    rewritten = nchwc_decoder((joe_voice.path / "decoder.onnx").read_bytes())
    options = onnxruntime.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    options.log_severity_level = 3
    onnxruntime.InferenceSession(rewritten, options, providers=["CPUExecutionProvider"])
    nodes = onnx.load(tmp_path / "optimized.onnx").graph.node
    plain_convs = [node for node in nodes if node.op_type in ("Conv", "FusedConv") and node.domain != "com.microsoft.nchwc"]
    reorders = [node for node in nodes if node.op_type in ("ReorderInput", "ReorderOutput")]
    assert not plain_convs, [node.name for node in plain_convs]
    assert len(reorders) <= 8, len(reorders)


def conv_graph(extra_op: str | None = None, shared_weight: bool = False, channel_bias: bool = False) -> bytes:
    weight = numpy_helper.from_array(np.ones((4, 4, 3), np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1]),
             helper.make_node("Conv", ["y", "w" if shared_weight else "w2"], ["z"], pads=[1, 1])]
    initializers = [weight, numpy_helper.from_array(np.ones((4, 4, 3), np.float32), "w2")]
    if channel_bias:     # a [C, 1] constant broadcasts along time in 3-D, along the wrong axis in 4-D
        initializers.append(numpy_helper.from_array(np.ones((4, 1), np.float32), "bias"))
        nodes.insert(1, helper.make_node("Add", ["y", "bias"], ["y_biased"]))
        nodes[2].input[0] = "y_biased"
    if extra_op == "Pad":
        initializers.append(numpy_helper.from_array(np.array([0, 0, 1, 0, 0, 1], np.int64), "pads"))
        nodes.append(helper.make_node("Pad", ["z", "pads"], ["out"]))
    else:
        nodes.append(helper.make_node("Tanh", ["z"], ["out"]))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, None])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 4, None])], initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def test_a_graph_the_rewrite_does_not_know_is_left_alone():
    assert nchwc_decoder(conv_graph()) is not None
    assert nchwc_decoder(conv_graph(extra_op="Pad")) is None
    assert nchwc_decoder(conv_graph(shared_weight=True)) is None
    assert nchwc_decoder(conv_graph(channel_bias=True)) is None


def test_a_small_graph_with_a_squeezed_output_gives_the_same_values():
    model = conv_graph()
    x = np.random.default_rng(1).standard_normal((1, 4, 50)).astype(np.float32)
    before = make_session(model, 1).run(None, {"x": x})[0]
    after = make_session(nchwc_decoder(model), 1).run(None, {"x": x})[0]
    assert after.shape == before.shape
    assert np.abs(after - before).max() < 1e-5

"""Cut a Piper VITS ONNX graph into an acoustic part (text -> latent z) and a decoder part (z -> audio).

Why: the decoder (HiFi-GAN) is deterministic and convolutional, so it can run in its own process
and decode z in small chunks while the acoustic part works on the next clause.

The cut is found structurally, never by the auto-generated tensor name: it is the earliest tensor
that (a) lies downstream of every random op (so the decoder is deterministic) and (b) is a
sufficient cut (the output can be computed from it and the weights alone), and that
feeds a Conv (the decoder's conv_pre).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import onnx
from onnx import shape_inference

from models.piper_layout import DURATIONS_OUTPUT_NAME, LATENT_INPUT_NAME, PRIOR_OUTPUT_NAMES

RANDOM_OPS = frozenset({"RandomNormalLike", "RandomNormal", "RandomUniformLike", "RandomUniform", "Multinomial"})


class SplitError(RuntimeError):
    """The graph does not have the shape of a Piper VITS model."""


def _producers(graph: onnx.GraphProto) -> dict[str, onnx.NodeProto]:
    return {out: node for node in graph.node for out in node.output if out}


def _consumers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            if name:
                consumers[name].append(node)
    return consumers


def _descendants(start: set[str], consumers: dict[str, list[onnx.NodeProto]]) -> set[str]:
    """Every tensor computed from any tensor in `start` (including `start`)."""
    seen = set(start)
    stack = list(start)
    while stack:
        tensor = stack.pop()
        for node in consumers.get(tensor, ()):
            for out in node.output:
                if out and out not in seen:
                    seen.add(out)
                    stack.append(out)
    return seen


def _computable_from(graph: onnx.GraphProto, cut: str, output: str) -> bool:
    """True when `output` can be computed from `cut` and the weights alone (no other graph input)."""
    available = {init.name for init in graph.initializer} | {"", cut}
    for node in graph.node:  # ONNX graphs are stored in topological order
        if all(name in available for name in node.input):
            available.update(node.output)
    return output in available


def find_latent_tensor(model: onnx.ModelProto) -> str:
    """Name of the decoder's latent input z, found from graph structure."""
    graph = model.graph
    if len(graph.output) != 1:
        raise SplitError(f"expected one graph output, found {len(graph.output)}")
    output = graph.output[0].name
    consumers = _consumers(graph)
    random_outputs = [out for node in graph.node if node.op_type in RANDOM_OPS for out in node.output]
    if not random_outputs:
        raise SplitError("no random op found: not a Piper VITS graph")
    after_all_random = set.intersection(*(_descendants({name}, consumers) for name in random_outputs))
    # Walk nodes in graph (topological) order; the first qualifying tensor is the earliest cut.
    for node in graph.node:
        for tensor in node.output:
            if tensor not in after_all_random or tensor == output:
                continue
            if not any(c.op_type == "Conv" for c in consumers.get(tensor, ())):
                continue
            if _computable_from(graph, tensor, output):
                return tensor
    raise SplitError("no tensor after the random ops is a sufficient cut for the output")


def split_piper_model(source: Path, acoustic_path: Path, decoder_path: Path) -> str:
    """Write acoustic.onnx (input, input_lengths, scales -> z) and decoder.onnx (z -> output).

    Returns the original name of the latent tensor (for the manifest)."""
    model = onnx.load(str(source))
    latent = find_latent_tensor(model)
    inferred = shape_inference.infer_shapes(model)
    extractor = onnx.utils.Extractor(inferred)
    input_names = [i.name for i in model.graph.input]
    output_name = model.graph.output[0].name

    acoustic = extractor.extract_model(input_names, [latent])
    _rename_tensor(acoustic.graph, latent, LATENT_INPUT_NAME)
    decoder = extractor.extract_model([latent], [output_name])
    _rename_tensor(decoder.graph, latent, LATENT_INPUT_NAME)
    for part in (acoustic, decoder):
        onnx.checker.check_model(part)
    onnx.save(acoustic, str(acoustic_path))
    onnx.save(decoder, str(decoder_path))
    return latent


def find_flow_inputs(model: onnx.ModelProto) -> tuple[str, str]:
    """(z_p, y_mask), found from structure: z_p is the first Add after the last random op (the prior
    mean plus scaled noise); y_mask is the one-channel tensor, not computed from z_p, that together
    with z_p suffices to compute z."""
    graph = shape_inference.infer_shapes(model).graph
    consumers = _consumers(graph)
    random_nodes = [node for node in graph.node if node.op_type in RANDOM_OPS]
    if not random_nodes:
        raise SplitError("no random op found: not a Piper VITS graph")
    after_noise = _descendants(set(random_nodes[-1].output), consumers)
    z_p = next((out for node in graph.node if node.op_type == "Add" for out in node.output if out in after_noise), None)
    if z_p is None:
        raise SplitError("no Add after the last random op: not a Piper VITS graph")
    from_z_p = _descendants({z_p}, consumers)
    one_channel = [info.name for info in graph.value_info if info.name not in from_z_p
                   and len(info.type.tensor_type.shape.dim) == 3 and info.type.tensor_type.shape.dim[1].dim_value == 1]
    output = graph.output[0].name
    for mask in reversed(one_channel):            # the mask nearest the flow first
        if _computable_from_all(graph, {z_p, mask}, output):
            return z_p, mask
    raise SplitError("no one-channel mask makes z computable from z_p: not a Piper VITS graph")


def _computable_from_all(graph: onnx.GraphProto, cut: set[str], output: str) -> bool:
    available = {init.name for init in graph.initializer} | {""} | cut
    for node in graph.node:
        if all(name in available for name in node.input):
            available.update(node.output)
    return output in available


def find_durations(model: onnx.ModelProto, y_mask: str) -> str:
    """The rounded per-phoneme durations (VITS's w_ceil), found from structure: the output of the one
    Ceil op the frame mask is computed from."""
    producers = _producers(model.graph)
    upstream, stack = set(), [y_mask]      # every tensor y_mask is computed from (as _descendants, backwards)
    while stack:
        tensor = stack.pop()
        if tensor in upstream:
            continue
        upstream.add(tensor)
        node = producers.get(tensor)
        if node is not None:
            stack.extend(name for name in node.input if name)
    ceils = [node.output[0] for node in model.graph.node if node.op_type == "Ceil" and node.output[0] in upstream]
    if len(ceils) != 1:
        raise SplitError(f"expected one Ceil (duration rounding) before the frame mask, found {len(ceils)}")
    return ceils[0]


def split_piper_acoustic(acoustic_path: Path, prior_path: Path, flow_path: Path) -> None:
    """Cut acoustic.onnx again, before the flow: prior.onnx (ids -> z_p, y_mask, durations; encoder,
    duration predictor, both random ops) and flow.onnx (z_p, y_mask -> z). The flow is convolutional
    along frames, so it can run in chunks with context and first frames reach the vocoder sooner.
    The durations say which frames of z_p belong to which phoneme id (the leading silence is BOS's)."""
    model = onnx.load(str(acoustic_path))
    z_p, y_mask = find_flow_inputs(model)
    durations = find_durations(model, y_mask)
    extractor = onnx.utils.Extractor(shape_inference.infer_shapes(model))
    prior = extractor.extract_model([i.name for i in model.graph.input], [z_p, y_mask, durations])
    flow = extractor.extract_model([z_p, y_mask], [LATENT_INPUT_NAME])
    _rename_tensor(prior.graph, durations, DURATIONS_OUTPUT_NAME)
    for part in (prior, flow):
        for old, new in zip((z_p, y_mask), PRIOR_OUTPUT_NAMES):
            _rename_tensor(part.graph, old, new)
        onnx.checker.check_model(part)
    onnx.save(prior, str(prior_path))
    onnx.save(flow, str(flow_path))


def _rename_tensor(graph: onnx.GraphProto, old: str, new: str) -> None:
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [new if name == old else name for name in node.output]
    for value in list(graph.input) + list(graph.output) + list(graph.value_info):
        if value.name == old:
            value.name = new

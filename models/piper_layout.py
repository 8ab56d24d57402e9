"""What a piper-split voice directory holds: shared by the installer that writes it and the workers
that load it (kept apart from models/split.py, which imports onnx: workers must start fast)."""

PIPER_FILES = ("prior.onnx", "flow.onnx", "decoder.onnx")
LATENT_INPUT_NAME = "z"                   # decoder.onnx's input, flow.onnx's output: latent z [1,192,T]
PRIOR_OUTPUT_NAMES = ("z_p", "y_mask")   # the flow's inputs: prior sample [1,192,T] and frame mask [1,1,T]
DURATIONS_OUTPUT_NAME = "durations"       # prior.onnx: frames per phoneme id [1,1,P], where each id's frames lie in z_p
# Bumped when the split's outputs change; an installed voice of another layout is rebuilt.
# 2: prior.onnx also outputs the per-phoneme durations.
PIPER_SPLIT_LAYOUT = "2"

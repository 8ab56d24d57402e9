"""Run the original TFLite mel models (the reference for the converted ONNX ones).

Runs ONLY inside the converter venv (it imports TensorFlow; the daemon never does):
    converter-python models/tflite_reference.py ASSET_DIR INPUT.npz OUTPUT.npz
INPUT.npz holds `ids` (int32 [n]) and/or `mel` (float32 [frames, 80]); OUTPUT.npz gets, for ids,
`mel` (after postnet), `durations`, `f0` and `energy` from FastSpeech2, and for mel, `audio` and `subbands` (the
MB-MelGAN output before its int8 quantisation and PQMF synthesis) from MB-MelGAN.
Standalone on purpose: no ttsd imports, so the converter venv needs nothing of ours.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

SUBBAND_TENSOR_SUFFIX = "activation_20/Tanh"   # MB-MelGAN's last activation, before QUANTIZE and PQMF


def run_fastspeech2(path: str, ids: np.ndarray) -> dict:
    interpreter = tf.lite.Interpreter(model_path=path)
    inputs = interpreter.get_input_details()
    outputs = interpreter.get_output_details()
    batch = ids.reshape(1, -1).astype(np.int32)
    interpreter.resize_tensor_input(inputs[0]["index"], batch.shape)
    interpreter.allocate_tensors()
    values = [batch, np.zeros(1, np.int32), np.ones(1, np.float32), np.ones(1, np.float32), np.ones(1, np.float32)]
    for detail, value in zip(inputs, values):
        interpreter.set_tensor(detail["index"], value)
    interpreter.invoke()
    return {"mel": interpreter.get_tensor(outputs[1]["index"])[0],
            "durations": interpreter.get_tensor(outputs[2]["index"])[0],
            "f0": interpreter.get_tensor(outputs[3]["index"])[0],
            "energy": interpreter.get_tensor(outputs[4]["index"])[0]}


def run_melgan(path: str, mel: np.ndarray) -> dict:
    interpreter = tf.lite.Interpreter(model_path=path, experimental_preserve_all_tensors=True)
    inputs = interpreter.get_input_details()
    batch = mel[np.newaxis].astype(np.float32)
    interpreter.resize_tensor_input(inputs[0]["index"], batch.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(inputs[0]["index"], batch)
    interpreter.invoke()
    audio = interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).reshape(-1)
    names = {detail["name"]: detail["index"] for detail in interpreter.get_tensor_details()}
    subband_name = next(name for name in names if name.endswith(SUBBAND_TENSOR_SUFFIX))
    return {"audio": audio, "subbands": interpreter.get_tensor(names[subband_name])[0]}


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    asset_dir, input_path, output_path = argv[1:]
    given = np.load(input_path)
    result = {}
    if "ids" in given:
        result.update(run_fastspeech2(os.path.join(asset_dir, "fastspeech2_quan.tflite"), given["ids"]))
    if "mel" in given:
        result.update(run_melgan(os.path.join(asset_dir, "mb_melgan.tflite"), given["mel"]))
    np.savez(output_path, **result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""Make the model files of tests/models/ with the frameworks themselves: PyTorch, ONNX (exported by PyTorch),
Keras 3 and LiteRT (converted by TensorFlow), each trained briefly on a dataset that ships in datasets/.

Not run by CI: it needs torch, onnx, tensorflow, tf_keras and keras (the harness installs no TensorFlow). Run it
with a Python that has them, from the repository root:

    python tools/make_model_files.py [--out tests/models]

It writes the files, and ``versions.json`` naming every framework version it used. Training is seeded; the
frameworks do not promise the same bits on another machine or version, so a remade file is a new file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from harness import datasets  # noqa: E402
from harness.suites.studies import imu_data  # noqa: E402


def beijing_windows(limit: int) -> tuple[np.ndarray, np.ndarray]:
    task = datasets.ForecastTask.from_manifest(datasets.load("beijing_pm"))
    w = task.windows("train", limit=limit, spacing="even")
    return w.X.astype(np.float32), w.y.astype(np.float32).reshape(len(w.X), -1)


def electricity_windows(limit: int) -> tuple[np.ndarray, np.ndarray]:
    task = datasets.ForecastTask.from_manifest(datasets.load("electricity_hourly"))
    w = task.windows("train", limit=limit, spacing="even")
    return w.X.astype(np.float32), w.y.astype(np.float32).reshape(len(w.X), -1)


def make_torch(out: Path) -> dict[str, str]:
    import torch
    from torch import nn

    torch.manual_seed(0)

    class WeatherLstm(nn.Module):
        """7 weather channels over 168 hours -> next hour's temperature; two stacked LSTM layers."""

        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(7, 16, num_layers=2, batch_first=True)
            self.head = nn.Linear(16, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y, _ = self.lstm(x)
            return self.head(y[:, -1, :])

    X, y = beijing_windows(1200)
    model = WeatherLstm()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for epoch in range(12):
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 64):
            idx = perm[i : i + 64]
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
        print(f"torch weather LSTM epoch {epoch}: mse {loss.item():.5f}")
    model.eval()
    torch.save(model.state_dict(), out / "weather_lstm2x16.pt")
    example = xt[:1]
    torch.onnx.export(model, (example,), str(out / "weather_lstm2x16.onnx"), input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch", 1: "steps"}, "y": {0: "batch"}}, opset_version=17,
                      dynamo=False)  # fmt: skip

    data = imu_data()
    mlp = nn.Sequential(nn.Linear(180, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 4), nn.Softmax(-1))
    opt = torch.optim.Adam(mlp.parameters(), lr=3e-3)
    xi, yi = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train.astype(np.int64))
    for _epoch in range(60):
        perm = torch.randperm(len(xi))
        for i in range(0, len(xi), 32):
            idx = perm[i : i + 32]
            opt.zero_grad()
            # the Softmax is the exported model's last operator; training uses the log of it
            loss = nn.functional.nll_loss(torch.log(mlp(xi[idx]) + 1e-9), yi[idx])
            loss.backward()
            opt.step()
    mlp.eval()
    with torch.no_grad():
        acc = (mlp(torch.from_numpy(data.x_val)).argmax(-1).numpy() == data.y_val).mean()
    print(f"torch IMU MLP: validation accuracy {acc:.3f}")
    torch.onnx.export(mlp, (xi[:1],), str(out / "imu_mlp.onnx"), input_names=["x"], output_names=["p"],
                      dynamic_axes={"x": {0: "batch"}, "p": {0: "batch"}}, opset_version=17, dynamo=False)  # fmt: skip
    import onnx

    return {"torch": torch.__version__, "onnx": onnx.__version__}


def make_keras_and_tflite(out: Path) -> dict[str, str]:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    X, y = electricity_windows(4000)
    model = keras.Sequential([keras.Input((24, 1), batch_size=1), keras.layers.LSTM(16), keras.layers.Dense(1)])
    train = keras.Sequential([keras.Input((24, 1)), *model.layers])  # the same layers, any batch size for fit
    train.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    train.fit(X, y, batch_size=64, epochs=8, verbose=2)
    model.save(out / "electricity_lstm16.keras")
    # The converter fuses an LSTM into one UNIDIRECTIONAL_SEQUENCE_LSTM operator only for a Keras 2 model (tf_keras);
    # a Keras 3 LSTM becomes a WHILE loop of small operators. The same weights go into a tf_keras copy.
    import tf_keras

    fused = tf_keras.Sequential([tf_keras.Input((24, 1), batch_size=1), tf_keras.layers.LSTM(16),
                                 tf_keras.layers.Dense(1)])  # fmt: skip
    fused.set_weights(model.get_weights())
    converter = tf.lite.TFLiteConverter.from_keras_model(fused)
    (out / "electricity_lstm16.tflite").write_bytes(converter.convert())

    def representative_windows():
        for window in X[::20]:
            yield [window[np.newaxis]]

    # the same LSTM in LiteRT's integer form: int8 weights and activations, int16 cell (its 8x8_16 LSTM)
    converter = tf.lite.TFLiteConverter.from_keras_model(fused)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_windows
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    (out / "electricity_lstm16_int8.tflite").write_bytes(converter.convert())

    data = imu_data()
    mlp = keras.Sequential([
        keras.Input((180,)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(4),
    ])  # fmt: skip
    mlp.compile(optimizer=keras.optimizers.Adam(3e-3),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])  # fmt: skip
    mlp.fit(data.x_train, data.y_train, batch_size=32, epochs=60, verbose=0)
    print("keras IMU MLP: validation accuracy", mlp.evaluate(data.x_val, data.y_val, verbose=0)[1])

    def representative():
        for row in data.x_train[::4]:
            yield [row[np.newaxis]]

    converter = tf.lite.TFLiteConverter.from_keras_model(mlp)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    (out / "imu_mlp_int8.tflite").write_bytes(converter.convert())
    return {"keras": keras.__version__, "tensorflow": tf.__version__, "tf_keras": tf_keras.__version__}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(REPO / "tests" / "models"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    versions |= make_torch(out)
    versions |= make_keras_and_tflite(out)
    (out / "versions.json").write_text(json.dumps(versions, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    for path in sorted(out.iterdir()):
        print(f"{path.name:28s} {path.stat().st_size:>8,} B")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

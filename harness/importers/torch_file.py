"""PyTorch ``state_dict`` files (``torch.save(module.state_dict(), path)``) of an ``nn.LSTM`` and an ``nn.Linear``
head: the LSTM's keys ``<prefix>weight_ih_l<k>`` etc., the head's ``<name>.weight`` and ``<name>.bias``. Read with
``torch.load(weights_only=True)``; the reference is ``nn.LSTM`` + ``nn.Linear`` rebuilt from the same tensors.

A state dict holds no activations and no forward(): the importer assumes the usual one, ``head(lstm(x)[0][:, -1])``
(batch-first), and says so in the model's description.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from harness.importers.base import ImportedModel, ImportRefused, Reference, need
from harness.models.lstm import LstmModel, from_torch_state_dict

SUFFIXES = (".pt", ".pth")
FORMAT = "torch"

_LSTM_KEY = re.compile(r"^(?P<prefix>.*?)(weight_ih|weight_hh|bias_ih|bias_hh)_l(?P<layer>\d+)(?P<rest>.*)$")


def _state_dict(path: Path) -> dict[str, np.ndarray]:
    torch = need("torch", "torch", "reading PyTorch state_dict files")
    try:
        sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises pickle and zip errors of many kinds
        raise ImportRefused(f"{path}: not a PyTorch state_dict file torch.load can read ({exc})") from exc
    if not isinstance(sd, dict):
        raise ImportRefused(f"{path}: holds a {type(sd).__name__}, not a state_dict; save module.state_dict()")
    return {k: v.detach().cpu().numpy().astype(np.float32) for k, v in sd.items()}


def load(path: Path) -> ImportedModel:
    path = Path(path)
    sd = _state_dict(path)
    prefixes = set()
    for key in sd:
        m = _LSTM_KEY.match(key)
        if m:
            if m["rest"]:
                raise ImportRefused(f"{path.name}: key {key!r}: a bidirectional LSTM (_reverse) has no device kernel")
            prefixes.add(m["prefix"])
        elif "weight_hr_" in key:
            raise ImportRefused(f"{path.name}: key {key!r}: a projected LSTM (proj_size) has no device kernel")
    if len(prefixes) != 1:
        raise ImportRefused(f"{path.name}: {len(prefixes)} LSTM modules ({sorted(prefixes)}); one nn.LSTM is mapped")
    prefix = prefixes.pop()
    n_layers = 1 + max(int(_LSTM_KEY.match(k)["layer"]) for k in sd if _LSTM_KEY.match(k))  # type: ignore[index]
    rest = [k for k in sd if not _LSTM_KEY.match(k)]
    heads = sorted({k.rsplit(".", 1)[0] for k in rest if k.endswith(".weight")})
    if len(heads) != 1 or set(rest) - {f"{heads[0]}.weight", f"{heads[0]}.bias"}:
        raise ImportRefused(f"{path.name}: besides the LSTM the file holds {sorted(rest)}; one nn.Linear head "
                            "(<name>.weight, <name>.bias) is mapped")  # fmt: skip
    head = heads[0]
    w = sd[f"{head}.weight"]
    b = sd.get(f"{head}.bias", np.zeros(w.shape[0], np.float32))
    try:
        model = from_torch_state_dict(sd, n_layers, prefix, dense_weight=w, dense_bias=b)
    except (KeyError, ValueError) as exc:
        raise ImportRefused(f"{path.name}: {exc}") from exc
    lines = [f"LSTM {layer.input_size} -> {layer.hidden_size} ({prefix}*_l{k})" for k, layer in enumerate(model.layers)]
    lines.append(f"Linear {w.shape[1]} -> {w.shape[0]} ({head}), on the last step: head(lstm(x)[0][:, -1])")
    return ImportedModel(path=path, format=FORMAT, model=model, sequence=True, features=model.input_size,
                         steps=None, layers=tuple(lines))  # fmt: skip


def reference(path: Path) -> Reference:
    torch = need("torch", "torch", "running PyTorch state_dict files as the reference")
    imported = load(Path(path))
    model: LstmModel = imported.model  # type: ignore[assignment]
    lstm = torch.nn.LSTM(model.input_size, model.layers[0].hidden_size, num_layers=len(model.layers),
                         batch_first=True)  # fmt: skip
    if len(set(model.hidden_sizes)) != 1:
        raise ImportRefused(f"{path}: layers of different sizes {model.hidden_sizes} are not one nn.LSTM")
    head = torch.nn.Linear(model.dense_w.shape[1], model.dense_w.shape[0])
    with torch.no_grad():
        for k, layer in enumerate(model.layers):
            for name in ("w_ih", "w_hh", "b_ih", "b_hh"):
                torch_name = {"w_ih": "weight_ih", "w_hh": "weight_hh", "b_ih": "bias_ih", "b_hh": "bias_hh"}[name]
                getattr(lstm, f"{torch_name}_l{k}").copy_(torch.from_numpy(getattr(layer, name)))
        head.weight.copy_(torch.from_numpy(model.dense_w))
        head.bias.copy_(torch.from_numpy(model.dense_b))

    def run(X: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            y, _ = lstm(torch.from_numpy(np.asarray(X, dtype=np.float32)))
            return head(y[:, -1]).numpy().astype(np.float64)

    return Reference(name=f"PyTorch {torch.__version__}", run=run)

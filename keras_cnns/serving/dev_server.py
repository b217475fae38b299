"""A development stand-in for TF Serving's REST API, for machines without the model server.

It loads the SavedModels of a model root (`saved_models/`: one folder per model with
numbered versions, as `keras_cnns.export.saved_model` writes them) with
`tf.saved_model.load` and answers the calls `keras_cnns.serving.Client` makes the way TF
Serving documents them: model status, metadata (the signature definitions), and
`:predict` in the row (`instances`) and columnar (`inputs`) formats, `{"b64": ...}` binary
values, errors as `{"error": "..."}`. It is single-process and has no batching,
monitoring or hot reloading: use TF Serving in production (see the README); use this to try
an export and to test clients.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

_ROUTE = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?(?P<rest>/metadata|:predict)?$")


class _Servable:
    def __init__(self, name: str, version: int, path: Path):
        from tensorflow.core.protobuf import saved_model_pb2
        from google.protobuf import json_format

        self.name, self.version, self.path = name, version, path
        self.loaded = tf.saved_model.load(str(path))
        proto = saved_model_pb2.SavedModel()
        proto.ParseFromString((path / "saved_model.pb").read_bytes())
        signatures = {
            key: value for key, value in proto.meta_graphs[0].signature_def.items()
            if not key.startswith("__")
        }
        self.signature_defs = {key: json_format.MessageToDict(value, preserving_proto_field_name=True) for key, value in signatures.items()}

    def metadata(self) -> dict:
        return {
            "model_spec": {"name": self.name, "signature_name": "", "version": str(self.version)},
            "metadata": {"signature_def": {"signature_def": self.signature_defs}},
        }

    def predict(self, body: dict) -> dict:
        signature_name = body.get("signature_name", "serving_default")
        if signature_name not in self.loaded.signatures:
            raise ValueError(
                f"Serving signature name: \"{signature_name}\" not found in signature def; "
                f"available: {sorted(self.loaded.signatures)}"
            )
        function = self.loaded.signatures[signature_name]
        specs = function.structured_input_signature[1]
        if ("instances" in body) == ("inputs" in body):
            raise ValueError("Missing 'inputs' or 'instances' key (exactly one is required)")
        if "instances" in body:
            instances = body["instances"]
            if not isinstance(instances, list) or not instances:
                raise ValueError("'instances' must be a non-empty list")
            if len(specs) == 1 and not (isinstance(instances[0], dict) and set(instances[0]) <= set(specs)
                                        and "b64" not in instances[0]):
                columns = {next(iter(specs)): instances}
            else:
                columns = {key: [row[key] for row in instances] for key in specs}
        else:
            inputs = body["inputs"]
            columns = inputs if isinstance(inputs, dict) else {next(iter(specs)): inputs}
        missing = set(specs) - set(columns)
        if missing:
            raise ValueError(f"Missing input(s): {sorted(missing)}")
        tensors = {key: _to_tensor(columns[key], spec) for key, spec in specs.items()}
        outputs = {key: _to_json(value.numpy()) for key, value in function(**tensors).items()}
        if "instances" in body:
            count = len(next(iter(outputs.values())))
            if len(outputs) == 1:
                return {"predictions": next(iter(outputs.values()))}
            return {"predictions": [{k: v[i] for k, v in outputs.items()} for i in range(count)]}
        return {"outputs": outputs if len(outputs) > 1 else next(iter(outputs.values()))}


def _to_tensor(values: Any, spec: tf.TensorSpec) -> tf.Tensor:
    if spec.dtype == tf.string:
        decoded = [base64.b64decode(v["b64"]) if isinstance(v, dict) else str(v).encode() for v in values]
        return tf.constant(decoded, dtype=tf.string)
    array = np.asarray(values)
    if array.dtype == object:
        raise ValueError(f"Input '{spec.name}' is ragged; every instance must have the same shape")
    dtype = spec.dtype.as_numpy_dtype
    if np.issubdtype(dtype, np.integer) and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            f"Input '{spec.name}' expects {spec.dtype.name} values; received non-integer "
            f"numbers ({array.dtype})"
        )
    if not spec.shape.is_compatible_with(array.shape):
        raise ValueError(
            f"Input '{spec.name}' expects shape {spec.shape.as_list()} (-1/None: any); "
            f"received {list(array.shape)}"
        )
    return tf.constant(array.astype(dtype))


def _to_json(array: np.ndarray) -> list:
    if array.dtype == object:
        return np.vectorize(lambda b: b.decode(errors="replace"), otypes=[object])(array).tolist()
    return array.tolist()


class DevServer:
    """Serve every model under `root` on `http://<host>:<port>` (port 0: a free one).

    Use as a context manager, or `start()` / `stop()`. `url` is the address to give
    `keras_cnns.serving.Client`.
    """

    def __init__(self, root: str | os.PathLike, host: str = "127.0.0.1", port: int = 0):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"`root`: no such folder of exported models: {str(self.root)!r}.")
        self.servables: dict[str, dict[int, _Servable]] = {}
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            versions = {
                int(v.name): _Servable(folder.name, int(v.name), v)
                for v in folder.iterdir()
                if v.name.isdigit() and (v / "saved_model.pb").is_file()
            }
            if versions:
                self.servables[folder.name] = versions
        if not self.servables:
            raise FileNotFoundError(
                f"No exported model under {str(self.root)!r} (expected <name>/<version>/saved_model.pb)."
            )
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def _find(self, name: str, version: str | None) -> _Servable:
        versions = self.servables.get(name)
        if versions is None:
            raise LookupError(f"Servable not found for request: Latest({name})")
        if version is None:
            return versions[max(versions)]
        if int(version) not in versions:
            raise LookupError(f"Servable not found for request: Specific({name}, {version})")
        return versions[int(version)]

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self, method: str) -> None:
                match = _ROUTE.match(self.path)
                if match is None:
                    return self._send(404, {"error": f"Malformed request: {method} {self.path}"})
                try:
                    servable = server._find(match["name"], match["version"])
                except LookupError as err:
                    return self._send(404, {"error": str(err)})
                rest = match["rest"]
                try:
                    if method == "GET" and rest is None:
                        versions = server.servables[match["name"]]
                        shown = [servable.version] if match["version"] else sorted(versions, reverse=True)
                        return self._send(200, {"model_version_status": [
                            {"version": str(v), "state": "AVAILABLE",
                             "status": {"error_code": "OK", "error_message": ""}} for v in shown
                        ]})
                    if method == "GET" and rest == "/metadata":
                        return self._send(200, servable.metadata())
                    if method == "POST" and rest == ":predict":
                        length = int(self.headers.get("Content-Length", 0))
                        try:
                            body = json.loads(self.rfile.read(length))
                        except json.JSONDecodeError as err:
                            return self._send(400, {"error": f"JSON Parse error: {err}"})
                        return self._send(200, servable.predict(body))
                except (ValueError, KeyError, TypeError, tf.errors.OpError) as err:
                    message = err.message if isinstance(err, tf.errors.OpError) else str(err)
                    return self._send(400, {"error": message})
                return self._send(404, {"error": f"Malformed request: {method} {self.path}"})

            def do_GET(self):
                self._route("GET")

            def do_POST(self):
                self._route("POST")

        return Handler

    def start(self) -> "DevServer":
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def serve_forever(self) -> None:
        """Block and serve (the `keras-cnns serve` command)."""
        self._server.serve_forever()

    def __enter__(self) -> "DevServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

"""A client for TF Serving's REST API (https://www.tensorflow.org/tfx/serving/api_rest).

    client = Client("http://localhost:8501", "lenet5")
    client.metadata()                      # GET  /v1/models/lenet5/metadata
    client.predict(images)                 # POST /v1/models/lenet5:predict
    client.predict_encoded([png_bytes])    # the serve_image_bytes signature, {"b64": ...}

It speaks to models exported by `keras_cnns.export.saved_model` (uint8 images in,
`probabilities`, `classes`, `class_names` out) and to any other TF Serving model through
`predict_raw`.
"""

from __future__ import annotations

import base64
import json
import socket
import urllib.error
import urllib.request
from typing import Any, Sequence

import numpy as np

from keras_cnns.serving.images import check_images

REQUEST_FORMATS = ("instances", "inputs")


class ServingError(RuntimeError):
    """TF Serving answered with an error (the message is the server's), or could not be
    reached in time."""

    def __init__(self, message: str, status: int | None = None, url: str | None = None):
        super().__init__(message)
        self.status = status
        self.url = url


class Client:
    """TF Serving over REST.

    Args:
        url: the server's REST address, e.g. `http://localhost:8501`.
        model_name: the model's name in the server's config (the export folder's name).
        version: a version number, or None for the version the server serves by default.
        timeout: seconds to wait for an answer before `ServingError`.
    """

    def __init__(self, url: str, model_name: str, version: int | None = None, timeout: float = 10.0):
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"`url` must start with http:// or https://; received {url!r}.")
        if not isinstance(model_name, str) or not model_name or "/" in model_name:
            raise ValueError(f"`model_name` must be a non-empty name without '/'; received {model_name!r}.")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
            raise ValueError(f"`version` must be a positive integer or None; received {version!r}.")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ValueError(f"`timeout` must be a positive number of seconds; received {timeout!r}.")
        self.url = url.rstrip("/")
        self.model_name = model_name
        self.version = version
        self.timeout = float(timeout)
        self._metadata: dict | None = None

    @property
    def model_url(self) -> str:
        """`<url>/v1/models/<name>[/versions/<version>]`."""
        path = f"{self.url}/v1/models/{self.model_name}"
        return path if self.version is None else f"{path}/versions/{self.version}"

    def _call(self, url: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            url, data=data, method="GET" if body is None else "POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as err:
            raw = err.read().decode(errors="replace")
            try:
                message = json.loads(raw).get("error", raw)
            except json.JSONDecodeError:
                message = raw or err.reason
            raise ServingError(f"TF Serving answered {err.code} for {url}: {message}", err.code, url) from None
        except (socket.timeout, TimeoutError) as err:
            raise ServingError(f"No answer from {url} within {self.timeout:g} s.", None, url) from err
        except urllib.error.URLError as err:
            if isinstance(err.reason, (socket.timeout, TimeoutError)):
                raise ServingError(f"No answer from {url} within {self.timeout:g} s.", None, url) from err
            raise ServingError(f"Cannot reach TF Serving at {url}: {err.reason}.", None, url) from err

    def status(self) -> dict:
        """The model's version states (`GET /v1/models/<name>`)."""
        return self._call(self.model_url)

    def metadata(self) -> dict:
        """The model's signatures with their inputs' and outputs' dtypes and shapes."""
        if self._metadata is None:
            self._metadata = self._call(f"{self.model_url}/metadata")
        return self._metadata

    def predict_raw(
        self, inputs: Any, signature_name: str = "serving_default", request_format: str = "instances"
    ) -> dict:
        """POST `:predict` with `inputs` in the row (`instances`) or columnar (`inputs`)
        format; returns the server's JSON answer."""
        if request_format not in REQUEST_FORMATS:
            raise ValueError(f"Unknown `request_format`: {request_format!r}; accepted: instances, inputs.")
        body = {"signature_name": signature_name, request_format: inputs}
        return self._call(f"{self.model_url}:predict", body)

    def _input_channels(self) -> int | None:
        try:
            signature = self.metadata()["metadata"]["signature_def"]["signature_def"]["serving_default"]
            dims = signature["inputs"]["images"]["tensor_shape"]["dim"]
            channels = int(dims[-1]["size"])
        except (KeyError, IndexError, TypeError, ValueError):
            return None
        return channels if channels > 0 else None

    def predict(self, images: Any, request_format: str = "inputs") -> dict[str, np.ndarray]:
        """Class probabilities and top-k classes for uint8 images `[N, h, w, C]` (or one
        `[h, w, C]` image) of any size, through the `serving_default` signature.

        Returns:
            `{"probabilities": [N, classes] float32, "classes": [N, k] int,
            "class_names": [N, k] str}`.
        """
        array = check_images(images, self._input_channels())
        if request_format == "inputs":
            answer = self.predict_raw({"images": array.tolist()}, request_format="inputs")["outputs"]
            return _as_arrays(answer)
        rows = self.predict_raw([{"images": image.tolist()} for image in array])["predictions"]
        return _as_arrays({key: [row[key] for row in rows] for key in rows[0]})

    def predict_encoded(self, encoded_images: Sequence[bytes]) -> dict[str, np.ndarray]:
        """The same answer for encoded JPEG/PNG/GIF/BMP files (`serve_image_bytes`)."""
        if isinstance(encoded_images, (bytes, bytearray)) or not all(
            isinstance(item, (bytes, bytearray)) for item in encoded_images
        ):
            raise TypeError("`encoded_images` must be a list of bytes objects (the files' contents).")
        instances = [{"b64": base64.b64encode(bytes(item)).decode()} for item in encoded_images]
        rows = self.predict_raw(instances, signature_name="serve_image_bytes")["predictions"]
        return _as_arrays({key: [row[key] for row in rows] for key in rows[0]})


def _as_arrays(outputs: dict) -> dict[str, np.ndarray]:
    converted = {}
    for key, value in outputs.items():
        array = np.asarray(value)
        if key == "probabilities":
            array = array.astype(np.float32)
        converted[key] = array
    return converted

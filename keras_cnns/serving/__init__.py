"""Serving: a TF Serving REST client, and a development stand-in server for trying it."""

from keras_cnns.serving.client import Client, ServingError
from keras_cnns.serving.dev_server import DevServer

__all__ = ["Client", "DevServer", "ServingError"]

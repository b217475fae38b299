"""keras_cnns: classic convolutional networks for Keras 3 / TensorFlow."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

setup(
    name="keras_cnns",
    version="0.1.0",
    description=(
        "LeNet-5, AlexNet, VGG, GoogLeNet/Inception, ResNet and DenseNet for Keras 3, "
        "faithful to their papers, from building to training, tuning and export."
    ),
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["keras_cnns", "keras_cnns.*"]),
    python_requires=">=3.10",
    install_requires=[
        "keras>=3.10",
        "numpy",
        "tensorflow-datasets",
        # tensorflow-datasets imports it when preparing a data set but does not declare it.
        "importlib_resources",
        "keras-tuner",
        # TensorFlow 2.21 no longer installs it; the TensorBoard callback and KerasTuner need it.
        "tensorboard",
        "matplotlib",
        # KerasTuner's Bayesian optimization tuner needs it and does not declare it.
        "scikit-learn",
        # `.safetensors` checkpoints (`weights=` by path): read with its numpy API, no torch.
        "safetensors",
        # Architecture diagrams (keras.utils.plot_model); Graphviz's `dot` comes from apt.
        "pydot",
        # The LiteRT interpreter that runs and checks the .tflite exports.
        "ai-edge-litert",
        # TF Serving's warm-up requests (PredictionLog protos) also need
        # `pip install --no-deps tensorflow-serving-api`: it declares `tensorflow`, which
        # would install a second TensorFlow beside tensorflow-cpu (scripts/setup.sh does it).
    ],
    extras_require={
        "cpu": ["tensorflow-cpu>=2.16"],
        "gpu": ["tensorflow[and-cuda]>=2.16"],
        "jax": ["jax"],
        # `.pth` / `.pt` checkpoints (`weights=` by path): read with torch.load(weights_only=True).
        "torch": ["torch"],
        "test": [
            "pytest", "pytest-xdist>=3.2", "jax", "h5py", "nbclient", "nbformat", "ipykernel",
            # torchvision's model definitions are the references of the checkpoint tests
            # (2.13.0 on PyPI is the CPU wheel; torchvision 0.28.0 is its release).
            "torch==2.13.0", "torchvision==0.28.0",
        ],
        # benchmarks/: plain PyTorch references (2.13.0 on PyPI is the CPU wheel).
        "bench": ["torch==2.13.0", "torchvision==0.28.0", "jax"],
    },
    entry_points={"console_scripts": ["keras-cnns=keras_cnns.cli:main"]},
)

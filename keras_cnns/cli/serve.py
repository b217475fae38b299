"""`keras-cnns serve`: the development stand-in for TF Serving's REST API."""

from __future__ import annotations


def add_serve(subparsers) -> None:
    """`keras-cnns serve [ROOT] [--host H] [--port P]`."""
    parser = subparsers.add_parser(
        "serve",
        help="Development stand-in for TF Serving's REST API over a folder of exported models.",
        description="Answers /v1/models/<name>[:predict|/metadata] like TF Serving does, with "
        "tf.saved_model.load. For trying exports and clients; use TF Serving in production.",
    )
    parser.add_argument("root", nargs="?", default="saved_models")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8501)
    parser.set_defaults(func=run_serve)


def run_serve(args) -> int:
    from keras_cnns.serving import DevServer

    server = DevServer(args.root, host=args.host, port=args.port)
    print(f"serving {', '.join(server.servables)} at {server.url} (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0

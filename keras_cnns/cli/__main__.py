"""`python -m keras_cnns.cli ...` is `keras-cnns ...`."""

import sys

from keras_cnns.cli import main

sys.exit(main())

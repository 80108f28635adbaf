"""The ``lucidnn`` command-line interface (``python -m lucidnn``)."""
